/**
 * Linux capabilities for containers: the names, Docker's default set, `--cap-add` /
 * `--cap-drop` / `--privileged` as Docker computes them (pure), and applying the five sets to
 * the *calling thread* with raw syscalls (DESIGN.md §3: glibc/libcap would broadcast to every
 * thread; we want only the thread that goes on to spawn or execve the container process).
 *
 * What a container process gets, as Docker (since the 2022 inheritable-set fix) gives it:
 * bounding = effective = permitted = the computed set, inheritable = ambient = empty. A root
 * process keeps them across execve; a non-root one loses them there (no file caps, no ambient)
 * unless ambient capabilities are asked for explicitly.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { PR } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";

/** Every capability the kernel defines, indexed by number (include/uapi/linux/capability.h). */
export const CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** Docker's default capabilities for a container. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

const NUMBER = new Map(CAPABILITIES.map((name, i) => [name, i]));

/**
 * The canonical name of a capability as users write it: any case, with or without `CAP_`.
 * `ALL` stays `ALL`. Throws a `TypeError` for a name the kernel does not define.
 *
 * @example
 * ```ts
 * normalizeCapability("net_admin"); // "CAP_NET_ADMIN"
 * ```
 */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!NUMBER.has(full)) throw new TypeError(`Unknown capability: ${JSON.stringify(name)}`);
  return full;
}

/**
 * The number of a capability (canonical or user-written name).
 *
 * @example
 * ```ts
 * capabilityNumber("SYS_ADMIN"); // 21
 * ```
 */
export function capabilityNumber(name: string): number {
  const full = normalizeCapability(name);
  if (full === "ALL") throw new TypeError("ALL is not a single capability");
  return NUMBER.get(full)!;
}

/** Options of {@linkcode computeCapabilities}: Docker's flags. */
export interface CapabilityFlags {
  /** `--cap-add` values (may include `ALL`). */
  capAdd?: string[];
  /** `--cap-drop` values (may include `ALL`). */
  capDrop?: string[];
  /** `--privileged`: every capability, add/drop ignored (as Docker does). */
  privileged?: boolean;
  /** The starting set (default {@linkcode DEFAULT_CAPABILITIES}). */
  base?: readonly string[];
}

/**
 * The container's capability set from Docker's flags, in number order:
 * - `--privileged` → all capabilities;
 * - `--cap-add ALL` → all capabilities except those dropped;
 * - `--cap-drop ALL` → only those added;
 * - otherwise the base set, minus drops, plus adds (an added cap wins over the same dropped one).
 *
 * @example
 * ```ts
 * computeCapabilities({ capDrop: ["ALL"], capAdd: ["net_bind_service"] }); // ["CAP_NET_BIND_SERVICE"]
 * ```
 */
export function computeCapabilities(flags: CapabilityFlags = {}): string[] {
  if (flags.privileged) return [...CAPABILITIES];
  const adds = (flags.capAdd ?? []).map(normalizeCapability);
  const drops = (flags.capDrop ?? []).map(normalizeCapability);
  let caps: Set<string>;
  if (adds.includes("ALL")) caps = new Set(CAPABILITIES.filter((c) => !drops.includes(c)));
  else if (drops.includes("ALL")) caps = new Set(adds);
  else {
    caps = new Set(
      (flags.base ?? DEFAULT_CAPABILITIES).map(normalizeCapability).filter((c) => !drops.includes(c)),
    );
    for (const c of adds) caps.add(c);
  }
  return [...caps].sort((a, b) => NUMBER.get(a)! - NUMBER.get(b)!);
}

/**
 * A bit mask (bit N = capability N) of capability names.
 *
 * @example
 * ```ts
 * capabilityMask(["CAP_CHOWN", "CAP_KILL"]); // 0x21n
 * ```
 */
export function capabilityMask(names: Iterable<string>): bigint {
  let m = 0n;
  for (const n of names) m |= 1n << BigInt(capabilityNumber(n));
  return m;
}

/**
 * The names of the capabilities in a mask (bits above the known ones are named `CAP_<n>`).
 *
 * @example
 * ```ts
 * capabilityNames(0x21n); // ["CAP_CHOWN", "CAP_KILL"]
 * ```
 */
export function capabilityNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let i = 0; i < 64; i++) if (mask & (1n << BigInt(i))) out.push(CAPABILITIES[i] ?? `CAP_${i}`);
  return out;
}

/** The five capability sets of a thread, as masks. */
export interface CapabilitySets {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

/**
 * The sets a container process starts with, Docker's way: bounding = effective = permitted =
 * `caps`, inheritable and ambient empty. With `ambient: true` the caps are also made
 * inheritable and ambient, so a non-root user keeps them across execve (OCI allows it; Docker
 * does not do it).
 *
 * @example
 * ```ts
 * const sets = containerCapabilitySets(computeCapabilities({ capAdd: ["NET_ADMIN"] }));
 * ```
 */
export function containerCapabilitySets(caps: string[], options: { ambient?: boolean } = {}): CapabilitySets {
  const m = capabilityMask(caps);
  return {
    bounding: m,
    effective: m,
    permitted: m,
    inheritable: options.ambient ? m : 0n,
    ambient: options.ambient ? m : 0n,
  };
}

/**
 * The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`).
 *
 * @example
 * ```ts
 * lastCapability(); // 40 on Linux 5.9+
 * ```
 */
export function lastCapability(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim());
  } catch {
    return CAPABILITIES.length - 1;
  }
}

