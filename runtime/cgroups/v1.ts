/**
 * The cgroup v1 backend: one directory per mounted controller hierarchy.
 *
 * ```
 * /sys/fs/cgroup/
 * ├── memory/ctr-<hash>/<id>/    memory.limit_in_bytes, memory.memsw.limit_in_bytes, memory.oom_control…
 * ├── cpu/ctr-<hash>/<id>/       cpu.cfs_quota_us, cpu.cfs_period_us, cpu.shares
 * ├── cpuacct/ctr-<hash>/<id>/   cpuacct.usage, cpuacct.stat
 * ├── cpuset/ctr-<hash>/<id>/    cpuset.cpus, cpuset.mems (copied from the parent on create)
 * ├── pids/ctr-<hash>/<id>/      pids.max, pids.current
 * ├── freezer/ctr-<hash>/<id>/   freezer.state
 * ├── devices/ctr-<hash>/<id>/   devices.allow, devices.deny
 * └── blkio/ctr-<hash>/<id>/     blkio.weight (only with a weight-aware I/O scheduler)
 * ```
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
  formatDeviceRule,
  parseBlkioServiceBytes,
  parseKeyed,
  sleep,
  V1_UNLIMITED,
  validateDeviceRules,
} from "./cgroups.ts";
import { type CgroupFs, kernelCgroupFs } from "./fs.ts";
import { readNumber, removeParentIfEmpty, removeSubtree, subtreePids, waitFor } from "./tree.ts";
import { OomWatcher } from "./oom_watch.ts";

/** USER_HZ: the unit of `cpuacct.stat` (100 on every Linux architecture ctr runs on). */
const USER_HZ = 100;

/** Where to look for a process list, in order of preference. */
const PIDS_ORDER = ["pids", "memory", "freezer", "cpu", "cpuacct", "cpuset", "devices", "blkio"];

/**
 * A container's cgroup on v1 hierarchies.
 *
 * @example
 * ```ts
 * const cg = new CgroupsV1({ memory: "/sys/fs/cgroup/memory" }, "ctr-abc/c1");
 * ```
 */
export class CgroupsV1 implements Cgroups {
  readonly version = 1 as const;
  readonly path: string;
  #mounts: Record<string, string>;
  #fs: CgroupFs;
  #kill: (pid: number, signal: number) => void;
  #timeoutMs: number;
  #oomWatcher: OomWatcher | null = null;

  /**
   * @param mounts controller → mount point of its hierarchy (see `detectCgroupLayout`).
   * @param path the cgroup path relative to each mount point, e.g. `ctr-<hash>/<id>`.
   */
  constructor(mounts: Record<string, string>, path: string, options: BackendOptions = {}) {
    this.#mounts = mounts;
    this.path = path.replace(/^\/+|\/+$/g, "");
    this.#fs = options.fs ?? kernelCgroupFs;
    this.#kill = options.kill ?? ((pid, sig) => libc.kill(pid, sig));
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  #dir(controller: string): string | null {
    const m = this.#mounts[controller];
    return m ? `${m}/${this.path}` : null;
  }

