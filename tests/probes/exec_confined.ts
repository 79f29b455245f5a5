/**
 * Test probe: applies credentials, capabilities, no_new_privs and seccomp to its main thread
 * in the order the container init does, then execve()s a command — so tests can check from
 * the outside what a confined process really gets, without confining the test process itself.
 *
 * Usage: `deno run -A tests/probes/exec_confined.ts '<json spec>'` (see {@linkcode ProbeSpec}).
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { applySeccompProfile } from "../../ffi/seccomp/install.ts";
import { DEFAULT_SECCOMP_PROFILE } from "../../ffi/seccomp/default_profile.ts";
import { parseSeccompProfile } from "../../ffi/seccomp/profile.ts";
import {
  confineCurrentThread,
  type ConfinementPlanJSON,
  planFromJSON,
} from "../../runtime/security/confine.ts";
import {
  applyCapabilities,
  type CapabilitySets,
  setKeepCaps,
  setNoNewPrivs,
} from "../../runtime/security/capabilities.ts";

/** What the probe applies before execve. Masks are hex strings. */
export interface ProbeSpec {
  /** Namespaces to unshare first (CLONE_* flags), e.g. to keep a hostname test off the host. */
  unshare?: number;
  noNewPrivs?: boolean;
  keepCaps?: boolean;
  uid?: number;
  gid?: number;
  caps?: Record<keyof CapabilitySets, string>;
  /** A seccomp filter as hex bytes of sock_filter records. */
  seccompHex?: string;
  /** A profile to resolve for `caps`, compile and install: "default" or Docker JSON text. */
  seccomp?: { profile: "default" | string; caps: string[] };
  /** A whole confinement plan (planToJSON), applied with confineCurrentThread. */
  plan?: ConfinementPlanJSON;
  /** Raw syscalls to make after everything is applied; their results are printed as one JSON line. */
  syscallsAfter?: { nr: number; args?: number[] }[];
  argv: string[];
  env?: string[];
}

const spec: ProbeSpec = JSON.parse(Deno.args[0]);
if (spec.unshare) libc.unshare(spec.unshare);
if (spec.noNewPrivs) setNoNewPrivs();
if (spec.keepCaps) setKeepCaps(true);
if (spec.gid !== undefined) {
  libc.setgroups([]);
  libc.setresgid(spec.gid, spec.gid, spec.gid);
}
if (spec.uid !== undefined) libc.setresuid(spec.uid, spec.uid, spec.uid);
if (spec.caps) {
  const c = spec.caps;
  const r = applyCapabilities({
    bounding: BigInt(c.bounding),
    effective: BigInt(c.effective),
    permitted: BigInt(c.permitted),
    inheritable: BigInt(c.inheritable),
    ambient: BigInt(c.ambient),
  });
  if (r.unavailable.length) console.error(`unavailable: ${r.unavailable.join(",")}`);
}
if (spec.seccompHex) {
  const bytes = new Uint8Array(spec.seccompHex.match(/../g)!.map((h) => parseInt(h, 16)));
  libc.seccompSetFilter(bytes);
}
if (spec.seccomp) {
  const profile = spec.seccomp.profile === "default"
    ? DEFAULT_SECCOMP_PROFILE
    : parseSeccompProfile(spec.seccomp.profile, "probe");
  applySeccompProfile(profile, { caps: spec.seccomp.caps });
}
if (spec.plan) {
  const r = confineCurrentThread(planFromJSON(spec.plan));
  if (r.unavailable.length) console.error(`unavailable: ${r.unavailable.join(",")}`);
}
if (spec.syscallsAfter) {
  const results = spec.syscallsAfter.map(({ nr, args }) => {
    try {
      return `ok:${libc.syscall(nr, ...(args ?? []))}`;
    } catch (e) {
      return e instanceof SyscallError ? e.code : String(e);
    }
  });
  console.log(JSON.stringify(results));
}
libc.execve(spec.argv[0], spec.argv, spec.env ?? ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
