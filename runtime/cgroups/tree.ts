/**
 * Operations on a cgroup directory and everything below it, shared by the v1 and v2
 * backends: listing the processes of a subtree, removing a subtree deepest first while exiting
 * processes drain, and polling a control file until the kernel reports a state.
 *
 * @module
 */
import { SyscallError } from "../../ffi/errno.ts";
import type { CgroupFs } from "./fs.ts";
import { sleep } from "./cgroups.ts";

/** Directories of a cgroup subtree, deepest first (the order rmdir needs). */
export function subtreeDeepestFirst(fs: CgroupFs, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.subdirs(d)) walk(`${d}/${name}`);
    out.push(d);
  };
  walk(dir);
  return out;
}

/** Pids listed in `cgroup.procs` of a cgroup and all its descendants (empty when it is gone). */
export function subtreePids(fs: CgroupFs, dir: string): number[] {
  if (!fs.exists(dir)) return [];
  const pids = new Set<number>();
  for (const d of subtreeDeepestFirst(fs, dir)) {
    let text = "";
    try {
      text = fs.read(`${d}/cgroup.procs`);
    } catch (e) {
      if (e instanceof SyscallError && e.code === "ENOENT") continue; // removed meanwhile
      throw e;
    }
    for (const line of text.split("\n")) if (line.trim()) pids.add(Number(line));
  }
  return [...pids].sort((a, b) => a - b);
}

/**
 * Removes a cgroup and its descendants, deepest first. rmdir fails with EBUSY while a process
 * (even one already exiting) is still charged to the cgroup, so it is retried until
 * `deadline` (a `Date.now()` value). A cgroup already gone is fine.
 */
export async function removeSubtree(fs: CgroupFs, dir: string, deadline: number): Promise<void> {
  if (!fs.exists(dir)) return;
  for (const d of subtreeDeepestFirst(fs, dir)) {
    for (;;) {
      try {
        fs.rmdir(d);
        break;
      } catch (e) {
        if (e instanceof SyscallError && e.code === "ENOENT") break;
        if (e instanceof SyscallError && e.code === "EBUSY" && Date.now() < deadline) {
          await sleep(10);
          continue;
        }
        throw e;
      }
    }
  }
}

/**
 * Removes a per-state-root parent cgroup if it has become empty; another container of the same
 * root may still use it (EBUSY/ENOTEMPTY) or have removed it already (ENOENT): both are fine.
 */
export function removeParentIfEmpty(fs: CgroupFs, dir: string): void {
  try {
    fs.rmdir(dir);
  } catch (e) {
    if (e instanceof SyscallError && ["EBUSY", "ENOTEMPTY", "ENOENT"].includes(e.code)) return;
    throw e;
  }
}

/**
 * Polls `check` every few milliseconds until it returns true; throws a `SyscallError`
 * (ETIMEDOUT, naming `path`) after `timeoutMs`.
 */
export async function waitFor(
  check: () => boolean,
  what: string,
  path: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  while (!check()) {
    if (Date.now() >= deadline) throw new SyscallError(`wait for ${what} of`, 110, path);
    await sleep(delay);
    delay = Math.min(delay * 2, 20);
  }
}

/** Reads a control file as an integer; "max" (v2) becomes null. */
export function readNumber(fs: CgroupFs, path: string): number | null {
  const text = fs.read(path).trim();
  if (text === "max") return null;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new TypeError(`Unexpected content in ${path}: ${JSON.stringify(text)}`);
  return n;
}
