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
import {
  applyCapabilities,
  type CapabilitySets,
  setKeepCaps,
  setNoNewPrivs,
} from "../../runtime/security/capabilities.ts";

/** What the probe applies before execve. Masks are hex strings. */
export interface ProbeSpec {
  noNewPrivs?: boolean;
  keepCaps?: boolean;
  uid?: number;
  gid?: number;
  caps?: Record<keyof CapabilitySets, string>;
  /** A seccomp filter as hex bytes of sock_filter records. */
  seccompHex?: string;
  argv: string[];
  env?: string[];
}

const spec: ProbeSpec = JSON.parse(Deno.args[0]);
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
libc.execve(spec.argv[0], spec.argv, spec.env ?? ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
