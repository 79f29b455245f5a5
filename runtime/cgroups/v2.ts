/**
 * The cgroup v2 backend: one directory in the unified hierarchy.
 *
 * ```
 * /sys/fs/cgroup/                 cgroup.subtree_control: +cpu +cpuset +io +memory +pids …
 * └── ctr-<hash>/                 cgroup.subtree_control: the same (enabled on create)
 *     └── <id>/                   memory.max, memory.swap.max, memory.low, memory.events,
 *                                 cpu.max, cpu.weight, cpuset.cpus, pids.max, io.weight,
 *                                 cgroup.freeze, cgroup.events, cgroup.kill, cgroup.procs
 *                                 + a BPF_PROG_TYPE_CGROUP_DEVICE program for device rules
 * ```
 *
 * Controllers reach a cgroup only when every ancestor lists them in `cgroup.subtree_control`;
 * `create` enables what the hierarchy offers, from the mount point down. (On a hybrid host the
 * cgroup2 mount offers none; freezing, killing and device rules still work there.)
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { SyscallError } from "../../ffi/errno.ts";
import {
  type BackendOptions,
  type CgroupResources,
  type Cgroups,
  type CgroupStats,
  type DeviceRule,
  parseIoStat,
  parseKeyed,
  sleep,
  validateDeviceRules,
} from "./cgroups.ts";
import { type CgroupFs, kernelCgroupFs } from "./fs.ts";
import { V2_CONTROLLERS } from "./layout.ts";
import { blkioWeightToIoWeight, sharesToWeight } from "./resources.ts";
import { readNumber, removeParentIfEmpty, removeSubtree, subtreePids, waitFor } from "./tree.ts";
import { applyDeviceFilter } from "./device_filter.ts";

/** Options of the v2 backend. */
export interface V2Options extends BackendOptions {
  /** Attaches device rules to a cgroup directory (default: the BPF device filter). */
  attachDevices?: (dir: string, rules: DeviceRule[]) => void;
  /** Controllers to enable on the way down (default {@linkcode V2_CONTROLLERS}, those offered). */
  controllers?: readonly string[];
}

/**
 * A container's cgroup in a cgroup v2 hierarchy.
 *
 * @example
 * ```ts
 * const cg = new CgroupsV2("/sys/fs/cgroup", "ctr-abc/c1");
 * ```
 */
export class CgroupsV2 implements Cgroups {
  readonly version = 2 as const;
  readonly path: string;
  #mount: string;
  #fs: CgroupFs;
  #kill: (pid: number, signal: number) => void;
  #timeoutMs: number;
  #attachDevices: (dir: string, rules: DeviceRule[]) => void;
  #controllers: readonly string[];

  /**
   * @param mount the cgroup2 mount point.
   * @param path the cgroup path relative to it, e.g. `ctr-<hash>/<id>`.
   */
  constructor(
    mount: string,
    path: string,
    options: V2Options = {},
  ) {
    this.#mount = mount;
    this.path = path.replace(/^\/+|\/+$/g, "");
    this.#fs = options.fs ?? kernelCgroupFs;
    this.#kill = options.kill ?? ((pid, sig) => libc.kill(pid, sig));
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#attachDevices = options.attachDevices ?? applyDeviceFilter;
    this.#controllers = options.controllers ?? V2_CONTROLLERS;
  }

