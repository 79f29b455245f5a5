/**
 * INTERIM cgroup support for the container lifecycle, until the shared `runtime/cgroups/`
 * module (v1 + v2 behind one interface, owned by the kernel engineer) lands; then this file
 * is replaced by an adapter onto it. Only what the lifecycle needs: create with limits, join,
 * OOM and usage counters, freeze, list and kill processes, remove.
 *
 * Layout (one directory per container under a parent named after the state root):
 * ```text
 * cgroup v1:  /sys/fs/cgroup/<controller>/<parent>/<id>/   for memory, cpu, cpuacct, pids, freezer
 * cgroup v2:  /sys/fs/cgroup/<parent>/<id>/                 controllers enabled in the parents
 * ```
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";

/** Resource limits (Docker's HostConfig names and units). */
export interface CgroupLimits {
  /** Bytes; 0 = unlimited. */
  memory?: number;
  /** Memory + swap in bytes; -1 = unlimited swap; 0 = twice `memory` (Docker's default). */
  memorySwap?: number;
  /** CPUs in billionths (`--cpus 0.5` → 5e8). */
  nanoCpus?: number;
  /** Relative weight (`--cpu-shares`, 2…262144). */
  cpuShares?: number;
  /** Max tasks; 0 or -1 = unlimited. */
  pidsLimit?: number;
}

/** Counters read from a container's cgroup. */
export interface CgroupStats {
  /** Total CPU time in nanoseconds. */
  cpuUsageNs: number;
  /** Memory in use in bytes (without page cache, as `docker stats` shows). */
  memoryUsage: number;
  /** Memory limit in bytes (the host's memory when unlimited). */
  memoryLimit: number;
  /** Number of tasks. */
  pids: number;
  pidsLimit: number;
}

/** One container's cgroup, whichever the version. */
export interface ContainerCgroup {
  /** cgroup version of the host. */
  readonly version: 1 | 2;
  /** Creates the cgroup and applies limits; removes what it made if a write fails. */
  create(limits: CgroupLimits): void;
  /** Moves a process (all its threads) in. */
  join(pid: number): void;
  /** The file holding the pids limit and the value to write there (applied by the init at exec). */
  pidsMax(limits: CgroupLimits): { path: string; value: string } | undefined;
  /** Whether the kernel's OOM killer killed a task of this cgroup. */
  oomKilled(): boolean;
  stats(): CgroupStats;
  freeze(): Promise<void>;
  thaw(): void;
  /** Host pids of every process in the cgroup. */
  pids(): number[];
  /** Sends SIGKILL to every process in the cgroup. */
  killAll(): void;
  /** Removes the cgroup (waits briefly for exiting tasks). */
  destroy(): Promise<void>;
  /** cgroup v1 controllers to show inside the container; undefined on v2. */
  readonly v1Controllers?: string[];
}

const CGROUP_ROOT = "/sys/fs/cgroup";
const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "pids", "freezer"];
const CGROUP2_MAGIC = 0x63677270;

