/**
 * Network namespaces from the main thread: run a synchronous step inside another network
 * namespace and come back, or create a fresh one held by a file descriptor.
 *
 * Why this works in Deno (DESIGN.md §3): `setns(2)` and `unshare(2)` move only the calling
 * thread. Every call here is synchronous FFI on the main JS thread, so no other JavaScript
 * runs while the thread sits in the other namespace, and Deno's I/O threads never move.
 * Objects created in that window keep the namespace they were created in: a netlink socket
 * stays bound to it for its life, and a child spawned from the thread starts inside it.
 * Measured on this machine: one round trip (open, setns there, setns back, close) costs
 * about 20 µs, see `ffi/netns_test.ts`.
 *
 * @module
 */
import { libc } from "./libc.ts";
import { CLONE, O } from "./constants.ts";

/** The main thread's own network namespace file (not the process's: threads may differ). */
const SELF_NET = "/proc/thread-self/ns/net";

/**
 * Runs `fn` with the calling thread in the network namespace `ns` (a path such as
 * `/proc/PID/ns/net`, or an open namespace fd) and returns to the original namespace even
 * when `fn` throws. `fn` must be synchronous: awaiting inside would let other code run in the
 * wrong namespace.
 *
 * @example
 * ```ts
 * const fd = inNetns(`/proc/${pid}/ns/net`, () => libc.socket(16, 3, 0));
 * ```
 */
export function inNetns<T>(ns: string | number, fn: () => T): T {
  const saved = libc.open(SELF_NET, O.RDONLY | O.CLOEXEC);
  try {
    const target = typeof ns === "number" ? ns : libc.open(ns, O.RDONLY | O.CLOEXEC);
    try {
      libc.setns(target, CLONE.NEWNET);
    } finally {
      if (typeof ns !== "number") libc.close(target);
    }
    let result: T;
    try {
      result = fn();
    } finally {
      // If this fails the thread is stranded in the other namespace; nothing sane can follow.
      libc.setns(saved, CLONE.NEWNET);
    }
    if (result instanceof Promise) {
      throw new TypeError("inNetns needs a synchronous function; the namespace is left before it settles");
    }
    return result;
  } finally {
    libc.close(saved);
  }
}

/**
 * Creates a new, empty network namespace and returns an fd that keeps it alive (close it to
 * let the namespace go). Other tools can reach it as `/proc/<Deno.pid>/fd/<fd>`.
 *
 * @example
 * ```ts
 * const ns = createNetns();
 * try { inNetns(ns, () => spawnSomething()); } finally { libc.close(ns); }
 * ```
 */
export function createNetns(): number {
  const saved = libc.open(SELF_NET, O.RDONLY | O.CLOEXEC);
  try {
    libc.unshare(CLONE.NEWNET);
    try {
      return libc.open(SELF_NET, O.RDONLY | O.CLOEXEC);
    } finally {
      libc.setns(saved, CLONE.NEWNET);
    }
  } finally {
    libc.close(saved);
  }
}

/**
 * The path by which other processes (`nsenter --net=…`) can enter a namespace held by `fd`.
 *
 * @example
 * ```ts
 * netnsPath(ns); // "/proc/1234/fd/17"
 * ```
 */
export function netnsPath(fd: number): string {
  return `/proc/${Deno.pid}/fd/${fd}`;
}
