/**
 * The vocabulary of ctr's cgroup layer: the {@linkcode Cgroups} interface every backend (v1,
 * v2) implements, the resource limits it applies, the counters it reads and the device rules
 * it enforces. Backends live in `v1.ts` and `v2.ts`; `mod.ts` picks one for the host.
 *
 * Where a container's cgroup lives (relative to each hierarchy's mount point):
 * ```
 * <mount>/                      e.g. /sys/fs/cgroup (v2) or /sys/fs/cgroup/memory (v1)
 * └── ctr-<12 hex of sha256(state root)>/    one per state root, so parallel roots never collide
 *     └── <container id>/                    the container's cgroup: its processes, its limits
 * ```
 *
 * @module
 */
import type { CgroupFs } from "./fs.ts";

/** One device cgroup rule, in the order given: later rules override earlier ones. */
export interface DeviceRule {
  /** Allow or deny. */
  allow: boolean;
  /** `a` all devices, `b` block, `c` character. */
  type: "a" | "b" | "c";
  /** Major number; undefined = any. */
  major?: number;
  /** Minor number; undefined = any. */
  minor?: number;
  /** Some of `r` (read), `w` (write), `m` (mknod). */
  access: string;
}

/**
 * Limits to apply. Fields left undefined are not touched. Sizes in bytes, times in
 * microseconds, with Docker's meanings (use `resources.ts` to derive them from flags).
 */
export interface CgroupResources {
  /** Memory limit (`--memory`); -1 = unlimited. */
  memory?: number;
  /** Memory + swap limit (`--memory-swap`, Docker's total); -1 = unlimited swap. */
  memorySwap?: number;
  /** Soft limit (`--memory-reservation`); v2 maps it to `memory.low`. */
  memoryReservation?: number;
  /** CFS quota per period (from `--cpus` or `--cpu-quota`); -1 = unlimited. */
  cpuQuota?: number;
  /** CFS period (default 100000). */
  cpuPeriod?: number;
  /** Relative CPU weight as v1 shares (`--cpu-shares`, 2..262144); v2 converts to `cpu.weight`. */
  cpuShares?: number;
  /** CPUs allowed (`--cpuset-cpus`), e.g. `0-1`. */
  cpusetCpus?: string;
  /** Memory nodes allowed (`--cpuset-mems`). */
  cpusetMems?: string;
  /** Maximum number of tasks (`--pids-limit`); 0 or -1 = unlimited. */
  pidsLimit?: number;
  /** Block I/O weight (`--blkio-weight`, 10..1000); refused where the kernel has no weight file. */
  blkioWeight?: number;
  /** Device access rules (v1 `devices.allow/deny`, v2 a BPF program). */
  devices?: DeviceRule[];
}

/** Counters as Docker's `stats` shows them. `null` = no limit / not available. */
export interface CgroupStats {
  memory: {
    /** Bytes charged, page cache included (v1 `memory.usage_in_bytes`, v2 `memory.current`). */
    usage: number;
    /** The limit, or null when unlimited. */
    limit: number | null;
    /** Page cache (v1 `total_cache`, v2 `file`). */
    cache: number;
    /** Inactive file pages; Docker shows `usage - inactiveFile` as the container's memory use. */
    inactiveFile: number;
    /** Peak usage where the kernel records it. */
    maxUsage: number | null;
    /** Times the OOM killer killed a process of this cgroup. */
    oomKills: number;
  };
  cpu: {
    /** Total CPU time in nanoseconds. */
    usageNs: number;
    /** User and system time in nanoseconds (v1 derives them from USER_HZ ticks). */
    userNs: number;
    systemNs: number;
    /** CFS periods elapsed, throttled periods and throttled time. */
    periods: number;
    throttledPeriods: number;
    throttledNs: number;
  };
  pids: {
    current: number;
    /** The limit, or null when unlimited. */
    limit: number | null;
  };
  /**
   * Bytes read from and written to block devices (v1 `blkio.throttle.io_service_bytes_recursive`,
   * v2 `io.stat`), summed over the devices. Note: v1 kernels of the 6.x series keep the
   * throttle counters only for cgroups that have a throttle rule.
   */
  io: { readBytes: number; writeBytes: number };
}

/**
 * One container's cgroup on one host hierarchy layout. All operations are idempotent where the
 * kernel allows it, and every failure is a `SyscallError` naming the control file.
 *
 * Typical life: `create` → `setResources` → (spawn the init) → `addProcess(init.pid)` → … →
 * `oomKilled` (read it BEFORE destroy) → `killAll` → `destroy`.
 *
 * @example
 * ```ts
 * const cg = await openCgroups({ root: "/var/lib/ctr", id: "abc" });
 * await cg.create();
 * await cg.setResources({ memory: 32 << 20, memorySwap: 32 << 20, pidsLimit: 20 });
 * await cg.addProcess(child.pid);
 * ```
 */
