/**
 * OOM notification for cgroup v1 memory controllers that lack the `oom_kill` counter (kernels
 * before 4.13): an eventfd registered through `cgroup.event_control` against
 * `memory.oom_control`. The kernel bumps the eventfd each time the cgroup hits OOM (and once
 * more when the cgroup is removed, which is why the count must be read before destroying it).
 *
 * The watcher belongs to the process that created it (it holds two fds); a supervisor that
 * restarts loses it, which is acceptable for this fallback only — current kernels count.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { O } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";

/**
 * Counts OOM events of one v1 memory cgroup.
 *
 * @example
 * ```ts
 * const w = OomWatcher.start("/sys/fs/cgroup/memory/ctr-abc/c1");
 * // … later, before removing the cgroup:
 * if (w.count() > 0) console.log("OOM");
 * w.close();
 * ```
 */
export class OomWatcher {
  #eventFd: number;
  #controlFd: number;
  #count = 0;

  private constructor(eventFd: number, controlFd: number) {
    this.#eventFd = eventFd;
    this.#controlFd = controlFd;
  }

  /** Registers an eventfd for OOM events of the memory cgroup at `dir`. */
  static start(dir: string): OomWatcher {
    const efd = libc.eventfd(0, O.NONBLOCK | O.CLOEXEC);
    let ofd = -1;
    try {
      ofd = libc.open(`${dir}/memory.oom_control`, O.RDONLY | O.CLOEXEC);
      const path = `${dir}/cgroup.event_control`;
      try {
        Deno.writeTextFileSync(path, `${efd} ${ofd}`, { create: false });
      } catch (e) {
        throw new SyscallError("write", (e as { code?: string }).code === "ENOENT" ? 2 : 22, path);
      }
      return new OomWatcher(efd, ofd);
    } catch (e) {
      libc.close(efd);
      if (ofd >= 0) libc.close(ofd);
      throw e;
    }
  }

  /** OOM events seen so far (reads whatever the kernel signalled since the last call). */
  count(): number {
    if (this.#eventFd < 0) return this.#count;
    const buf = new Uint8Array(8);
    try {
      if (libc.read(this.#eventFd, buf) === 8) {
        this.#count += Number(new DataView(buf.buffer).getBigUint64(0, true));
      }
    } catch (e) {
      if (!(e instanceof SyscallError && e.code === "EAGAIN")) throw e;
    }
    return this.#count;
  }

  /** Reads a last time and closes both fds. */
  close(): void {
    if (this.#eventFd < 0) return;
    this.count();
    libc.close(this.#eventFd);
    libc.close(this.#controlFd);
    this.#eventFd = this.#controlFd = -1;
  }
}
