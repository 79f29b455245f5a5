/**
 * Copying file trees with their metadata (mode, owner, times, symlinks as symlinks), for
 * `ctr cp` and for filling a new volume with the image's content at its mount point. The
 * layered form merges read-only layers as overlayfs would show them: bottom to top, a
 * whiteout (char device 0/0) removes what is below, an opaque directory hides it.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";

async function copyMeta(path: string, info: Deno.FileInfo): Promise<void> {
  try {
    libc.lchown(path, info.uid ?? 0, info.gid ?? 0);
  } catch { /* not permitted: keep ours */ }
  if (!info.isSymlink) await Deno.chmod(path, (info.mode ?? 0o644) & 0o7777);
  if (info.mtime) {
    const at = info.atime ?? info.mtime;
    libc.utimensat(
      path,
      { sec: Math.floor(at.getTime() / 1000), nsec: (at.getTime() % 1000) * 1e6 },
      { sec: Math.floor(info.mtime.getTime() / 1000), nsec: (info.mtime.getTime() % 1000) * 1e6 },
    );
  }
}

function isWhiteout(info: Deno.FileInfo): boolean {
  return info.isCharDevice === true && (info.rdev ?? -1) === 0;
}

/** Options of {@linkcode copyTree}. */
export interface CopyOptions {
  /** Treat char devices 0/0 as overlay whiteouts (remove the destination entry) instead of copying them. */
  whiteouts?: boolean;
}

/**
 * Copies `src` (file, symlink or directory) to `dst`, merging into an existing directory.
 *
 * @example
 * ```ts
 * await copyTree("/var/lib/ctr/layers/x/etc", "/var/lib/ctr/volumes/v/_data");
 * ```
 */
export async function copyTree(src: string, dst: string, options: CopyOptions = {}): Promise<void> {
  const info = await Deno.lstat(src);
  if (options.whiteouts && isWhiteout(info)) {
    await Deno.remove(dst, { recursive: true }).catch(() => {});
    return;
  }
  if (info.isDirectory) {
    let existing: Deno.FileInfo | undefined;
    try {
      existing = await Deno.lstat(dst);
    } catch { /* new */ }
    if (existing && !existing.isDirectory) await Deno.remove(dst);
    if (!existing?.isDirectory) await Deno.mkdir(dst);
    else if (options.whiteouts && libc.lgetxattr(src, "trusted.overlay.opaque")) {
      for await (const e of Deno.readDir(dst)) await Deno.remove(`${dst}/${e.name}`, { recursive: true });
    }
    for await (const e of Deno.readDir(src)) await copyTree(`${src}/${e.name}`, `${dst}/${e.name}`, options);
    await copyMeta(dst, info);
    return;
  }
  try {
    const old = await Deno.lstat(dst);
    if (old.isDirectory) await Deno.remove(dst, { recursive: true });
    else await Deno.remove(dst);
  } catch { /* absent */ }
  if (info.isSymlink) {
    await Deno.symlink(await Deno.readLink(src), dst);
  } else if (info.isFile) {
    await Deno.copyFile(src, dst);
  } else if (info.isFifo || info.isCharDevice || info.isBlockDevice) {
    const type = info.isFifo ? 0o010000 : info.isCharDevice ? 0o020000 : 0o060000;
    const rdev = info.rdev ?? 0;
    libc.mknod(
      dst,
      type | ((info.mode ?? 0) & 0o7777),
      (rdev >> 8) & 0xfff,
      (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
    );
  } else {
    return; // sockets are not copied
  }
  await copyMeta(dst, info);
}

/**
 * Fills `dst` with what `path` shows in the overlay of `lowerDirs` (topmost first).
 *
 * @example
 * ```ts
 * await copyMergedLayers(container.LowerDirs, "/var/cache", volumeDir);
 * ```
 */
export async function copyMergedLayers(lowerDirs: string[], path: string, dst: string): Promise<void> {
  for (const layer of [...lowerDirs].reverse()) {
    const src = `${layer}${path}`;
    try {
      await Deno.lstat(src);
    } catch {
      continue;
    }
    await copyTree(src, dst, { whiteouts: true });
  }
}
