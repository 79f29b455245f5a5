/**
 * Writing layers: a directory tree — typically the overlayfs upper dir of a build step —
 * becomes an OCI layer tar, deterministically, and optionally a compressed blob in the
 * content store.
 *
 * Determinism: entries depth-first with names sorted bytewise at each level (as GNU tar
 * `--sort=name`), numeric owners only (no uname/gname unless asked), mtimes in whole
 * seconds and clamped to `sourceDateEpoch` when given, PAX records sorted, no atime/ctime.
 * The same tree always gives the same bytes, hence the same diff ID.
 *
 * overlayfs form → OCI form (the reverse of `unpack.ts`):
 * - a character device 0/0 is a whiteout: written as an empty regular file `.wh.<name>`;
 * - a directory with `trusted.overlay.opaque=y` (or `user.overlay.opaque=y`) is written,
 *   then `<dir>/.wh..wh..opq` right after it, then its children;
 * - `*.overlay.*` xattrs are never copied into the layer; a `redirect` xattr (renamed
 *   directories with redirect_dir=on) cannot be expressed and is refused.
 *
 * Hard links inside the tree: the first name (in walk order) is a regular entry with the
 * data, every further name a typeflag-1 entry pointing at it, after it — so the layer is
 * self-contained and extracts with plain `tar -x` (case 08).
 *
 * @module
 */
import { libc, type Statx } from "../ffi/libc.ts";
import { AT, S } from "../ffi/constants.ts";
import { SyscallError } from "../ffi/errno.ts";
import type { TarHeader } from "./tar/header.ts";
import { TarWriter } from "./tar/writer.ts";
import { type Compression, compressStream } from "./compression.ts";
import { Hasher } from "./digest.ts";
import type { ContentStore } from "./content_store.ts";
import { type Descriptor, MediaType } from "./oci.ts";

/** Options for {@linkcode writeLayerFromDir}. */
export interface LayerWriteOptions {
  /** Clamp every mtime to at most this many seconds since the epoch (SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /** Keep sub-second mtimes as PAX records (default false: whole seconds). */
  subsecondMtime?: boolean;
  /** Write user and group names looked up from /etc of the host (default false: numeric only). */
  ownerNames?: boolean;
  /** Translate overlayfs whiteouts and opaque directories (default true). */
  overlay?: boolean;
  /** Which xattrs to copy: all but overlay and SELinux ones (default), only `security.capability`, or none. */
  xattrs?: "all" | "capability" | "none";
  /** Include the root directory itself as `./` (default false, as Docker's layers). */
  includeRoot?: boolean;
  /** Leave out a path (relative, no leading `./`) and everything under it. */
  exclude?: (path: string) => boolean;
}

const decoder = new TextDecoder();

function isOverlayXattr(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.");
}

function readXattrs(
  path: string,
  policy: LayerWriteOptions["xattrs"],
): Record<string, Uint8Array> | undefined {
  if (policy === "none") return undefined;
  let names: string[];
  try {
    names = libc.llistxattr(path);
  } catch (e) {
    if (e instanceof SyscallError && (e.code === "EOPNOTSUPP" || e.code === "EPERM")) return undefined;
    throw e;
  }
  let out: Record<string, Uint8Array> | undefined;
  for (const name of names.sort()) {
    if (isOverlayXattr(name) || name === "security.selinux") continue;
    if (policy === "capability" && name !== "security.capability") continue;
    const v = libc.lgetxattr(path, name);
    if (v) (out ??= {})[name] = v.slice();
  }
  return out;
}

function overlayFlag(path: string, key: string): string | undefined {
  for (const ns of ["trusted.overlay.", "user.overlay."]) {
    try {
      const v = libc.lgetxattr(path, ns + key);
      if (v) return decoder.decode(v);
    } catch (e) {
      if (e instanceof SyscallError && (e.code === "EOPNOTSUPP" || e.code === "EPERM")) continue;
      throw e;
    }
  }
  return undefined;
}

function mtimeOf(st: Statx, options: LayerWriteOptions): { mtime: number; mtimeNsec?: number } {
  let sec = st.mtime.sec, nsec = options.subsecondMtime ? st.mtime.nsec : 0;
  if (options.sourceDateEpoch !== undefined && sec >= options.sourceDateEpoch) {
    if (sec > options.sourceDateEpoch || nsec > 0) {
      sec = options.sourceDateEpoch;
      nsec = 0;
    }
  }
  return nsec ? { mtime: sec, mtimeNsec: nsec } : { mtime: sec };
}

const nameCache = new Map<string, Map<number, string>>();
function ownerName(file: "/etc/passwd" | "/etc/group", id: number): string | undefined {
  let m = nameCache.get(file);
  if (!m) {
    m = new Map();
    try {
      for (const line of Deno.readTextFileSync(file).split("\n")) {
        const f = line.split(":");
        if (f.length > 2 && /^\d+$/.test(f[2]) && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
      }
    } catch { /* no names */ }
    nameCache.set(file, m);
  }
  return m.get(id);
}

function compareBytes(a: string, b: string): number {
  // Bytewise order of UTF-8 names equals code-point order; JS compares UTF-16 units, which
  // differs only for astral characters — compare by code points to be exact.
  const ca = [...a], cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i].codePointAt(0)! - cb[i].codePointAt(0)!;
    if (d) return d;
  }
  return ca.length - cb.length;
}

/**
 * The layer tar of a directory tree, as a stream (uncompressed).
 *
 * @example
 * ```ts
 * const tar = writeLayerFromDir(`${container}/upper`, { sourceDateEpoch: 0 });
 * await Deno.writeFile("layer.tar", tar);
 * ```
 */