export interface Cgroups {
  /** 1 or 2. */
  readonly version: 1 | 2;
  /** The cgroup path relative to each hierarchy's mount point, e.g. `ctr-1a2b3c4d5e6f/abc`. */
  readonly path: string;
  /**
   * Directories of this cgroup: one per mounted controller hierarchy on v1, one on v2. The
   * container init may join itself by writing `0` to `<dir>/cgroup.procs` in each of them.
   */
  dirs(): string[];
  /**
   * Where the pids limit lives and what to write there, for a caller that must apply it late
   * (a Deno init has threads of its own that count against `pids.max` until it execs); null
   * when the pids controller is absent.
   */
  pidsMaxFile(limit: number): { path: string; value: string } | null;
  /** Creates the directories (and the per-root parent; on v2 enables controllers). */
  create(): Promise<void>;
  /** Whether the cgroup exists. */
  exists(): Promise<boolean>;
  /** Moves process `pid` (all its threads) in; 0 = the calling process. */
  addProcess(pid: number): Promise<void>;
  /** Applies limits. Returns warnings for limits the host cannot enforce (Docker prints them). */
  setResources(resources: CgroupResources): Promise<string[]>;
  /** Reads the counters. */
  stats(): Promise<CgroupStats>;
  /** Freezes every process and waits until the kernel reports the cgroup frozen. */
  freeze(): Promise<void>;
  /** Thaws and waits until the kernel reports the cgroup thawed. */
  thaw(): Promise<void>;
  /** Whether the cgroup is frozen. */
  isFrozen(): Promise<boolean>;
  /** OOM kills recorded by the kernel (`oom_kill` counter); read it before `destroy`. */
  oomKillCount(): Promise<number>;
  /** Whether the OOM killer killed a process of this cgroup. */
  oomKilled(): Promise<boolean>;
  /** Host pids of the processes in the cgroup. */
  pids(): Promise<number[]>;
  /** Signals every process (SIGKILL by default: also waits until the cgroup is empty). */
  killAll(signal?: number): Promise<void>;
  /**
   * Removes the cgroup (and the per-root parent when it was the last child), retrying while
   * exiting processes drain. Fails with EBUSY if processes remain after `timeoutMs`.
   */
  destroy(options?: { timeoutMs?: number }): Promise<void>;
}

/** `memory.limit_in_bytes` reads this (PAGE_COUNTER_MAX × 4096) or more when unlimited on v1. */
export const V1_UNLIMITED = 0x7ffffffffffff000;

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Parses a flat keyed file (`memory.stat`, `cpu.stat`, `memory.events`) into numbers.
 *
 * @example
 * ```ts
 * parseKeyed("oom 1\noom_kill 1\n").oom_kill; // 1
 * ```
 */
export function parseKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/**
 * Sums the per-device `Read` and `Write` lines of v1's `blkio.throttle.io_service_bytes`
 * (`MAJ:MIN Read N`, …, `Total N`).
 *
 * @example
 * ```ts
 * parseBlkioServiceBytes("8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n");
 * // { readBytes: 4096, writeBytes: 512 }
 * ```
 */
export function parseBlkioServiceBytes(text: string): { readBytes: number; writeBytes: number } {
  let readBytes = 0, writeBytes = 0;
  for (const line of text.split("\n")) {
    const [dev, op, v] = line.trim().split(/\s+/);
    if (!dev?.includes(":") || !/^\d+$/.test(v ?? "")) continue;
    if (op === "Read") readBytes += Number(v);
    else if (op === "Write") writeBytes += Number(v);
  }
  return { readBytes, writeBytes };
}

/**
 * Sums `rbytes` and `wbytes` over the devices of v2's `io.stat`
 * (`MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`).
 *
 * @example
 * ```ts
 * parseIoStat("8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n");
 * // { readBytes: 4096, writeBytes: 512 }
 * ```
 */
export function parseIoStat(text: string): { readBytes: number; writeBytes: number } {
  let readBytes = 0, writeBytes = 0;
  for (const line of text.split("\n")) {
    for (const m of line.matchAll(/\b([rw])bytes=(\d+)/g)) {
      if (m[1] === "r") readBytes += Number(m[2]);
      else writeBytes += Number(m[2]);
    }
  }
  return { readBytes, writeBytes };
}

/**
 * Formats a device rule as v1's `devices.allow`/`devices.deny` take it: `c 1:3 rwm`.
 *
 * @example
 * ```ts
 * formatDeviceRule({ allow: true, type: "c", major: 1, minor: 3, access: "rwm" }); // "c 1:3 rwm"
 * ```
 */
export function formatDeviceRule(rule: DeviceRule): string {
  const n = (x: number | undefined) => (x === undefined || x < 0 ? "*" : String(x));
  return `${rule.type} ${n(rule.major)}:${n(rule.minor)} ${rule.access}`;
}

/**
 * Validates device rules, throwing a `TypeError` naming the bad rule.
 *
 * @example
 * ```ts
 * validateDeviceRules([{ allow: true, type: "c", major: 1, minor: 3, access: "rw" }]);
 * ```
 */
export function validateDeviceRules(rules: DeviceRule[]): void {
  rules.forEach((r, i) => {
    if (!["a", "b", "c"].includes(r.type)) throw new TypeError(`Invalid device rule ${i}: type ${r.type}`);
    if (!/^[rwm]{1,3}$/.test(r.access) || new Set(r.access).size !== r.access.length) {
      throw new TypeError(`Invalid device rule ${i}: access ${JSON.stringify(r.access)}`);
    }
    for (const n of [r.major, r.minor]) {
      if (n !== undefined && (!Number.isInteger(n) || n < -1 || n > 0xffffffff)) {
        throw new TypeError(`Invalid device rule ${i}: number ${n}`);
      }
    }
  });
}

/** What a backend needs besides its hierarchy: injectable for the fake-tree tests. */
export interface BackendOptions {
  /** File operations (default: the kernel's cgroupfs). */
  fs?: CgroupFs;
  /** Sends a signal to a host pid (default: kill(2); ESRCH is ignored by the caller). */
  kill?: (pid: number, signal: number) => void;
  /** How long freeze/thaw/kill wait for the kernel, in ms (default 10000). */
  timeoutMs?: number;
}
