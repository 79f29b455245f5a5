/**
 * What ADD does beyond COPY:
 *
 * - **Local archives** (a source file that is a tar — plain, gzip or zstd; recognised by its
 *   bytes, not its name) are extracted into the destination directory instead of copied.
 *   Extraction goes through the image unpacker (`image/unpack.ts`) with all its safety
 *   rules: no entry can leave the destination (`..`, absolute names, symlinked parents and
 *   hard links outside are refused), device nodes are skipped. xz and bzip2 archives are
 *   refused by name (no decompressor here). Archives inside a copied directory, and
 *   remote files, are never extracted — as Docker does.
 * - **URL sources** (`http://`, `https://`) are downloaded on every build (their bytes are
 *   part of the cache key); the file is named after the last segment of the URL path, has
 *   mode 0600 (then `--chmod`), and the mtime of `Last-Modified` when sent. `--checksum=
 *   sha256:…` refuses bytes that do not match.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { lchown } from "node:fs/promises";
import { decompressStream } from "../image/compression.ts";
import { unpackTar } from "../image/unpack.ts";
import type { LowerView } from "./copy_writer.ts";
import type { Owner } from "./user_spec.ts";

/** Downloaded ADD sources. */
export interface AddSources {
  files: { name: string; data: Uint8Array; mtimeMs: number }[];
  /** Digest over names and bytes, for the cache key. */
  digest: string;
}

/**
 * Downloads URL sources. Throws naming the URL on HTTP errors and on a checksum mismatch.
 *
 * @example
 * ```ts
 * const got = await fetchAddSources(["http://127.0.0.1:8080/app.tar"], { checksum: "sha256:…" });
 * ```
 */
export async function fetchAddSources(
  urls: string[],
  options: { checksum?: string; fetch?: typeof fetch; dir?: string } = {},
): Promise<AddSources> {
  if (options.checksum !== undefined && urls.length !== 1) {
    throw new Error("checksum can't be specified for multiple sources");
  }
  if (options.checksum !== undefined && !/^sha(256|384|512):[0-9a-f]+$/.test(options.checksum)) {
    throw new Error(`invalid checksum digest format: ${JSON.stringify(options.checksum)}`);
  }
  const doFetch = options.fetch ?? fetch;
  const files: AddSources["files"] = [];
  const h = createHash("sha256");
  for (const url of urls) {
    let res: Response;
    try {
      res = await doFetch(url, { redirect: "follow" });
    } catch (e) {
      throw new Error(`failed to load ${url}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`failed to load ${url}: invalid response status ${res.status}`);
    }
    const data = new Uint8Array(await res.arrayBuffer());
    if (options.checksum) {
      const [algo, want] = options.checksum.split(":");
      const got = createHash(algo).update(data).digest("hex");
      if (got !== want) throw new Error(`digest mismatch ${algo}:${got}: ${options.checksum}`);
    }
    const name = decodeURIComponent(new URL(url).pathname.split("/").filter(Boolean).pop() ?? "") ||
      "index.html";
    const lm = res.headers.get("last-modified");
    const mtimeMs = lm && !Number.isNaN(Date.parse(lm)) ? Date.parse(lm) : 0;
    files.push({ name, data, mtimeMs });
    h.update(`${url}\0${name}\0${mtimeMs}\0`).update(data).update("\n");
  }
  return { files, digest: "sha256:" + h.digest("hex") };
}

/** Whether a host file is a tar archive (plain, gzip or zstd), judged by its first tar header. */
export async function isArchive(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch {
    return false;
  }
  try {
    const { stream } = await decompressStream(file.readable);
    const reader = stream.getReader();
    const head = new Uint8Array(512);
    let have = 0;
    try {
      while (have < 512) {
        const r = await reader.read();
        if (r.done) break;
        const take = Math.min(r.value.length, 512 - have);
        head.set(r.value.subarray(0, take), have);
        have += take;
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
    return have === 512 && isTarHeader(head);
  } catch {
    return false; // xz/bzip2 or a corrupt stream: copied as a plain file
  } finally {
    try {
      file.close();
    } catch { /* closed by the stream */ }
  }
}

/** A tar header: its checksum matches (ustar, GNU and v7 alike). */
function isTarHeader(b: Uint8Array): boolean {
  const field = new TextDecoder().decode(b.subarray(148, 156)).replace(/[\0 ]+$/, "").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i];
  return sum === parseInt(field, 8) && b[0] !== 0;
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch {
    return undefined;
  }
}

/**
 * Extracts archives into a layer directory: each `{ host, to }` into the image directory
 * `to` — ADD's destination, a directory for an archive whether or not it ends in `/` —
 * created like COPY creates directories. Entries get `owner` when given.
 *
 * @example
 * ```ts
 * await writeAddArchives(layerDir, [{ host: "/ctx/app.tar.gz", to: "/opt/" }], { view, tmp });
 * ```
 */
export async function writeAddArchives(
  layerDir: string,
  archives: { host: string; to: string }[],
  options: { view: LowerView; owner?: Owner; tmp: string },
): Promise<void> {
  for (const a of archives) {
    const to = a.to.replace(/\/+$/, "");
    // The destination directory (and its parents) as COPY makes them: existing ones keep their metadata.
    let cur = "";
    for (const seg of to.split("/").filter(Boolean)) {
      cur += "/" + seg;
      const host = layerDir + cur;
      if ((await lstatOrUndefined(host))?.isDirectory) continue;
      const below = await options.view.lstat(cur);
      await Deno.mkdir(host);
      if (below?.isDirectory) {
        await Deno.chmod(host, (below.mode ?? 0o755) & 0o7777);
        await Deno.chown(host, below.uid ?? 0, below.gid ?? 0);
      } else {
        await Deno.chmod(host, 0o755);
        await Deno.chown(host, options.owner?.uid ?? 0, options.owner?.gid ?? 0);
      }
    }
    const staging = await Deno.makeTempDir({ dir: options.tmp, prefix: "untar-" });
    try {
      using file = await Deno.open(a.host);
      const { stream } = await decompressStream(file.readable);
      await unpackTar(stream, staging, { devices: "skip", onWarning: () => {} });
      if (options.owner) await chownTree(staging, options.owner);
      await mergeInto(staging, layerDir + to);
    } finally {
      await Deno.remove(staging, { recursive: true }).catch(() => {});
    }
  }
}

async function chownTree(dir: string, owner: Owner): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    const info = await Deno.lstat(p);
    await lchown(p, owner.uid, owner.gid);
    // chown clears setuid/setgid: put the mode back.
    if (!info.isSymlink) await Deno.chmod(p, (info.mode ?? 0) & 0o7777);
    if (e.isDirectory) await chownTree(p, owner);
  }
}

/** Moves the contents of `from` into `to`, merging directories (entries of `from` win). */
async function mergeInto(from: string, to: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    const src = `${from}/${e.name}`;
    const dst = `${to}/${e.name}`;
    const existing = await lstatOrUndefined(dst);
    if (e.isDirectory && existing?.isDirectory) {
      await mergeInto(src, dst);
      const info = await Deno.lstat(src);
      await Deno.chown(dst, info.uid ?? 0, info.gid ?? 0);
      await Deno.chmod(dst, (info.mode ?? 0o755) & 0o7777);
      if (info.mtime) await Deno.utime(dst, info.mtime, info.mtime);
      continue;
    }
    if (existing) await Deno.remove(dst, { recursive: true });
    await Deno.rename(src, dst);
  }
}
