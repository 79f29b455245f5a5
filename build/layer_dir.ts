/**
 * Layer directories of a build: the directory a step writes its changes into (a COPY's
 * target, a RUN's overlay upper dir), from creation to the moment the snapshot store adopts
 * it as a lower dir.
 *
 * - {@linkcode createLayerDir}: the root is 0755 root:root, as runtimes make upper dirs.
 * - {@linkcode missingPaths} / {@linkcode removeMountStubs}: a container needs mount points
 *   (`/proc`, `/etc/hosts`, RUN `--mount` targets); where the image lacks them the init
 *   creates empty stubs, which land in the upper dir. Like BuildKit's stub cleaner, the
 *   builder removes those that are still empty after the run, so a mount point never shows
 *   up in a layer.
 * - {@linkcode normalizeLayerDir}: makes the directory hold exactly what unpacking its
 *   layer blob would give — mtimes clamped to the build's epoch in whole seconds, no
 *   overlayfs bookkeeping xattrs besides `opaque`, the root with the metadata of the root
 *   below (a layer tar has no root entry; unpacking takes the lower one) — so the snapshot
 *   adopted from it equals one unpacked from the blob, and later steps see the same files
 *   either way.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { SyscallError } from "../ffi/errno.ts";
import type { LowerView } from "./copy_writer.ts";

/**
 * Creates an empty layer directory under `parent`, its root 0755 root:root — as container
 * runtimes make an upper dir, whose root overlayfs shows as `/` (a 0700 temp dir would make
 * `/` 0700 inside the RUN container, whatever the image says).
 *
 * @example
 * ```ts
 * const dir = await createLayerDir(tmp);
 * ```
 */
export async function createLayerDir(parent: string, prefix = "layer-"): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: parent, prefix });
  await Deno.chmod(dir, 0o755);
  return dir;
}

/**
 * The paths among `paths` (absolute, in the image) and their ancestors that do not exist in
 * `lower`, deepest first: what a container's init would create as mount stubs.
 *
 * @example
 * ```ts
 * await missingPaths(view, ["/proc", "/cache/go"]); // ["/cache/go", "/cache"] on an image without /cache
 * ```
 */
export async function missingPaths(lower: LowerView, paths: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const p of paths) {
    const segs = p.split("/").filter((s) => s !== "" && s !== ".");
    let cur = "";
    for (const s of segs) {
      cur += "/" + s;
      if (out.has(cur)) continue;
      if (!(await lower.lstat(cur))) out.add(cur);
    }
  }
  return [...out].sort((a, b) => b.split("/").length - a.split("/").length || (a < b ? 1 : -1));
}

/**
 * Removes mount stubs from a layer directory: each path of `stubs` (deepest first, as
 * {@linkcode missingPaths} lists them) that is an empty directory or an empty regular file
 * there. Anything the step wrote stays.
 *
 * @example
 * ```ts
 * await removeMountStubs(upperDir, stubs);
 * ```
 */
export async function removeMountStubs(layerDir: string, stubs: string[]): Promise<void> {
  for (const p of stubs) {
    const host = layerDir + p;
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(host);
    } catch {
      continue;
    }
    if (info.isFile && info.size === 0) await Deno.remove(host);
    else if (info.isDirectory) await Deno.remove(host).catch(() => {}); // fails unless empty
  }
}

const OVERLAY_XATTR_PREFIXES = ["trusted.overlay.", "user.overlay."];

function listXattrs(path: string): string[] {
  try {
    return libc.llistxattr(path);
  } catch (e) {
    if (e instanceof SyscallError && (e.code === "EOPNOTSUPP" || e.code === "EPERM")) return [];
    throw e;
  }
}

/**
 * Clamps every mtime under `dir` (its root included) to `epoch` seconds and drops sub-second
 * parts, removes overlayfs xattrs other than `opaque` (`origin`, `impure`, … — they describe
 * the upper dir's relation to its old lowers), and gives the root the owner and mode of
 * `rootBelow` (0755 root:root when there is none). Returns the bytes of regular files.
 *
 * @example
 * ```ts
 * const size = await normalizeLayerDir(upperDir, 0, await view.lstat("/"));
 * ```
 */
export async function normalizeLayerDir(
  dir: string,
  epoch: number,
  rootBelow?: Deno.FileInfo,
): Promise<number> {
  await Deno.chown(dir, rootBelow?.uid ?? 0, rootBelow?.gid ?? 0);
  await Deno.chmod(dir, rootBelow?.isDirectory ? (rootBelow.mode ?? 0o755) & 0o7777 : 0o755);
  let size = 0;
  const fix = (path: string, info: Deno.FileInfo) => {
    for (const name of listXattrs(path)) {
      const prefix = OVERLAY_XATTR_PREFIXES.find((p) => name.startsWith(p));
      if (prefix && name.slice(prefix.length) !== "opaque") libc.lremovexattr(path, name);
    }
    const sec = Math.floor((info.mtime?.getTime() ?? 0) / 1000);
    const t = { sec: Math.min(sec, epoch), nsec: 0 };
    libc.utimensat(path, t, t);
  };
  const walk = async (path: string) => {
    const entries: [string, Deno.FileInfo][] = [];
    for await (const e of Deno.readDir(path)) {
      const p = `${path}/${e.name}`;
      entries.push([p, await Deno.lstat(p)]);
    }
    for (const [p, info] of entries) {
      if (info.isFile) size += info.size;
      if (info.isDirectory) await walk(p);
      fix(p, info); // after the children: their changes do not touch the parent's mtime, but be safe
    }
  };
  await walk(dir);
  fix(dir, await Deno.lstat(dir));
  return size;
}