  #need(controller: string, what: string): string {
    const d = this.#dir(controller);
    if (!d) throw new Error(`Cannot set ${what}: the cgroup v1 ${controller} controller is not mounted`);
    return d;
  }

  /** Unique mount points (co-mounted controllers such as cpu,cpuacct share one). */
  #uniqueMounts(): string[] {
    return [...new Set(Object.values(this.#mounts))];
  }

  dirs(): string[] {
    return this.#uniqueMounts().map((m) => `${m}/${this.path}`);
  }

  pidsMaxFile(limit: number): { path: string; value: string } | null {
    const d = this.#dir("pids");
    return d ? { path: `${d}/pids.max`, value: limit > 0 ? String(limit) : "max" } : null;
  }

  async create(): Promise<void> {
    // A concurrent destroy of the last sibling may remove the shared parent between our two
    // mkdirs (ENOENT); trying again recreates it.
    for (let attempt = 0;; attempt++) {
      try {
        for (const mount of this.#uniqueMounts()) this.#createIn(mount);
        return;
      } catch (e) {
        if (!(e instanceof SyscallError && e.code === "ENOENT" && attempt < 5)) throw e;
        await sleep(5);
      }
    }
  }

  #createIn(mount: string): void {
    const isCpuset = this.#mounts.cpuset === mount;
    let dir = mount;
    for (const part of this.path.split("/")) {
      const parent = dir;
      dir = `${dir}/${part}`;
      this.#fs.mkdir(dir);
      // A new v1 cpuset starts with empty cpus/mems and refuses tasks until they are set:
      // inherit the parent's.
      if (isCpuset) {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          const mine = this.#fs.exists(`${dir}/${f}`) ? this.#fs.read(`${dir}/${f}`).trim() : "";
          if (mine === "" && this.#fs.exists(`${parent}/${f}`)) {
            this.#fs.write(`${dir}/${f}`, this.#fs.read(`${parent}/${f}`).trim());
          }
        }
      }
    }
    if (this.#mounts.memory === mount) this.#startOomFallback(dir);
  }

  /** Kernels before 4.13 have no `oom_kill` counter in memory.oom_control: listen on an eventfd. */
  #startOomFallback(dir: string): void {
    if (this.#oomWatcher || this.#fs !== kernelCgroupFs) return;
    const text = this.#fs.exists(`${dir}/memory.oom_control`)
      ? this.#fs.read(`${dir}/memory.oom_control`)
      : "";
    if (text && !("oom_kill" in parseKeyed(text))) this.#oomWatcher = OomWatcher.start(dir);
  }

  /** Forces the eventfd OOM listener (the fallback for kernels without the counter); for tests. */
  startOomWatcher(): void {
    const dir = this.#need("memory", "an OOM watcher");
    this.#oomWatcher ??= OomWatcher.start(dir);
  }

  exists(): Promise<boolean> {
    return Promise.resolve(this.dirs().every((d) => this.#fs.exists(d)));
  }

  addProcess(pid: number): Promise<void> {
    for (const d of this.dirs()) this.#fs.write(`${d}/cgroup.procs`, String(pid));
    return Promise.resolve();
  }

  setResources(r: CgroupResources): Promise<string[]> {
    const warnings: string[] = [];
    const fs = this.#fs;
    if (r.memory !== undefined || r.memorySwap !== undefined) {
      const d = this.#need("memory", "a memory limit");
      const memsw = `${d}/memory.memsw.limit_in_bytes`;
      const hasSwap = fs.exists(memsw);
      if (r.memorySwap !== undefined && !hasSwap) {
        warnings.push(
          "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
        );
      }
      const writeMem = () =>
        r.memory !== undefined && fs.write(`${d}/memory.limit_in_bytes`, String(r.memory));
      const writeSwap = () => r.memorySwap !== undefined && hasSwap && fs.write(memsw, String(r.memorySwap));
      // The kernel keeps memsw ≥ memory at every step: raise memsw first when the new memory
      // limit would exceed the current memsw limit, lower memory first otherwise.
      const curSwap = hasSwap ? (readNumber(fs, memsw) ?? Infinity) : Infinity;
      const newMem = r.memory === undefined || r.memory < 0 ? Infinity : r.memory;
      if (newMem > curSwap) {
        writeSwap();
        writeMem();
      } else {
        writeMem();
        writeSwap();
      }
    }
    if (r.memoryReservation !== undefined) {
      const d = this.#need("memory", "a memory reservation");
      fs.write(`${d}/memory.soft_limit_in_bytes`, String(r.memoryReservation));
    }
    if (r.cpuPeriod !== undefined || r.cpuQuota !== undefined) {
      const d = this.#need("cpu", "a CPU quota");
      if (r.cpuPeriod !== undefined) fs.write(`${d}/cpu.cfs_period_us`, String(r.cpuPeriod));
      if (r.cpuQuota !== undefined) {
        fs.write(`${d}/cpu.cfs_quota_us`, String(r.cpuQuota > 0 ? r.cpuQuota : -1));
      }
    }
    if (r.cpuShares !== undefined) {
      fs.write(`${this.#need("cpu", "CPU shares")}/cpu.shares`, String(r.cpuShares));
    }
    if (r.cpusetCpus !== undefined) fs.write(`${this.#need("cpuset", "a cpuset")}/cpuset.cpus`, r.cpusetCpus);
    if (r.cpusetMems !== undefined) fs.write(`${this.#need("cpuset", "a cpuset")}/cpuset.mems`, r.cpusetMems);
    if (r.pidsLimit !== undefined) {
      const d = this.#need("pids", "a pids limit");
      fs.write(`${d}/pids.max`, r.pidsLimit > 0 ? String(r.pidsLimit) : "max");
    }
    if (r.blkioWeight !== undefined) {
      const d = this.#dir("blkio");
      const file = d && [`${d}/blkio.weight`, `${d}/blkio.bfq.weight`].find((f) => fs.exists(f));
      if (file) fs.write(file, String(r.blkioWeight));
      else {
        warnings.push(
          "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
        );
      }
    }
    if (r.devices !== undefined) {
      validateDeviceRules(r.devices);
      const d = this.#need("devices", "device rules");
      let rules = r.devices;
      // v1 keeps a default (allow or deny everything) plus exceptions: start from the default the
      // first rule names when it covers everything, from deny-all otherwise.
      const first = rules[0];
      if (first && first.type === "a" && first.access.length === 3 && first.major === undefined) {
        fs.write(`${d}/${first.allow ? "devices.allow" : "devices.deny"}`, "a");
        rules = rules.slice(1);
      } else {
        fs.write(`${d}/devices.deny`, "a");
      }
      for (const rule of rules) {
        fs.write(`${d}/${rule.allow ? "devices.allow" : "devices.deny"}`, formatDeviceRule(rule));
      }
    }
    return Promise.resolve(warnings);
  }

  #readOr(controller: string, file: string, fallback: number | null): number | null {
    const d = this.#dir(controller);
    if (!d || !this.#fs.exists(`${d}/${file}`)) return fallback;
    return readNumber(this.#fs, `${d}/${file}`);
  }

  #text(controller: string, file: string): string {
    const d = this.#dir(controller);
    return d && this.#fs.exists(`${d}/${file}`) ? this.#fs.read(`${d}/${file}`) : "";
  }

  #keyed(controller: string, file: string): Record<string, number> {
    const d = this.#dir(controller);
    if (!d || !this.#fs.exists(`${d}/${file}`)) return {};
    return parseKeyed(this.#fs.read(`${d}/${file}`));
  }

  async stats(): Promise<CgroupStats> {
    const mstat = this.#keyed("memory", "memory.stat");
    const limit = this.#readOr("memory", "memory.limit_in_bytes", null);
    const acct = this.#keyed("cpuacct", "cpuacct.stat");
    const cpuStat = this.#keyed("cpu", "cpu.stat");
    const pidsMax = this.#dir("pids") && this.#fs.exists(`${this.#dir("pids")}/pids.max`)
      ? readNumber(this.#fs, `${this.#dir("pids")}/pids.max`)
      : null;
    return {
      memory: {
        usage: this.#readOr("memory", "memory.usage_in_bytes", 0)!,
        limit: limit === null || limit >= V1_UNLIMITED ? null : limit,
        cache: mstat.total_cache ?? mstat.cache ?? 0,
        inactiveFile: mstat.total_inactive_file ?? mstat.inactive_file ?? 0,
        maxUsage: this.#readOr("memory", "memory.max_usage_in_bytes", null),
        oomKills: await this.oomKillCount(),
      },
      cpu: {
        usageNs: this.#readOr("cpuacct", "cpuacct.usage", 0)!,
        userNs: ((acct.user ?? 0) * 1e9) / USER_HZ,
        systemNs: ((acct.system ?? 0) * 1e9) / USER_HZ,
        periods: cpuStat.nr_periods ?? 0,
        throttledPeriods: cpuStat.nr_throttled ?? 0,
        throttledNs: cpuStat.throttled_time ?? 0,
      },
      pids: { current: this.#readOr("pids", "pids.current", 0)!, limit: pidsMax },
      io: parseBlkioServiceBytes(this.#text("blkio", "blkio.throttle.io_service_bytes_recursive")),
    };
  }

  #freezerState(): string {
    const d = this.#need("freezer", "the freezer state");
    return this.#fs.read(`${d}/freezer.state`).trim();
  }

  async freeze(): Promise<void> {
    const d = this.#need("freezer", "the freezer state");
    // Writing FROZEN starts freezing; the state reads FREEZING until every task has stopped.
    this.#fs.write(`${d}/freezer.state`, "FROZEN");
    try {
      await waitFor(() => this.#freezerState() === "FROZEN", "FROZEN", `${d}/freezer.state`, this.#timeoutMs);
    } catch (e) {
      this.#fs.write(`${d}/freezer.state`, "THAWED");
      throw e;
    }
  }

  async thaw(): Promise<void> {
    const d = this.#need("freezer", "the freezer state");
    this.#fs.write(`${d}/freezer.state`, "THAWED");
    await waitFor(() => this.#freezerState() === "THAWED", "THAWED", `${d}/freezer.state`, this.#timeoutMs);
  }

  isFrozen(): Promise<boolean> {
    return Promise.resolve(this.#dir("freezer") !== null && this.#freezerState() === "FROZEN");
  }

  oomKillCount(): Promise<number> {
    const counter = this.#keyed("memory", "memory.oom_control").oom_kill;
    if (counter !== undefined && this.#oomWatcher === null) return Promise.resolve(counter);
    return Promise.resolve(this.#oomWatcher?.count() ?? counter ?? 0);
  }

  async oomKilled(): Promise<boolean> {
    return (await this.oomKillCount()) > 0;
  }

  #pidsDir(): string | null {
    for (const c of PIDS_ORDER) {
      const d = this.#dir(c);
      if (d) return d;
    }
    return null;
  }

  pids(): Promise<number[]> {
    const d = this.#pidsDir();
    return Promise.resolve(d ? subtreePids(this.#fs, d) : []);
  }

  async killAll(signal = 9): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    const canFreeze = this.#dir("freezer") !== null && this.#fs.exists(this.#dir("freezer")!);
    for (;;) {
      const pids = await this.pids();
      if (pids.length === 0) return;
      // Frozen tasks cannot fork between our reading the list and signalling it; v1 frozen
      // tasks act on SIGKILL only once thawed, so thaw right after.
      const freeze = canFreeze && signal === 9;
      if (freeze) await this.freeze().catch(() => {});
      for (const pid of pids) {
        try {
          this.#kill(pid, signal);
        } catch (e) {
          if (!(e instanceof SyscallError && e.code === "ESRCH")) throw e;
        }
      }
      if (freeze) await this.thaw();
      if (signal !== 9) return;
      if (Date.now() >= deadline) {
        throw new SyscallError("kill all processes of", 16, this.#pidsDir() ?? this.path);
      }
      await sleep(5);
    }
  }

  async destroy(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? this.#timeoutMs);
    const freezer = this.#dir("freezer");
    if (freezer && this.#fs.exists(freezer) && this.#freezerState() !== "THAWED") await this.thaw();
    this.#oomWatcher?.close();
    this.#oomWatcher = null;
    for (const d of this.dirs()) await removeSubtree(this.#fs, d, deadline);
    const parent = this.path.includes("/") ? this.path.slice(0, this.path.lastIndexOf("/")) : null;
    if (parent) { for (const m of this.#uniqueMounts()) removeParentIfEmpty(this.#fs, `${m}/${parent}`); }
  }
}
