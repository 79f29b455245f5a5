/**
 * The last steps of the container init, in the one order the kernel allows: who the process
 * is (groups, gid, uid), what it may do (capabilities), that it can never gain more
 * (no_new_privs), and which syscalls it may make (seccomp) — all for the *calling thread* only
 * (DESIGN.md §3), which then execve()s the container's command (or spawns it, for `exec`).
 *
 * The plan is computed first (pure, JSON-serialisable, so the supervisor can compute it and
 * hand it to the init in its spec) and applied last, right before execve:
 *
 * ```ts
 * const plan = confinementPlan({ caps, security: parseSecurityOpts(opts), user: { uid: 1000, gid: 1000 } });
 * // … namespaces, mounts, pivot_root, masked paths, cgroup joined …
 * confineCurrentThread(plan);
 * libc.execve(path, argv, env);
 * ```
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { compileSeccomp } from "../../ffi/seccomp/compile.ts";
import { installSeccompFilter } from "../../ffi/seccomp/install.ts";
import { resolveProfile } from "../../ffi/seccomp/profile.ts";
import {
  applyCapabilities,
  capabilityNames,
  type CapabilitySets,
  containerCapabilitySets,
  setKeepCaps,
  setNoNewPrivs,
} from "./capabilities.ts";
import type { SecurityOptions } from "./security_opt.ts";

/** Everything {@linkcode confineCurrentThread} applies. */
export interface ConfinementPlan {
  uid: number;
  gid: number;
  /** Supplementary groups (setgroups); empty clears them. */
  groups: number[];
  capabilities: CapabilitySets;
  noNewPrivileges: boolean;
  /** The compiled filter (sock_filter bytes), or null for unconfined. */
  seccomp: Uint8Array<ArrayBuffer> | null;
  /** SECCOMP_FILTER_FLAG_* bits. */
  seccompFlags: number;
}

/**
 * Computes the plan: the capability sets Docker gives (see `containerCapabilitySets`), the
 * seccomp profile resolved for those capabilities and compiled for this machine.
 *
 * @example
 * ```ts
 * confinementPlan({ caps: computeCapabilities({}), security: parseSecurityOpts([]), user: { uid: 0, gid: 0 } });
 * ```
 */
export function confinementPlan(input: {
  caps: string[];
  security: SecurityOptions;
  user: { uid: number; gid: number; groups?: number[] };
  /** Give a non-root user the capabilities as ambient ones (OCI allows it; Docker does not). */
  ambient?: boolean;
  machine?: string;
  kernel?: string;
}): ConfinementPlan {
  const resolved = input.security.seccomp
    ? resolveProfile(input.security.seccomp, {
      caps: input.caps,
      machine: input.machine,
      kernel: input.kernel,
    })
    : null;
  return {
    uid: input.user.uid,
    gid: input.user.gid,
    groups: input.user.groups ?? [],
    capabilities: containerCapabilitySets(input.caps, { ambient: input.ambient }),
    noNewPrivileges: input.security.noNewPrivileges,
    seccomp: resolved ? compileSeccomp(resolved) : null,
    seccompFlags: resolved?.flags ?? 0,
  };
}

/**
 * Applies a plan to the calling thread:
 * 1. seccomp first *only* when no_new_privs is off: without it the kernel wants CAP_SYS_ADMIN
 *    to install a filter, which step 3 may drop (runc does the same);
 * 2. keepcaps, then setgroups, setresgid, setresuid (raw syscalls: this thread only);
 * 3. capabilities: bounding set, capset, ambient;
 * 4. no_new_privs;
 * 5. seccomp, last, so the filter does not have to allow the setup calls above.
 * Returns the capabilities asked for that the caller could not give (see `applyCapabilities`).
 *
 * @example
 * ```ts
 * confineCurrentThread(plan);
 * libc.execve("/bin/sh", ["sh"], env);
 * ```
 */
export function confineCurrentThread(plan: ConfinementPlan): { unavailable: string[] } {
  const earlySeccomp = plan.seccomp !== null && !plan.noNewPrivileges;
  if (earlySeccomp) installSeccompFilter(plan.seccomp!, plan.seccompFlags);
  const switchUser = plan.uid !== 0;
  if (switchUser) setKeepCaps(true);
  libc.setgroups(plan.groups);
  libc.setresgid(plan.gid, plan.gid, plan.gid);
  libc.setresuid(plan.uid, plan.uid, plan.uid);
  const { unavailable } = applyCapabilities(plan.capabilities);
  if (switchUser) setKeepCaps(false);
  if (plan.noNewPrivileges) setNoNewPrivs();
  if (plan.seccomp !== null && !earlySeccomp) installSeccompFilter(plan.seccomp, plan.seccompFlags);
  return { unavailable };
}

/** A plan as plain JSON (masks as hex strings, the filter as hex). */
export type ConfinementPlanJSON = Omit<ConfinementPlan, "capabilities" | "seccomp"> & {
  capabilities: Record<keyof CapabilitySets, string>;
  seccomp: string | null;
};

/**
 * Serialises a plan for a spec file or pipe.
 *
 * @example
 * ```ts
 * JSON.stringify(planToJSON(plan));
 * ```
 */
export function planToJSON(plan: ConfinementPlan): ConfinementPlanJSON {
  const caps = Object.fromEntries(
    Object.entries(plan.capabilities).map(([k, v]) => [k, `0x${(v as bigint).toString(16)}`]),
  ) as Record<keyof CapabilitySets, string>;
  const hex = plan.seccomp ? [...plan.seccomp].map((b) => b.toString(16).padStart(2, "0")).join("") : null;
  return { ...plan, capabilities: caps, seccomp: hex };
}

/**
 * The inverse of {@linkcode planToJSON}.
 *
 * @example
 * ```ts
 * confineCurrentThread(planFromJSON(spec.confinement));
 * ```
 */
export function planFromJSON(json: ConfinementPlanJSON): ConfinementPlan {
  const c = json.capabilities;
  return {
    ...json,
    capabilities: {
      bounding: BigInt(c.bounding),
      effective: BigInt(c.effective),
      permitted: BigInt(c.permitted),
      inheritable: BigInt(c.inheritable),
      ambient: BigInt(c.ambient),
    },
    seccomp: json.seccomp ? new Uint8Array(json.seccomp.match(/../g)!.map((h) => parseInt(h, 16))) : null,
  };
}

/** Names of the capabilities in a plan's bounding set (for `inspect` and logs). */
export function planCapabilities(plan: ConfinementPlan): string[] {
  return capabilityNames(plan.capabilities.bounding);
}