export function writeLayerFromDir(dir: string, options: LayerWriteOptions = {}): ReadableStream<Uint8Array> {
  const tar = new TarWriter({ subsecondMtime: options.subsecondMtime ?? false });
  const overlay = options.overlay ?? true;
  const links = new Map<string, string>();
  const root = dir.replace(/\/+$/, "");

  const header = (rel: string, st: Statx, type: TarHeader["type"], full: string): TarHeader => {
    const h: TarHeader = {
      name: rel,
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: type === "file" ? st.size : 0,
      ...mtimeOf(st, options),
    };
    if (options.ownerNames) {
      const u = ownerName("/etc/passwd", st.uid), g = ownerName("/etc/group", st.gid);
      if (u) h.uname = u;
      if (g) h.gname = g;
    }
    const x = readXattrs(full, options.xattrs);
    if (x) h.xattrs = x;
    return h;
  };

  const emptyFile = (name: string, st: Statx): TarHeader => ({
    name,
    type: "file",
    mode: 0,
    uid: 0,
    gid: 0,
    size: 0,
    ...mtimeOf(st, options),
  });

  const walk = async (rel: string): Promise<void> => {
    const full = rel ? `${root}/${rel}` : root;
    const names = [...Deno.readDirSync(full)].map((e) => e.name).sort(compareBytes);
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (options.exclude?.(childRel)) continue;
      const childFull = `${full}/${name}`;
      const st = libc.statx(AT.FDCWD, childFull);
      if (!st) continue; // vanished
      const type = st.mode & S.IFMT;
      const parentPrefix = rel ? `${rel}/` : "";
      if (type === S.IFDIR) {
        if (overlay && overlayFlag(childFull, "redirect") !== undefined) {
          throw new TypeError(
            `Cannot write a layer from ${childFull}: overlayfs redirect_dir entries are not supported (mount with redirect_dir=off)`,
          );
        }
        await tar.add(header(`${childRel}/`, st, "directory", childFull));
        if (overlay && overlayFlag(childFull, "opaque") === "y") {
          await tar.add(emptyFile(`${childRel}/.wh..wh..opq`, st));
        }
        await walk(childRel);
      } else if (type === S.IFREG) {
        const key = `${st.devMajor}:${st.devMinor}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          const { xattrs: _, ...link } = header(childRel, st, "link", childFull);
          await tar.add({ ...link, linkname: first, size: 0 });
          continue;
        }
        if (st.nlink > 1) links.set(key, childRel);
        const h = header(childRel, st, "file", childFull);
        if (st.size <= 1 << 20) {
          const data = Deno.readFileSync(childFull);
          if (data.length !== st.size) throw new Error(`File changed while writing the layer: ${childFull}`);
          await tar.add(h, data);
        } else {
          using f = await Deno.open(childFull, { read: true });
          await tar.add(h, f.readable);
        }
      } else if (type === S.IFLNK) {
        await tar.add({
          ...header(childRel, st, "symlink", childFull),
          linkname: Deno.readLinkSync(childFull),
        });
      } else if (type === S.IFCHR && overlay && st.rdevMajor === 0 && st.rdevMinor === 0) {
        await tar.add(emptyFile(`${parentPrefix}.wh.${name}`, st));
      } else if (type === S.IFCHR || type === S.IFBLK) {
        await tar.add({
          ...header(childRel, st, type === S.IFCHR ? "char" : "block", childFull),
          devmajor: st.rdevMajor,
          devminor: st.rdevMinor,
        });
      } else if (type === S.IFIFO) {
        await tar.add(header(childRel, st, "fifo", childFull));
      }
      // Sockets are not carried in layers (as Docker).
    }
  };

  (async () => {
    try {
      if (options.includeRoot) {
        const st = libc.statx(AT.FDCWD, root)!;
        await tar.add(header("./", st, "directory", root));
      }
      await walk("");
      await tar.close();
    } catch (e) {
      await tar.abort(e).catch(() => {});
    }
  })();
  return tar.readable;
}

/** Options for {@linkcode writeLayerBlob}. */
export interface LayerBlobOptions extends LayerWriteOptions {
  /** Compression of the blob (default gzip). */
  compression?: Compression;
  /** Compression level (gzip default 1, zstd default 3). */
  level?: number;
}

/** A layer written into the content store. */
export interface LayerBlob {
  /** The manifest's layer descriptor (digest and size of the compressed blob). */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  diffId: string;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
}

/**
 * Writes a directory tree as a layer blob into the content store, computing the diff ID on
 * the way.
 *
 * @example
 * ```ts
 * const { descriptor, diffId } = await writeLayerBlob(images.content, upperDir, { sourceDateEpoch: 0 });
 * ```
 */
export async function writeLayerBlob(
  store: ContentStore,
  dir: string,
  options: LayerBlobOptions = {},
): Promise<LayerBlob> {
  const compression = options.compression ?? "gzip";
  const hasher = new Hasher();
  const hashed = writeLayerFromDir(dir, options).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hasher.update(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  const { digest, size } = await store.put(compressStream(hashed, compression, { level: options.level }));
  const mediaType = compression === "gzip"
    ? MediaType.OCI_LAYER_GZIP
    : compression === "zstd"
    ? MediaType.OCI_LAYER_ZSTD
    : MediaType.OCI_LAYER;
  return { descriptor: { mediaType, digest, size }, diffId: hasher.digest(), tarSize: hasher.size };
}
