/**
 * A container's cgroup as the lifecycle uses it, over the shared {@linkcode Cgroups} layer
 * (`runtime/cgroups/`, v1 and v2): Docker's resource flags and device rules applied at
 * create, the pids limit handed to the init to write at exec (a Deno init has threads of its
 * own that would count against it), OOM read before removal, and the hierarchies the
 * container's own `/sys/fs/cgroup` shows.
 *
 * @module
 */
import {
  type CgroupLayout,
  type Cgroups,
  detectCgroupLayout,
  dockerResources,
  openCgroups,
} from "./cgroups/mod.ts";
import { DEFAULT_DEVICE_RULES, PRIVILEGED_DEVICE_RULES } from "./security/devices.ts";

/** Docker's resource settings of a container (HostConfig names). */
export interface ContainerLimits {
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  CpuShares: number;
  PidsLimit: number;
  Privileged: boolean;
}

/** Counters for `stats`, as Docker shows them. */
export interface ContainerStats {
  /** Total CPU time in nanoseconds. */
  cpuUsageNs: number;
  /** Memory in use without inactive page cache (Docker's "MEM USAGE"). */
  memoryUsage: number;
  /** The limit, or the host's memory when unlimited. */
  memoryLimit: number;
  pids: number;
  /** 0 when unlimited. */
  pidsLimit: number;
  /** Bytes read from and written to block devices (Docker's "BLOCK I/O"). */
  blockRead: number;
  blockWrite: number;
}

/** One v1 hierarchy to show inside the container: a directory name and the mount options. */
export interface CgroupView {
  dir: string;
  options: string;
}

/** `key: value` lines (as `/proc/<pid>/io`) into numbers. */
function parseKeyedColon(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s*(\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

function hostMemory(): number {
  try {
    const m = Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * The v1 hierarchies of a layout, grouped by mount (co-mounted `cpu,cpuacct` stay one), as
 * the container's `/sys/fs/cgroup/<dir>` mounts; undefined on a v2 host (one cgroup2 mount).
 *
 * @example
 * ```ts
 * cgroupViews(detectCgroupLayout()); // [{ dir: "memory", options: "memory" }, …]
 * ```
 */
export function cgroupViews(layout: CgroupLayout): CgroupView[] | undefined {
  if (layout.mode === "v2") return undefined;
  const byMount = new Map<string, string[]>();
  for (const [controller, mount] of Object.entries(layout.v1)) {
    byMount.set(mount, [...(byMount.get(mount) ?? []), controller]);
  }
  return [...byMount].map(([mount, controllers]) => ({
    dir: mount.slice(mount.lastIndexOf("/") + 1),
    options: controllers.sort().join(","),
  })).sort((a, b) => a.dir.localeCompare(b.dir));
}

/**
 * One container's cgroup.
 *
 * @example
 * ```ts
 * const cg = new ContainerCgroup(root, id);
 * await cg.create(container.HostConfig);
 * await cg.join(init.pid);
 * ```
 */
export class ContainerCgroup {
  readonly cgroups: Cgroups;
  readonly views: CgroupView[] | undefined;

  /** The cgroup `ctr-<hash of stateRoot>/<id>`, or `path` when given. */
  constructor(stateRoot: string, id: string, path?: string) {
    const layout = detectCgroupLayout();
    this.cgroups = openCgroups({ stateRoot, id, layout, path });
    this.views = cgroupViews(layout);
  }

  /** 1 or 2. */
  get version(): 1 | 2 {
    return this.cgroups.version;
  }

  /**
   * Creates the cgroup with the container's limits and device rules (all but the pids
   * limit, see {@linkcode pidsMax}). Returns Docker-style warnings; removes what it made
   * when a limit cannot be applied.
   */
  async create(limits: ContainerLimits): Promise<string[]> {
    const resources = dockerResources({
      memory: limits.Memory || undefined,
      memorySwap: limits.MemorySwap || undefined,
      cpus: limits.NanoCpus ? limits.NanoCpus / 1e9 : undefined,
      cpuShares: limits.CpuShares || undefined,
    });
    await this.cgroups.create();
    try {
      return await this.cgroups.setResources({
        ...resources,
        devices: [...(limits.Privileged ? PRIVILEGED_DEVICE_RULES : DEFAULT_DEVICE_RULES)],
      });
    } catch (e) {
      await this.cgroups.destroy().catch(() => {});
      throw e;
    }
  }

  /** The pids limit for the init to write just before execve. */
  pidsMax(limits: ContainerLimits): { path: string; value: string } | undefined {
    if (!limits.PidsLimit || limits.PidsLimit < 0) return undefined;
    return this.cgroups.pidsMaxFile(limits.PidsLimit) ?? undefined;
  }

  /** Moves a process (all its threads) in. */
  join(pid: number): Promise<void> {
    return this.cgroups.addProcess(pid);
  }

  /** Whether the OOM killer struck (read before {@linkcode destroy}). */
  async oomKilled(): Promise<boolean> {
    try {
      return await this.cgroups.oomKilled();
    } catch {
      return false;
    }
  }

  /** Counters for `stats`. */
  async stats(): Promise<ContainerStats> {
    const s = await this.cgroups.stats();
    const host = hostMemory();
    const limit = s.memory.limit === null || s.memory.limit > host ? host : s.memory.limit;
    return {
      cpuUsageNs: s.cpu.usageNs,
      memoryUsage: Math.max(0, s.memory.usage - s.memory.inactiveFile),
      memoryLimit: limit,
      pids: s.pids.current,
      pidsLimit: s.pids.limit ?? 0,
      ...(await this.#blockIo(s.io)),
    };
  }

  /**
   * The cgroup's block I/O counters; where they stay at zero — v1 kernels of the 6.x series
   * keep `blkio.throttle.*` counters only for cgroups with a throttle rule — the storage I/O
   * of the container's current processes (`read_bytes`/`write_bytes` of `/proc/<pid>/io`).
   */
  async #blockIo(
    io: { readBytes: number; writeBytes: number },
  ): Promise<{ blockRead: number; blockWrite: number }> {
    if (io.readBytes || io.writeBytes) return { blockRead: io.readBytes, blockWrite: io.writeBytes };
    let blockRead = 0, blockWrite = 0;
    for (const pid of await this.pids()) {
      try {
        const f = parseKeyedColon(Deno.readTextFileSync(`/proc/${pid}/io`));
        blockRead += f.read_bytes ?? 0;
        blockWrite += Math.max(0, (f.write_bytes ?? 0) - (f.cancelled_write_bytes ?? 0));
      } catch { /* gone */ }
    }
    return { blockRead, blockWrite };
  }

  freeze(): Promise<void> {
    return this.cgroups.freeze();
  }

  thaw(): Promise<void> {
    return this.cgroups.thaw();
  }

  /** Host pids of the processes in the cgroup (none when it does not exist). */
  async pids(): Promise<number[]> {
    try {
      return await this.cgroups.pids();
    } catch {
      return [];
    }
  }

  /** SIGKILLs every process and waits until the cgroup is empty. */
  async killAll(): Promise<void> {
    if (!(await this.cgroups.exists())) return;
    await this.cgroups.killAll(9);
  }

  /** Removes the cgroup (a missing one is fine). */
  async destroy(): Promise<void> {
    if (!(await this.cgroups.exists())) return;
    await this.cgroups.destroy();
  }
}