  get #dir(): string {
    return `${this.#mount}/${this.path}`;
  }

  dirs(): string[] {
    return [this.#dir];
  }

  pidsMaxFile(limit: number): { path: string; value: string } | null {
    const path = `${this.#dir}/pids.max`;
    return this.#fs.exists(path) ? { path, value: limit > 0 ? String(limit) : "max" } : null;
  }

  async create(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        this.#create();
        return;
      } catch (e) {
        // A concurrent destroy of the last sibling may remove the shared parent meanwhile.
        if (!(e instanceof SyscallError && e.code === "ENOENT" && attempt < 5)) throw e;
        await sleep(5);
      }
    }
  }

  #create(): void {
    const parts = this.path.split("/");
    let dir = this.#mount;
    for (let i = 0; i < parts.length; i++) {
      this.#enableControllers(dir);
      dir = `${dir}/${parts[i]}`;
      this.#fs.mkdir(dir);
    }
  }

  /** Enables in `dir`'s children every wanted controller that `dir` has. */
  #enableControllers(dir: string): void {
    const fs = this.#fs;
    if (!fs.exists(`${dir}/cgroup.controllers`)) return;
    const available = fs.read(`${dir}/cgroup.controllers`).split(/\s+/).filter((x) => x);
    const enabled = fs.exists(`${dir}/cgroup.subtree_control`)
      ? fs.read(`${dir}/cgroup.subtree_control`).split(/\s+/).filter((x) => x)
      : [];
    for (const c of this.#controllers) {
      if (!available.includes(c) || enabled.includes(c)) continue;
      // One controller per write: a refusal of one (e.g. a threaded subtree) must not keep the
      // others off; setResources names the missing controller if a limit needs it.
      try {
        fs.write(`${dir}/cgroup.subtree_control`, `+${c}`);
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
      }
    }
  }

  exists(): Promise<boolean> {
    return Promise.resolve(this.#fs.exists(this.#dir));
  }

  addProcess(pid: number): Promise<void> {
    this.#fs.write(`${this.#dir}/cgroup.procs`, String(pid));
    return Promise.resolve();
  }

  /** Writes a control file of a controller, naming the controller when it is not enabled. */
  #write(file: string, value: string): void {
    const path = `${this.#dir}/${file}`;
    if (!this.#fs.exists(path)) {
      const controller = file.split(".")[0];
      throw new SyscallError(
        `write ${JSON.stringify(value)} (the ${controller} controller is not enabled) to`,
        2,
        path,
      );
    }
    this.#fs.write(path, value);
  }

  #read(file: string): string {
    return this.#fs.read(`${this.#dir}/${file}`);
  }

  #has(file: string): boolean {
    return this.#fs.exists(`${this.#dir}/${file}`);
  }

  setResources(r: CgroupResources): Promise<string[]> {
    const warnings: string[] = [];
    if (r.memory !== undefined) this.#write("memory.max", r.memory > 0 ? String(r.memory) : "max");
    if (r.memorySwap !== undefined) {
      // v2 limits swap alone; Docker's --memory-swap is memory + swap.
      let value = "max";
      if (r.memorySwap > 0) {
        const memory = r.memory ??
          (this.#has("memory.max") ? readNumber(this.#fs, `${this.#dir}/memory.max`) : null);
        if (memory === null || memory <= 0) {
          throw new RangeError("You should always set the Memory limit when using Memoryswap limit");
        }
        if (r.memorySwap < memory) {
          throw new RangeError("Minimum memoryswap limit should be larger than memory limit, see usage");
        }
        value = String(r.memorySwap - memory);
      }
      if (this.#has("memory.swap.max")) this.#write("memory.swap.max", value);
      else {
        warnings.push(
          "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
        );
      }
    }
    if (r.memoryReservation !== undefined) {
      this.#write("memory.low", r.memoryReservation > 0 ? String(r.memoryReservation) : "0");
    }
    if (r.cpuQuota !== undefined || r.cpuPeriod !== undefined) {
      const [curQuota, curPeriod] = this.#has("cpu.max")
        ? this.#read("cpu.max").trim().split(/\s+/)
        : ["max", "100000"];
      const quota = r.cpuQuota === undefined ? curQuota : r.cpuQuota > 0 ? String(r.cpuQuota) : "max";
      const period = r.cpuPeriod === undefined ? curPeriod : String(r.cpuPeriod);
      this.#write("cpu.max", `${quota} ${period}`);
    }
    if (r.cpuShares !== undefined) {
      const weight = sharesToWeight(r.cpuShares);
      if (weight > 0) this.#write("cpu.weight", String(weight));
    }
    if (r.cpusetCpus !== undefined) this.#write("cpuset.cpus", r.cpusetCpus);
    if (r.cpusetMems !== undefined) this.#write("cpuset.mems", r.cpusetMems);
    if (r.pidsLimit !== undefined) this.#write("pids.max", r.pidsLimit > 0 ? String(r.pidsLimit) : "max");
    if (r.blkioWeight !== undefined) {
      // BFQ takes the v1 range as is; the generic io.weight needs the 1..10000 scale.
      if (this.#has("io.bfq.weight")) this.#write("io.bfq.weight", String(r.blkioWeight));
      else if (this.#has("io.weight")) {
        this.#write("io.weight", `default ${blkioWeightToIoWeight(r.blkioWeight)}`);
      } else {
        warnings.push(
          "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
        );
      }
    }
    if (r.devices !== undefined) {
      validateDeviceRules(r.devices);
      this.#attachDevices(this.#dir, r.devices);
    }
    return Promise.resolve(warnings);
  }

  #keyed(file: string): Record<string, number> {
    return this.#has(file) ? parseKeyed(this.#read(file)) : {};
  }

  #number(file: string, fallback: number | null): number | null {
    return this.#has(file) ? readNumber(this.#fs, `${this.#dir}/${file}`) : fallback;
  }

  async stats(): Promise<CgroupStats> {
    const mstat = this.#keyed("memory.stat");
    const cpu = this.#keyed("cpu.stat");
    return {
      memory: {
        usage: this.#number("memory.current", 0) ?? 0,
        limit: this.#number("memory.max", null),
        cache: mstat.file ?? 0,
        inactiveFile: mstat.inactive_file ?? 0,
        maxUsage: this.#number("memory.peak", null),
        oomKills: await this.oomKillCount(),
      },
      cpu: {
        usageNs: (cpu.usage_usec ?? 0) * 1000,
        userNs: (cpu.user_usec ?? 0) * 1000,
        systemNs: (cpu.system_usec ?? 0) * 1000,
        periods: cpu.nr_periods ?? 0,
        throttledPeriods: cpu.nr_throttled ?? 0,
        throttledNs: (cpu.throttled_usec ?? 0) * 1000,
      },
      pids: { current: this.#number("pids.current", 0) ?? 0, limit: this.#number("pids.max", null) },
      io: parseIoStat(this.#has("io.stat") ? this.#read("io.stat") : ""),
    };
  }

  #events(): Record<string, number> {
    return parseKeyed(this.#read("cgroup.events"));
  }

  async freeze(): Promise<void> {
    this.#write("cgroup.freeze", "1");
    try {
      await waitFor(
        () => this.#events().frozen === 1,
        "frozen",
        `${this.#dir}/cgroup.events`,
        this.#timeoutMs,
      );
    } catch (e) {
      this.#write("cgroup.freeze", "0");
      throw e;
    }
  }

  async thaw(): Promise<void> {
    this.#write("cgroup.freeze", "0");
    await waitFor(() => this.#events().frozen === 0, "thawed", `${this.#dir}/cgroup.events`, this.#timeoutMs);
  }

  isFrozen(): Promise<boolean> {
    return Promise.resolve(this.#has("cgroup.events") && this.#events().frozen === 1);
  }

  oomKillCount(): Promise<number> {
    // `oom_kill`, not `oom`: `oom` also counts OOM situations that ended without a kill
    // (containerd#6323).
    return Promise.resolve(this.#keyed("memory.events").oom_kill ?? 0);
  }

  async oomKilled(): Promise<boolean> {
    return (await this.oomKillCount()) > 0;
  }

  pids(): Promise<number[]> {
    return Promise.resolve(subtreePids(this.#fs, this.#dir));
  }

  async killAll(signal = 9): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    if (signal === 9 && this.#has("cgroup.kill")) {
      // Kernel 5.14+: kills the whole subtree atomically, forks in flight included.
      this.#write("cgroup.kill", "1");
    } else {
      const canFreeze = this.#has("cgroup.freeze") && signal === 9;
      if (canFreeze) await this.freeze().catch(() => {});
      for (const pid of await this.pids()) {
        try {
          this.#kill(pid, signal);
        } catch (e) {
          if (!(e instanceof SyscallError && e.code === "ESRCH")) throw e;
        }
      }
      // v2 frozen tasks die on SIGKILL without a thaw, but thawing keeps the state clean.
      if (canFreeze) await this.thaw();
      if (signal !== 9) return;
    }
    while ((await this.pids()).length > 0) {
      if (Date.now() >= deadline) throw new SyscallError("kill all processes of", 16, this.#dir);
      await sleep(5);
      if (!this.#has("cgroup.kill")) {
        for (const pid of await this.pids()) {
          try {
            this.#kill(pid, 9);
          } catch { /* gone */ }
        }
      }
    }
  }

  async destroy(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? this.#timeoutMs);
    if (this.#fs.exists(this.#dir) && (await this.isFrozen())) await this.thaw();
    await removeSubtree(this.#fs, this.#dir, deadline);
    const parent = this.path.includes("/") ? this.path.slice(0, this.path.lastIndexOf("/")) : null;
    if (parent) removeParentIfEmpty(this.#fs, `${this.#mount}/${parent}`);
  }
}
