/**
 * Tar streams for `ctr cp` with `-`: a container path written as an archive
 * (`ctr cp CONTAINER:SRC -`), and an archive extracted into a container directory
 * (`ctr cp - CONTAINER:DEST`), as Docker's `docker cp` does over its archive API.
 *
 * Extraction goes through the layer extractor (`image/unpack.ts`) and its safety rules — no
 * entry leaves the extraction root, no symlink or file planted by the archive is followed,
 * hard links stay inside — into an empty staging directory beside the container's state;
 * the staged entries are then merged into the destination with the same path rules as a
 * plain `cp` (the destination resolved inside the container's root). The archive may be
 * plain, gzip or zstd. As the extractor turns `.wh.NAME` entries into overlay whiteouts,
 * such names are not carried over as files.
 *
 * Archive names follow Docker: `SRC`'s base name for a file or a directory (`etc/`,
 * `etc/passwd`, …), and `./…` for `SRC/.` (the directory's contents).
 *
 * @module
 */
import { libc, type Statx } from "../ffi/libc.ts";
import { AT, S } from "../ffi/constants.ts";
import { decompressStream } from "../image/compression.ts";
import type { TarHeader } from "../image/tar/header.ts";
import { TarWriter } from "../image/tar/writer.ts";
import { LayerExtractor } from "../image/unpack.ts";
import { copyTree } from "./copy_tree.ts";

/**
 * Writes `hostPath` (a file, symlink or directory tree, not followed) as a tar stream whose
 * entries are named under `name`.
 *
 * @example
 * ```ts
 * await writeArchive("/proc/123/root/etc", "etc", Deno.stdout.writable);
 * ```
 */
export async function writeArchive(
  hostPath: string,
  name: string,
  out: WritableStream<Uint8Array>,
): Promise<void> {
  const tar = new TarWriter();
  const piped = tar.readable.pipeTo(out);
  const links = new Map<string, string>();
  const header = (rel: string, st: Statx, type: TarHeader["type"]): TarHeader => ({
    name: rel,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: type === "file" ? st.size : 0,
    mtime: st.mtime.sec,
  });
  const add = async (full: string, rel: string): Promise<void> => {
    const st = libc.statx(AT.FDCWD, full);
    if (!st) return; // vanished
    const type = st.mode & S.IFMT;
    if (type === S.IFDIR) {
      await tar.add(header(`${rel}/`, st, "directory"));
      const names = [...Deno.readDirSync(full)].map((e) => e.name).sort();
      for (const n of names) await add(`${full}/${n}`, `${rel}/${n}`);
    } else if (type === S.IFREG) {
      const key = `${st.devMajor}:${st.devMinor}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        await tar.add({ ...header(rel, st, "link"), linkname: first });
        return;
      }
      if (st.nlink > 1) links.set(key, rel);
      using f = await Deno.open(full, { read: true });
      await tar.add(header(rel, st, "file"), f.readable);
    } else if (type === S.IFLNK) {
      await tar.add({ ...header(rel, st, "symlink"), linkname: Deno.readLinkSync(full) });
    } else if (type === S.IFCHR || type === S.IFBLK) {
      await tar.add({
        ...header(rel, st, type === S.IFCHR ? "char" : "block"),
        devmajor: st.rdevMajor,
        devminor: st.rdevMinor,
      });
    } else if (type === S.IFIFO) {
      await tar.add(header(rel, st, "fifo"));
    }
    // Sockets are left out (as Docker).
  };
  try {
    await add(hostPath, name);
    await tar.close();
  } catch (e) {
    await tar.abort(e).catch(() => {});
    await piped.catch(() => {});
    throw e;
  }
  await piped;
}

/** Options of {@linkcode extractArchive}. */
export interface ExtractArchiveOptions {
  /** Keep the archive's owners (`cp -a`); otherwise everything belongs to root (0:0). */
  archive: boolean;
  /** An empty-or-missing directory on the host to stage the entries in (removed afterwards). */
  staging: string;
}

function chownStaged(path: string): void {
  libc.lchown(path, 0, 0);
  const st = libc.statx(AT.FDCWD, path);
  if (st && (st.mode & S.IFMT) === S.IFDIR) {
    for (const e of Deno.readDirSync(path)) chownStaged(`${path}/${e.name}`);
  }
}

/**
 * Extracts a tar stream (plain, gzip or zstd) into `dest`, an existing directory (a host
 * path already resolved inside the container's root), merging with what is there. The
 * destination directory itself keeps its own owner, mode and times.
 *
 * @example
 * ```ts
 * await extractArchive(Deno.stdin.readable, "/proc/123/root/tmp", { archive: false, staging });
 * ```
 */
export async function extractArchive(
  source: ReadableStream<Uint8Array>,
  dest: string,
  options: ExtractArchiveOptions,
): Promise<void> {
  const { stream } = await decompressStream(source);
  Deno.mkdirSync(options.staging, { recursive: true, mode: 0o700 });
  try {
    const x = new LayerExtractor(options.staging, { devices: "create" });
    try {
      for await (const chunk of stream) x.push(chunk);
      x.finish();
    } finally {
      x.close();
    }
    const entries = [...Deno.readDirSync(options.staging)].map((e) => e.name).sort();
    for (const name of entries) {
      const staged = `${options.staging}/${name}`;
      if (!options.archive) chownStaged(staged);
      await copyTree(staged, `${dest}/${name}`);
    }
  } finally {
    await Deno.remove(options.staging, { recursive: true }).catch(() => {});
  }
}
