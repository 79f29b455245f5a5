/**
 * `ctr cp`: copying between the host and a container, in both directions, with Docker's
 * path rules (a directory lands inside an existing destination directory, `SRC/.` copies the
 * contents, a missing `DEST/` is an error). Container paths are resolved inside the
 * container's root — symlinks included — with {@linkcode secureJoin}, never on the host:
 *
 * - running container: through `/proc/<pid>/root` (its mounts and volumes included);
 * - stopped container: its overlay mounted for the copy on the container's `rootfs/`
 *   directory, with volume and bind paths redirected to their host directories.
 *
 * A local side of `-` is a tar stream on stdin or stdout (see `copy_archive.ts`).
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { MNT } from "../ffi/constants.ts";
import type { Container, ContainerPaths } from "./container_store.ts";
import { extractArchive, writeArchive } from "./copy_archive.ts";
import { copyTree } from "./copy_tree.ts";
import { cleanPath, secureJoin } from "./secure_join.ts";

/** One side of a copy. */
export interface CopyArg {
  /** Container name or ID when the path is inside a container. */
  container?: string;
  path: string;
}

/**
 * Splits `CONTAINER:PATH` from a local path (`./a:b` and `/x:y` stay local, as in Docker).
 *
 * @example
 * ```ts
 * splitCopyArg("web:/etc/hosts"); // { container: "web", path: "/etc/hosts" }
 * ```
 */
export function splitCopyArg(arg: string): CopyArg {
  if (arg.startsWith("/") || arg.startsWith(".")) return { path: arg };
  const colon = arg.indexOf(":");
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) || "/" };
}

/** What the supervisor tells about the container. */
export interface CopyTarget {
  container: Container;
  /** Host pid of the running container, 0 when stopped. */
  pid: number;
  paths: ContainerPaths;
}

/** Options of {@linkcode copyWithContainer}. */
export interface CopyOptions {
  /** Keep uid/gid when copying in (default: files become root's). */
  archive: boolean;
  /** Follow a symlink named by the source. */
  followLink: boolean;
  /** Host directory of a named volume. */
  volumePath: (name: string) => string;
  /** The tar stream for a local side of `-` (`cp - CONTAINER:DEST`), stdin by default. */
  input?: ReadableStream<Uint8Array>;
  /** Where a local side of `-` receives the tar stream (`cp CONTAINER:SRC -`), stdout by default. */
  output?: WritableStream<Uint8Array>;
}

async function exists(p: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(p);
  } catch {
    return undefined;
  }
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  libc.lchown(path, uid, gid);
  const info = await Deno.lstat(path);
  if (info.isDirectory) {
    for await (const e of Deno.readDir(path)) await chownTree(`${path}/${e.name}`, uid, gid);
  }
}

/**
 * Resolves a container path to a host path: the parent securely, the last component
 * followed only when `followLast`.
 */
function resolveIn(root: string, path: string, followLast: boolean): string {
  const clean = cleanPath(path);
  if (clean === "/") return root;
  if (followLast) return secureJoin(root, clean);
  const parent = secureJoin(root, clean.slice(0, clean.lastIndexOf("/")) || "/");
  return `${parent}/${clean.slice(clean.lastIndexOf("/") + 1)}`;
}

/** For a stopped container: the host directory behind a volume or bind mount holding `path`. */
function mountedSource(
  c: Container,
  path: string,
  volumePath: (n: string) => string,
): [string, string] | undefined {
  const clean = cleanPath(path);
  const mounts: [string, string][] = [];
  for (const m of c.HostConfig.Mounts) if (m.Type === "bind") mounts.push([m.Target, m.Source]);
  for (const [target, name] of Object.entries(c.VolumeMap)) mounts.push([target, volumePath(name)]);
  mounts.sort((a, b) => b[0].length - a[0].length);
  for (const [target, source] of mounts) {
    if (clean === target || clean.startsWith(target + "/")) {
      return [source, clean.slice(target.length) || "/"];
    }
  }
  return undefined;
}

