/**
 * Docker's resource flags → {@linkcode CgroupResources} (pure): byte sizes (`32m`), `--cpus`
 * → CFS quota/period, the v1 → v2 conversions (shares → `cpu.weight`, blkio weight →
 * `io.weight`), and Docker's validation and defaults (`--memory-swap` defaults to twice
 * `--memory`), with Docker's error messages.
 *
 * @module
 */
import type { CgroupResources } from "./cgroups.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * Parses a size as Docker's `--memory` takes it: a number with an optional binary unit
 * `b`, `k`, `m`, `g`, `t`, `p` (any case, optionally followed by `b`, e.g. `32mb`).
 *
 * @example
 * ```ts
 * parseBytes("32m"); // 33554432
 * ```
 */
export function parseBytes(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgtp]?)b?\s*$/i.exec(value);
  if (!m) throw new TypeError(`Invalid size: '${value}'`);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

/** Default CFS period (µs). */
export const CPU_PERIOD_DEFAULT = 100_000;

/**
 * `--cpus N` → CFS quota and period (period 100 ms; quota = N × period).
 *
 * @example
 * ```ts
 * cpusToQuota(0.5); // { cpuQuota: 50000, cpuPeriod: 100000 }
 * ```
 */
export function cpusToQuota(cpus: number): { cpuQuota: number; cpuPeriod: number } {
  return { cpuQuota: Math.round(cpus * CPU_PERIOD_DEFAULT), cpuPeriod: CPU_PERIOD_DEFAULT };
}

/**
 * v1 `cpu.shares` (2..262144, default 1024) → v2 `cpu.weight` (1..10000, default 100), with
 * the curve current runc uses: it maps 2 → 1, 1024 → 100 and 262144 → 10000, so a container
 * without `--cpu-shares` keeps the v2 default weight. (Older runc used the straight line
 * `1 + (shares-2)*9999/262142`, which put the default 1024 at weight 39.) 0 = unset.
 *
 * @example
 * ```ts
 * sharesToWeight(1024); // 100
 * ```
 */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 0;
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  // Rounded to 9 digits first so float noise (2.0000000000000004) cannot push ceil up by one.
  return Math.ceil(Number(Math.pow(10, exponent).toPrecision(9)));
}

/**
 * v1 `blkio.weight` (10..1000) → v2 `io.weight` (1..10000), linearly as runc does.
 *
 * @example
 * ```ts
 * blkioWeightToIoWeight(500); // 4950
 * ```
 */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight <= 0) return 0;
  return Math.floor(1 + ((weight - 10) * 9999) / 990);
}

/** Docker's resource flags, already parsed to numbers (sizes in bytes). */
export interface DockerResourceFlags {
  memory?: number;
  memorySwap?: number;
  memoryReservation?: number;
  cpus?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: number;
  blkioWeight?: number;
}

/** Docker refuses memory limits below this. */
export const MIN_MEMORY = 6 * 1024 * 1024;

/**
 * Validates Docker's resource flags and derives the cgroup limits, with Docker's rules and
 * messages: memory ≥ 6 MB, `--memory-swap` needs `--memory` and must not be below it, unset
 * swap with a memory limit means swap = memory (total twice the limit), `--cpus` excludes
 * `--cpu-quota`/`--cpu-period` and must lie within the host's CPUs.
 *
 * @example
 * ```ts
 * dockerResources({ memory: 32 << 20 }); // { memory: 33554432, memorySwap: 67108864 }
 * ```
 */
export function dockerResources(
  flags: DockerResourceFlags,
  hostCpus = navigator.hardwareConcurrency,
): CgroupResources {
  const r: CgroupResources = {};
  const { memory, memorySwap } = flags;
  if (memory !== undefined && memory > 0 && memory < MIN_MEMORY) {
    throw new RangeError("Minimum memory limit allowed is 6MB");
  }
  if (memorySwap !== undefined && memorySwap !== 0) {
    if (!(memory !== undefined && memory > 0)) {
      throw new RangeError("You should always set the Memory limit when using Memoryswap limit");
    }
    if (memorySwap > 0 && memorySwap < memory) {
      throw new RangeError("Minimum memoryswap limit should be larger than memory limit, see usage");
    }
  }
  if (memory !== undefined && memory > 0) {
    r.memory = memory;
    r.memorySwap = memorySwap === undefined || memorySwap === 0 ? memory * 2 : memorySwap;
  }
  if (flags.memoryReservation !== undefined && flags.memoryReservation > 0) {
    if (memory !== undefined && memory > 0 && flags.memoryReservation > memory) {
      throw new RangeError("Minimum memory limit can not be less than memory reservation limit, see usage");
    }
    r.memoryReservation = flags.memoryReservation;
  }
  if (flags.cpus !== undefined && flags.cpus !== 0) {
    if (flags.cpuQuota || flags.cpuPeriod) {
      throw new RangeError(
        "Conflicting options: Nano CPUs and CPU Period cannot both be set",
      );
    }
    if (flags.cpus < 0.01 || flags.cpus > hostCpus) {
      throw new RangeError(
        `Range of CPUs is from 0.01 to ${hostCpus}.00, as there are only ${hostCpus} CPUs available`,
      );
    }
    Object.assign(r, cpusToQuota(flags.cpus));
  } else {
    if (flags.cpuPeriod) {
      if (flags.cpuPeriod < 1000 || flags.cpuPeriod > 1_000_000) {
        throw new RangeError(
          "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        );
      }
      r.cpuPeriod = flags.cpuPeriod;
    }
    if (flags.cpuQuota) {
      if (flags.cpuQuota > 0 && flags.cpuQuota < 1000) {
        throw new RangeError("CPU cfs quota can not be less than 1ms (i.e. 1000)");
      }
      r.cpuQuota = flags.cpuQuota;
    }
  }
  if (flags.cpuShares !== undefined && flags.cpuShares !== 0) {
    // Docker passes out-of-range shares on and the kernel clamps them; do the same here.
    r.cpuShares = Math.min(Math.max(flags.cpuShares, 2), 262144);
  }
  if (flags.cpusetCpus) r.cpusetCpus = flags.cpusetCpus;
  if (flags.cpusetMems) r.cpusetMems = flags.cpusetMems;
  if (flags.pidsLimit !== undefined && flags.pidsLimit !== 0) {
    r.pidsLimit = flags.pidsLimit < 0 ? -1 : flags.pidsLimit;
  }
  if (flags.blkioWeight !== undefined && flags.blkioWeight !== 0) {
    if (flags.blkioWeight < 10 || flags.blkioWeight > 1000) {
      throw new RangeError("Range of blkio weight is from 10 to 1000");
    }
    r.blkioWeight = flags.blkioWeight;
  }
  return r;
}