/** The host's cgroup version (2 when /sys/fs/cgroup is a cgroup2 mount). */
export function cgroupVersion(): 1 | 2 {
  try {
    return libc.statfsType(CGROUP_ROOT) === CGROUP2_MAGIC ? 2 : 1;
  } catch {
    return 1;
  }
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

function write(path: string, value: string): void {
  try {
    Deno.writeTextFileSync(path, value);
  } catch (e) {
    throw new Error(`Cannot write "${value}" to ${path}: ${(e as Error).message}`);
  }
}

function readNumber(path: string): number {
  const t = readText(path)?.trim();
  if (!t || t === "max") return 0;
  return Number(t);
}

function statField(text: string | undefined, key: string): number {
  const m = text?.match(new RegExp(`^${key} (\\d+)$`, "m"));
  return m ? Number(m[1]) : 0;
}

function hostMemory(): number {
  const m = readText("/proc/meminfo")?.match(/^MemTotal:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

async function rmdirRetry(path: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      Deno.removeSync(path);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      if (i === 49) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function pidsIn(file: string): number[] {
  return (readText(file) ?? "").split("\n").filter((l) => l).map(Number);
}

class CgroupV1 implements ContainerCgroup {
  readonly version = 1 as const;
  readonly v1Controllers = V1_CONTROLLERS;
  #rel: string;
  constructor(rel: string) {
    this.#rel = rel;
  }
  #dir(controller: string): string {
    return `${CGROUP_ROOT}/${controller}/${this.#rel}`;
  }
  create(limits: CgroupLimits): void {
    const made: string[] = [];
    try {
      for (const c of V1_CONTROLLERS) {
        const d = this.#dir(c);
        Deno.mkdirSync(d, { recursive: true });
        made.push(d);
      }
      const mem = this.#dir("memory");
      if (limits.memory && limits.memory > 0) {
        write(`${mem}/memory.limit_in_bytes`, String(limits.memory));
        const swap = limits.memorySwap ?? 0;
        const memsw = swap === -1 ? -1 : swap > 0 ? swap : limits.memory * 2;
        try {
          write(`${mem}/memory.memsw.limit_in_bytes`, String(memsw));
        } catch (e) {
          // Without swap accounting the file does not exist; the memory limit still holds.
          if (readText(`${mem}/memory.memsw.limit_in_bytes`) !== undefined) throw e;
        }
      }
      const cpu = this.#dir("cpu");
      if (limits.nanoCpus && limits.nanoCpus > 0) {
        write(`${cpu}/cpu.cfs_period_us`, "100000");
        write(`${cpu}/cpu.cfs_quota_us`, String(Math.max(1000, Math.round(limits.nanoCpus / 1e4))));
      }
      if (limits.cpuShares && limits.cpuShares > 0) write(`${cpu}/cpu.shares`, String(limits.cpuShares));
    } catch (e) {
      for (const d of made.reverse()) {
        try {
          Deno.removeSync(d);
        } catch { /* best effort */ }
      }
      throw e;
    }
  }
  join(pid: number): void {
    for (const c of V1_CONTROLLERS) write(`${this.#dir(c)}/cgroup.procs`, String(pid));
  }
  pidsMax(limits: CgroupLimits) {
    if (!limits.pidsLimit || limits.pidsLimit <= 0) return undefined;
    return { path: `${this.#dir("pids")}/pids.max`, value: String(limits.pidsLimit) };
  }
  oomKilled(): boolean {
    const mem = this.#dir("memory");
    const text = readText(`${mem}/memory.oom_control`);
    if (text && /^oom_kill \d+$/m.test(text)) return statField(text, "oom_kill") > 0;
    // Kernels before 4.13 have no oom_kill counter: hitting the limit is the best sign left.
    return readNumber(`${mem}/memory.failcnt`) > 0;
  }
  stats(): CgroupStats {
    const mem = this.#dir("memory");
    const usage = readNumber(`${mem}/memory.usage_in_bytes`);
    const stat = readText(`${mem}/memory.stat`);
    const cache = statField(stat, "total_inactive_file");
    let limit = readNumber(`${mem}/memory.limit_in_bytes`);
    const host = hostMemory();
    if (!limit || limit > host) limit = host;
    const pidsMax = readText(`${this.#dir("pids")}/pids.max`)?.trim();
    return {
      cpuUsageNs: readNumber(`${this.#dir("cpuacct")}/cpuacct.usage`),
      memoryUsage: Math.max(0, usage - cache),
      memoryLimit: limit,
      pids: readNumber(`${this.#dir("pids")}/pids.current`),
      pidsLimit: pidsMax && pidsMax !== "max" ? Number(pidsMax) : 0,
    };
  }
  async freeze(): Promise<void> {
    const f = `${this.#dir("freezer")}/freezer.state`;
    write(f, "FROZEN");
    for (let i = 0; i < 200; i++) {
      if (readText(f)?.trim() === "FROZEN") return;
      await new Promise((r) => setTimeout(r, 5));
      write(f, "FROZEN");
    }
    throw new Error(`Cannot freeze ${this.#rel}`);
  }
  thaw(): void {
    write(`${this.#dir("freezer")}/freezer.state`, "THAWED");
  }
  pids(): number[] {
    return pidsIn(`${this.#dir("pids")}/cgroup.procs`);
  }
  killAll(): void {
    // A frozen task cannot die: thaw first.
    try {
      this.thaw();
    } catch { /* no freezer */ }
    for (const pid of this.pids()) {
      try {
        libc.kill(pid, 9);
      } catch { /* gone */ }
    }
  }
  async destroy(): Promise<void> {
    for (const c of V1_CONTROLLERS) await rmdirRetry(this.#dir(c));
  }
}

class CgroupV2 implements ContainerCgroup {
  readonly version = 2 as const;
  #rel: string;
  constructor(rel: string) {
    this.#rel = rel;
  }
  get #dir(): string {
    return `${CGROUP_ROOT}/${this.#rel}`;
  }
  create(limits: CgroupLimits): void {
    // Enable the controllers on the way down (each parent must delegate to its children).
    const parts = this.#rel.split("/");
    let path = CGROUP_ROOT;
    const made: string[] = [];
    try {
      for (const p of parts) {
        const available = (readText(`${path}/cgroup.controllers`) ?? "").split(/\s+/);
        const wanted = ["cpu", "memory", "pids"].filter((c) => available.includes(c));
        if (wanted.length) {
          try {
            write(`${path}/cgroup.subtree_control`, wanted.map((c) => `+${c}`).join(" "));
          } catch { /* already enabled or not allowed here; limits below will tell */ }
        }
        path = `${path}/${p}`;
        try {
          Deno.mkdirSync(path);
          made.push(path);
        } catch (e) {
          if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        }
      }
      const d = this.#dir;
      if (limits.memory && limits.memory > 0) {
        write(`${d}/memory.max`, String(limits.memory));
        const swap = limits.memorySwap ?? 0;
        const swapMax = swap === -1
          ? "max"
          : String(Math.max(0, (swap > 0 ? swap : limits.memory * 2) - limits.memory));
        try {
          write(`${d}/memory.swap.max`, swapMax);
        } catch { /* no swap controller */ }
      }
      if (limits.nanoCpus && limits.nanoCpus > 0) {
        write(`${d}/cpu.max`, `${Math.max(1000, Math.round(limits.nanoCpus / 1e4))} 100000`);
      }
      if (limits.cpuShares && limits.cpuShares > 0) {
        write(`${d}/cpu.weight`, String(Math.round(1 + ((limits.cpuShares - 2) * 9999) / 262142)));
      }
    } catch (e) {
      for (const m of made.reverse()) {
        try {
          Deno.removeSync(m);
        } catch { /* best effort */ }
      }
      throw e;
    }
  }
  join(pid: number): void {
    write(`${this.#dir}/cgroup.procs`, String(pid));
  }
  pidsMax(limits: CgroupLimits) {
    if (!limits.pidsLimit || limits.pidsLimit <= 0) return undefined;
    return { path: `${this.#dir}/pids.max`, value: String(limits.pidsLimit) };
  }
  oomKilled(): boolean {
    return statField(readText(`${this.#dir}/memory.events`), "oom_kill") > 0;
  }
  stats(): CgroupStats {
    const d = this.#dir;
    const usage = readNumber(`${d}/memory.current`);
    const cache = statField(readText(`${d}/memory.stat`), "inactive_file");
    let limit = readNumber(`${d}/memory.max`);
    const host = hostMemory();
    if (!limit || limit > host) limit = host;
    const pidsMax = readText(`${d}/pids.max`)?.trim();
    return {
      cpuUsageNs: statField(readText(`${d}/cpu.stat`), "usage_usec") * 1000,
      memoryUsage: Math.max(0, usage - cache),
      memoryLimit: limit,
      pids: readNumber(`${d}/pids.current`),
      pidsLimit: pidsMax && pidsMax !== "max" ? Number(pidsMax) : 0,
    };
  }
  async freeze(): Promise<void> {
    write(`${this.#dir}/cgroup.freeze`, "1");
    for (let i = 0; i < 200; i++) {
      if (/^frozen 1$/m.test(readText(`${this.#dir}/cgroup.events`) ?? "")) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`Cannot freeze ${this.#rel}`);
  }
  thaw(): void {
    write(`${this.#dir}/cgroup.freeze`, "0");
  }
  pids(): number[] {
    return pidsIn(`${this.#dir}/cgroup.procs`);
  }
  killAll(): void {
    try {
      write(`${this.#dir}/cgroup.kill`, "1");
      return;
    } catch { /* older kernel */ }
    for (const pid of this.pids()) {
      try {
        libc.kill(pid, 9);
      } catch { /* gone */ }
    }
  }
  async destroy(): Promise<void> {
    await rmdirRetry(this.#dir);
  }
}

/**
 * The cgroup `<parent>/<name>` of this host's cgroup version.
 *
 * @example
 * ```ts
 * const cg = containerCgroup("ctr-1a2b3c4d", id);
 * cg.create({ memory: 32 << 20 });
 * ```
 */
export function containerCgroup(parent: string, name: string): ContainerCgroup {
  const rel = `${parent}/${name}`;
  return cgroupVersion() === 2 ? new CgroupV2(rel) : new CgroupV1(rel);
}

/** Every container cgroup under `parent` (names), for cleanup. */
export function listCgroups(parent: string): string[] {
  const dir = cgroupVersion() === 2 ? `${CGROUP_ROOT}/${parent}` : `${CGROUP_ROOT}/pids/${parent}`;
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Removes the (empty) parent cgroup directories. */
export function removeCgroupParent(parent: string): void {
  const dirs = cgroupVersion() === 2
    ? [`${CGROUP_ROOT}/${parent}`]
    : V1_CONTROLLERS.map((c) => `${CGROUP_ROOT}/${c}/${parent}`);
  for (const d of dirs) {
    try {
      Deno.removeSync(d);
    } catch { /* busy or absent */ }
  }
}