/**
 * The capability sets of a process (or, with a `pid/task/tid` path, of one thread), from
 * `/proc/<pid>/status`.
 *
 * @example
 * ```ts
 * readCapabilities("self").bounding;
 * ```
 */
export function readCapabilities(pid: number | string = "self"): CapabilitySets {
  return parseStatusCapabilities(Deno.readTextFileSync(`/proc/${pid}/status`));
}

/**
 * Parses the `Cap*` lines of a `/proc/<pid>/status` text (pure).
 *
 * @example
 * ```ts
 * parseStatusCapabilities("CapBnd:\t00000000a80425fb\n").bounding; // 0xa80425fbn
 * ```
 */
export function parseStatusCapabilities(status: string): CapabilitySets {
  const get = (key: string) => {
    const m = new RegExp(`^${key}:\\s*([0-9a-f]+)$`, "m").exec(status);
    return m ? BigInt(`0x${m[1]}`) : 0n;
  };
  return {
    bounding: get("CapBnd"),
    effective: get("CapEff"),
    permitted: get("CapPrm"),
    inheritable: get("CapInh"),
    ambient: get("CapAmb"),
  };
}

/** What {@linkcode applyCapabilities} could not grant because the caller lacked it. */
export interface ApplyResult {
  /** Capabilities requested but outside the caller's permitted set (left out). */
  unavailable: string[];
}

/**
 * Applies capability sets to the calling thread, in the order the kernel allows:
 * 1. drop from the bounding set every capability not in `sets.bounding` (PR_CAPBSET_DROP,
 *    which needs CAP_SETPCAP effective — so before capset may remove it; it is made effective
 *    first if it is only permitted, as after setresuid with keepcaps);
 * 2. capset(effective, permitted, inheritable);
 * 3. clear the ambient set and raise each ambient capability (each must be permitted and
 *    inheritable by then).
 *
 * A thread cannot gain a capability it does not hold: requested capabilities outside the
 * caller's permitted set (e.g. one the host's bounding set lacks, as with `--privileged` on a
 * restricted host) are left out and reported in `unavailable` instead of failing with EPERM.
 *
 * Call it after setresuid/setresgid (with {@linkcode setKeepCaps} on before them, or a uid
 * change from 0 clears the permitted set) and before seccomp and execve.
 *
 * @example
 * ```ts
 * setKeepCaps(true);
 * libc.setresgid(1000, 1000, 1000); libc.setresuid(1000, 1000, 1000);
 * applyCapabilities(containerCapabilitySets(caps));
 * ```
 */
export function applyCapabilities(sets: CapabilitySets, options: { lastCap?: number } = {}): ApplyResult {
  const last = options.lastCap ?? lastCapability();
  const current = libc.capget(0);
  const held = current.permitted;
  const wanted = sets.effective | sets.permitted | sets.inheritable | sets.ambient;
  const unavailable = capabilityNames(wanted & ~held & ((1n << BigInt(last + 1)) - 1n));
  // Dropping from the bounding set needs CAP_SETPCAP *effective*; after a uid change with
  // keepcaps the effective set is empty while the permitted set still holds it.
  const SETPCAP = 1n << 8n;
  if ((held & SETPCAP) && !(current.effective & SETPCAP)) libc.capset({ ...current, effective: held });
  for (let cap = 0; cap <= last; cap++) {
    if (sets.bounding & (1n << BigInt(cap))) continue;
    try {
      libc.prctl(PR.CAPBSET_DROP, cap);
    } catch (e) {
      // EINVAL: a capability this kernel does not have.
      if (!(e instanceof SyscallError && e.code === "EINVAL")) throw e;
    }
  }
  const permitted = sets.permitted & held;
  // capset allows an inheritable capability only if it was inheritable or permitted before,
  // and inheritable or in the (new) bounding set.
  const inheritable = sets.inheritable & (held | current.inheritable) & (sets.bounding | current.inheritable);
  libc.capset({ effective: sets.effective & permitted, permitted, inheritable });
  libc.prctl(PR.CAP_AMBIENT, PR.CAP_AMBIENT_CLEAR_ALL, 0);
  for (let cap = 0; cap <= last; cap++) {
    const bit = 1n << BigInt(cap);
    if (sets.ambient & permitted & inheritable & bit) libc.prctl(PR.CAP_AMBIENT, PR.CAP_AMBIENT_RAISE, cap);
  }
  return { unavailable };
}

/**
 * Sets no_new_privs on the calling thread: execve can never grant privileges again (setuid
 * bits and file capabilities are ignored), and seccomp filters no longer need CAP_SYS_ADMIN.
 * Inherited by children and kept across execve; cannot be unset.
 *
 * @example
 * ```ts
 * setNoNewPrivs();
 * ```
 */
export function setNoNewPrivs(): void {
  libc.prctl(PR.SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/**
 * Keeps the permitted set across a uid change from 0 to non-zero on the calling thread
 * (PR_SET_KEEPCAPS; the effective set is still cleared, `applyCapabilities` sets it again).
 * Reset by execve.
 *
 * @example
 * ```ts
 * setKeepCaps(true);
 * ```
 */
export function setKeepCaps(on: boolean): void {
  libc.prctl(PR.SET_KEEPCAPS, on ? 1 : 0);
}
