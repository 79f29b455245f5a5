/**
 * Masked and read-only paths, as Docker applies them inside a container: the data, and the
 * functions the container init calls once `/proc` and `/sys` are mounted in the new root.
 *
 * - masking hides kernel interfaces: a read-only empty tmpfs over a directory, `/dev/null`
 *   bind-mounted over a file (reads give nothing, writes vanish);
 * - read-only paths are bind-mounted onto themselves and remounted read-only, keeping the
 *   nosuid/nodev/noexec flags they had (a bind remount that would drop a locked flag is refused
 *   by the kernel inside user namespaces).
 *
 * Both run synchronously on the calling thread (DESIGN.md §3: mounts made on the init's main
 * thread belong to its mount namespace). Paths that do not exist on this kernel are skipped.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { MS } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";

/** Docker's masked paths. */
export const MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Docker's read-only paths. */
export const READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** statfs ST_* flag → mount MS_* flag, for the flags a read-only remount must keep. */
const ST_TO_MS: [number, number][] = [
  [1, MS.RDONLY],
  [2, MS.NOSUID],
  [4, MS.NODEV],
  [8, MS.NOEXEC],
  [16, MS.SYNCHRONOUS],
  [64, MS.MANDLOCK],
  [1024, MS.NOATIME],
  [2048, MS.NODIRATIME],
  [4096, MS.RELATIME],
  [8192, MS.NOSYMFOLLOW],
];

/**
 * The mount flags of the mount holding `path`, as MS_* bits (from statfs f_flags).
 *
 * @example
 * ```ts
 * mountFlagsOf("/proc") & MS.NOEXEC; // non-zero
 * ```
 */
export function mountFlagsOf(path: string): number {
  const st = libc.statfsFlags(path);
  let ms = 0;
  for (const [s, m] of ST_TO_MS) if (st & s) ms |= m;
  return ms;
}

function kindOf(path: string): "dir" | "file" | null {
  try {
    return Deno.lstatSync(path).isDirectory ? "dir" : "file";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Options of {@linkcode maskPaths} and {@linkcode readonlyPaths}. */
export interface PathOptions {
  /** Prefix for every path (the new root before pivot_root); default "" (after pivot_root). */
  root?: string;
}

/**
 * Masks `paths` (default Docker's list) and returns those masked (absent ones are skipped).
 * Files get `<root>/dev/null` bind-mounted over them, so `/dev` must be populated first.
 *
 * @example
 * ```ts
 * maskPaths(); // after pivot_root, with /proc, /sys and /dev in place
 * ```
 */
export function maskPaths(paths: readonly string[] = MASKED_PATHS, options: PathOptions = {}): string[] {
  const root = (options.root ?? "").replace(/\/+$/, "");
  const done: string[] = [];
  for (const p of paths) {
    const target = `${root}${p}`;
    const kind = kindOf(target);
    if (kind === null) continue;
    if (kind === "dir") {
      libc.mount("tmpfs", target, "tmpfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, "size=0");
    } else libc.mount(`${root}/dev/null`, target, null, MS.BIND);
    done.push(p);
  }
  return done;
}

/**
 * Makes `paths` (default Docker's list) read-only and returns those changed (absent ones are
 * skipped).
 *
 * @example
 * ```ts
 * readonlyPaths(); // /proc/sys, /proc/sysrq-trigger, … now EROFS for writes
 * ```
 */
export function readonlyPaths(
  paths: readonly string[] = READONLY_PATHS,
  options: PathOptions = {},
): string[] {
  const root = (options.root ?? "").replace(/\/+$/, "");
  const done: string[] = [];
  for (const p of paths) {
    const target = `${root}${p}`;
    if (kindOf(target) === null) continue;
    libc.mount(target, target, null, MS.BIND | MS.REC);
    remountReadonly(target);
    done.push(p);
  }
  return done;
}

/**
 * Remounts the (bind) mount at `path` read-only, keeping its other flags.
 *
 * @example
 * ```ts
 * remountReadonly("/newroot/sys");
 * ```
 */
export function remountReadonly(path: string): void {
  const flags = mountFlagsOf(path);
  try {
    libc.mount(null, path, null, flags | MS.BIND | MS.REMOUNT | MS.RDONLY);
  } catch (e) {
    // Without the existing flags the kernel may refuse (EPERM) to drop a locked one; with them it
    // may refuse a flag it cannot keep on a bind remount: try the plain form once.
    if (!(e instanceof SyscallError)) throw e;
    libc.mount(
      null,
      path,
      null,
      MS.BIND | MS.REMOUNT | MS.RDONLY | (flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC)),
    );
  }
}