/**
 * Copies between a container and the host.
 *
 * @example
 * ```ts
 * await copyWithContainer(target, { container: "web", path: "/etc/hosts" }, { path: "./hosts" }, opts);
 * ```
 */
export async function copyWithContainer(
  target: CopyTarget,
  src: CopyArg,
  dst: CopyArg,
  options: CopyOptions,
): Promise<void> {
  let root: string;
  let mounted = false;
  if (target.pid > 0) {
    root = `/proc/${target.pid}/root`;
  } else {
    const p = target.paths;
    const lower = target.container.LowerDirs.join(":");
    libc.mount("overlay", p.rootfs, "overlay", 0, `lowerdir=${lower},upperdir=${p.upper},workdir=${p.work}`);
    mounted = true;
    root = p.rootfs;
  }
  try {
    const hostPathOf = (arg: CopyArg, followLast: boolean) => {
      if (target.pid === 0) {
        const m = mountedSource(target.container, arg.path, options.volumePath);
        if (m) return resolveIn(m[0], m[1], followLast);
      }
      return resolveIn(root, arg.path, followLast);
    };
    if (src.container === undefined && src.path === "-") {
      // A tar stream into a directory of the container (which must exist).
      const to = hostPathOf(dst, true);
      const info = await Deno.stat(to).catch(() => undefined);
      if (!info) throw new Error(`Could not find the file ${dst.path} in container ${dst.container}`);
      if (!info.isDirectory) throw new Error("extraction point is not a directory");
      await extractArchive(options.input ?? Deno.stdin.readable, to, {
        archive: options.archive,
        staging: `${target.paths.dir}/cp-${crypto.randomUUID().slice(0, 8)}`,
      });
      return;
    }
    const from = src.container !== undefined ? hostPathOf(src, options.followLink) : src.path;
    if (dst.container === undefined && dst.path === "-") {
      if (!(await (options.followLink ? Deno.stat(from).catch(() => undefined) : exists(from)))) {
        throw new Error(`Could not find the file ${src.path} in container ${src.container}`);
      }
      const source = options.followLink ? await Deno.realPath(from).catch(() => from) : from;
      const base = /\/\.$/.test(src.path) ? "." : cleanPath(src.path).split("/").at(-1) || ".";
      await writeArchive(source, base, options.output ?? Deno.stdout.writable);
      return;
    }
    const to = dst.container !== undefined ? hostPathOf(dst, true) : dst.path;
    const srcInfo = await (options.followLink ? Deno.stat(from).catch(() => undefined) : exists(from));
    if (!srcInfo) {
      throw new Error(
        src.container !== undefined
          ? `Could not find the file ${src.path} in container ${src.container}`
          : `lstat ${src.path}: no such file or directory`,
      );
    }
    const contentsOnly = /\/\.$/.test(src.path);
    const dstInfo = await exists(to);
    let finalPath: string;
    if (srcInfo.isDirectory) {
      if (dstInfo && !dstInfo.isDirectory) throw new Error("cannot copy a directory to a file");
      finalPath = dstInfo && !contentsOnly ? `${to}/${cleanPath(src.path).split("/").at(-1)}` : to;
    } else {
      if (!dstInfo && dst.path.endsWith("/")) {
        throw new Error(`destination directory "${dst.path}" does not exist`);
      }
      finalPath = dstInfo?.isDirectory ? `${to}/${cleanPath(src.path).split("/").at(-1)}` : to;
    }
    const parent = finalPath.slice(0, finalPath.lastIndexOf("/")) || "/";
    if (!(await exists(parent))) throw new Error(`destination directory "${parent}" does not exist`);
    const source = options.followLink ? await Deno.realPath(from).catch(() => from) : from;
    await copyTree(source, finalPath);
    if (dst.container !== undefined && !options.archive) await chownTree(finalPath, 0, 0);
  } finally {
    if (mounted) libc.umount(target.paths.rootfs, MNT.DETACH);
  }
}
