/**
 * The devices a container gets by default, as data the container init uses twice: to create
 * the nodes in the container's `/dev` (a tmpfs), and as the device cgroup rules that make any
 * other device unusable even where a node exists or could be made.
 *
 * ```
 * /dev/            tmpfs (nosuid, strictatime, mode 755)
 * ├── null zero full random urandom tty     char devices below, mode 0666
 * ├── console      bind mount of the pty slave when -t
 * ├── pts/         devpts (newinstance, ptmxmode=0666)
 * ├── ptmx -> pts/ptmx
 * ├── shm/         tmpfs
 * ├── mqueue/      mqueue
 * ├── fd -> /proc/self/fd   stdin stdout stderr -> /proc/self/fd/0..2
 * └── core -> /proc/kcore
 * ```
 *
 * Docker also allows `mknod` of any character or block device (`c *:* m`, `b *:* m`) while
 * refusing its use; ctr refuses the mknod itself (the Security issue asks that `mknod` of other
 * devices fail). {@linkcode DOCKER_MKNOD_RULES} restores Docker's behaviour where wanted.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { S } from "../../ffi/constants.ts";
import type { DeviceRule } from "../cgroups/cgroups.ts";

/** A device node to create. */
export interface DeviceNode {
  /** Path inside the container, e.g. `/dev/null`. */
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  /** Permission bits. */
  mode: number;
}

/** The device nodes every container gets. */
export const DEFAULT_DEVICES: readonly DeviceNode[] = [
  { path: "/dev/null", type: "c", major: 1, minor: 3, mode: 0o666 },
  { path: "/dev/zero", type: "c", major: 1, minor: 5, mode: 0o666 },
  { path: "/dev/full", type: "c", major: 1, minor: 7, mode: 0o666 },
  { path: "/dev/random", type: "c", major: 1, minor: 8, mode: 0o666 },
  { path: "/dev/urandom", type: "c", major: 1, minor: 9, mode: 0o666 },
  { path: "/dev/tty", type: "c", major: 5, minor: 0, mode: 0o666 },
];

/** Symlinks in `/dev`: [target, link path]. */
export const DEFAULT_DEV_SYMLINKS: readonly [string, string][] = [
  ["/proc/self/fd", "/dev/fd"],
  ["/proc/self/fd/0", "/dev/stdin"],
  ["/proc/self/fd/1", "/dev/stdout"],
  ["/proc/self/fd/2", "/dev/stderr"],
  ["pts/ptmx", "/dev/ptmx"],
  ["/proc/kcore", "/dev/core"],
];

/**
 * The device cgroup rules of a default container: deny everything, then allow the default
 * nodes, the console, `/dev/ptmx` and every pty slave (`136:*`), for read, write and mknod.
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { allow: false, type: "a", access: "rwm" },
  ...DEFAULT_DEVICES.map((d): DeviceRule => ({
    allow: true,
    type: d.type,
    major: d.major,
    minor: d.minor,
    access: "rwm",
  })),
  { allow: true, type: "c", major: 5, minor: 1, access: "rwm" }, // /dev/console
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // /dev/ptmx
  { allow: true, type: "c", major: 136, access: "rwm" }, // /dev/pts/*
];

/** Docker's extra rules: mknod of any char/block device is allowed (using it is not). */
export const DOCKER_MKNOD_RULES: readonly DeviceRule[] = [
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
];

/** A `--privileged` container may use every device. */
export const PRIVILEGED_DEVICE_RULES: readonly DeviceRule[] = [{ allow: true, type: "a", access: "rwm" }];

/**
 * Creates device nodes under `root` (the new root, before pivot_root), owned by root. Existing
 * nodes are replaced.
 *
 * @example
 * ```ts
 * createDeviceNodes("/var/lib/ctr/containers/c1/rootfs");
 * ```
 */
export function createDeviceNodes(root: string, devices: readonly DeviceNode[] = DEFAULT_DEVICES): void {
  for (const d of devices) {
    const path = `${root.replace(/\/+$/, "")}${d.path}`;
    try {
      Deno.removeSync(path);
    } catch { /* absent */ }
    libc.mknod(path, (d.type === "c" ? S.IFCHR : S.IFBLK) | d.mode, d.major, d.minor);
    // mknod applies the umask: set the mode again.
    libc.lchmod(path, d.mode);
    libc.lchown(path, 0, 0);
  }
}

/**
 * Creates the standard `/dev` symlinks under `root`.
 *
 * @example
 * ```ts
 * createDevSymlinks(rootfs);
 * ```
 */
export function createDevSymlinks(
  root: string,
  links: readonly [string, string][] = DEFAULT_DEV_SYMLINKS,
): void {
  for (const [target, link] of links) {
    const path = `${root.replace(/\/+$/, "")}${link}`;
    try {
      Deno.removeSync(path);
    } catch { /* absent */ }
    Deno.symlinkSync(target, path);
  }
}
