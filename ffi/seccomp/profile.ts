/**
 * Seccomp profiles in Docker's JSON format: the types, a strict parser (every error names the
 * field, e.g. `syscalls[3].args[0].op`), and resolution — Docker's step that keeps the rules
 * whose `includes`/`excludes` match the container (its capabilities, the native architecture,
 * the running kernel) and picks the architectures to filter. Pure.
 *
 * ```json
 * { "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
 *   "archMap": [{ "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] }],
 *   "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ALLOW" },
 *                { "names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 0, "value": 40, "op": "SCMP_CMP_NE" }] },
 *                { "names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_BOOT"] } }] }
 * ```
 *
 * @module
 */
import { KNOWN_SCMP_ARCHES, NATIVE, RUNNABLE } from "./arch.ts";

/** SECCOMP_RET_* action values (include/uapi/linux/seccomp.h). */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
  ACTION_FULL: 0xffff0000,
  DATA: 0x0000ffff,
} as const;

/** SECCOMP_FILTER_FLAG_* values ctr accepts in a profile's `flags`. */
export const SECCOMP_FILTER_FLAG: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};

/** Comparison operators of argument conditions. */
export const OPS = [
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
] as const;

/** A comparison operator. */
export type SeccompOp = typeof OPS[number];

/** An argument condition. For MASKED_EQ, `value` is the mask and `valueTwo` the expected value. */
export interface SeccompArg {
  index: number;
  value: bigint;
  valueTwo: bigint;
  op: SeccompOp;
}

/** When a rule applies. */
export interface SeccompFilterCondition {
  /** Capabilities (every one must be in the container's set / any excludes). */
  caps?: string[];
  /** Native architectures in Go's names (`amd64`, `arm64`, `x86`, `x32`, `arm`, …). */
  arches?: string[];
  /** A kernel version such as `4.8`. */
  minKernel?: string;
}

/** One rule of a profile. */
export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
  includes?: SeccompFilterCondition;
  excludes?: SeccompFilterCondition;
  comment?: string;
}

/** A profile. */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  syscalls: SeccompSyscall[];
  flags?: string[];
  listenerPath?: string;
}

const EPERM = 1;

function fail(source: string, where: string, msg: string): never {
  throw new SyntaxError(`Invalid seccomp profile ${source}: ${where ? `${where}: ` : ""}${msg}`);
}

/**
 * Parses and validates a Docker JSON profile. Argument values are read exactly as 64-bit
 * integers (JSON numbers above 2^53 would lose precision as doubles). Throws a `SyntaxError`
 * naming `source` and the offending field.
 *
 * @example
 * ```ts
 * const profile = parseSeccompProfile(await Deno.readTextFile(file), file);
 * ```
 */
export function parseSeccompProfile(text: string, source = "profile"): SeccompProfile {
  let raw: unknown;
  try {
    // The reviver's third argument carries the number's source text (exact 64-bit values).
    raw = JSON.parse(
      text,
      function (this: unknown, _key: string, value: unknown, context?: { source?: string }) {
        if (typeof value === "number" && context?.source && /^-?\d+$/.test(context.source)) {
          const big = BigInt(context.source);
          return Number.isSafeInteger(value) ? value : big;
        }
        return value;
      } as (this: unknown, key: string, value: unknown) => unknown,
    );
  } catch (e) {
    fail(source, "", (e as Error).message);
  }
  return validateProfile(raw, source);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function stringList(x: unknown, source: string, where: string): string[] {
  if (x === undefined || x === null) return [];
  if (!Array.isArray(x) || !x.every((s) => typeof s === "string")) {
    fail(source, where, "expected a list of strings");
  }
  return x as string[];
}

function toBig(x: unknown, source: string, where: string): bigint {
  if (x === undefined || x === null) return 0n;
  const b = typeof x === "bigint" ? x : typeof x === "number" && Number.isInteger(x) ? BigInt(x) : null;
  if (b === null || b < 0n || b >= 1n << 64n) fail(source, where, "expected an integer from 0 to 2^64-1");
  return b;
}

function errnoValue(x: unknown, source: string, where: string): number | undefined {
  if (x === undefined || x === null) return undefined;
  if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 0xffff) {
    fail(source, where, "expected an errno number from 0 to 65535");
  }
  return x;
}

function condition(x: unknown, source: string, where: string): SeccompFilterCondition | undefined {
  if (x === undefined || x === null) return undefined;
  if (!isObject(x)) fail(source, where, "expected an object");
  const out: SeccompFilterCondition = {};
  if (x.caps !== undefined) out.caps = stringList(x.caps, source, `${where}.caps`);
  if (x.arches !== undefined) out.arches = stringList(x.arches, source, `${where}.arches`);
  if (x.minKernel !== undefined && x.minKernel !== "") {
    if (typeof x.minKernel !== "string" || !/^\d+\.\d+(\.\d+)?/.test(x.minKernel)) {
      fail(source, `${where}.minKernel`, `invalid kernel version ${JSON.stringify(x.minKernel)}`);
    }
    out.minKernel = x.minKernel;
  }
  return out;
}

/**
 * Validates an already parsed profile object (see {@linkcode parseSeccompProfile}).
 *
 * @example
 * ```ts
 * validateProfile({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [] }, "inline");
 * ```
 */
export function validateProfile(raw: unknown, source = "profile"): SeccompProfile {
  if (!isObject(raw)) fail(source, "", "expected a JSON object");
  const known = [
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "archMap",
    "syscalls",
    "flags",
    "listenerPath",
    "listenerMetadata",
  ];
  for (const k of Object.keys(raw)) if (!known.includes(k)) fail(source, k, "unknown field");
  const defaultAction = raw.defaultAction ?? "";
  if (typeof defaultAction !== "string") fail(source, "defaultAction", "expected a string");
  if (defaultAction) actionValue(defaultAction, undefined, source, "defaultAction");
  const profile: SeccompProfile = {
    defaultAction,
    syscalls: [],
  };
  const der = errnoValue(raw.defaultErrnoRet, source, "defaultErrnoRet");
  if (der !== undefined) profile.defaultErrnoRet = der;
  if (raw.architectures !== undefined && raw.architectures !== null) {
    profile.architectures = stringList(raw.architectures, source, "architectures");
    profile.architectures.forEach((a, i) => {
      if (!KNOWN_SCMP_ARCHES.includes(a)) {
        fail(source, `architectures[${i}]`, `unknown architecture ${JSON.stringify(a)}`);
      }
    });
  }
  if (raw.archMap !== undefined && raw.archMap !== null) {
    if (!Array.isArray(raw.archMap)) fail(source, "archMap", "expected a list");
    profile.archMap = raw.archMap.map((m, i) => {
      if (!isObject(m) || typeof m.architecture !== "string") {
        fail(source, `archMap[${i}]`, "expected {architecture, subArchitectures}");
      }
      const subs = stringList(m.subArchitectures, source, `archMap[${i}].subArchitectures`);
      for (const a of [m.architecture, ...subs]) {
        if (!KNOWN_SCMP_ARCHES.includes(a)) {
          fail(source, `archMap[${i}]`, `unknown architecture ${JSON.stringify(a)}`);
        }
      }
      return { architecture: m.architecture, subArchitectures: subs };
    });
  }
  if (profile.architectures?.length && profile.archMap?.length) {
    fail(
      source,
      "",
      "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'",
    );
  }
  if (raw.flags !== undefined && raw.flags !== null) {
    profile.flags = stringList(raw.flags, source, "flags");
    profile.flags.forEach((f, i) => {
      if (!(f in SECCOMP_FILTER_FLAG)) fail(source, `flags[${i}]`, `unsupported flag ${JSON.stringify(f)}`);
    });
  }
  if (typeof raw.listenerPath === "string" && raw.listenerPath) profile.listenerPath = raw.listenerPath;
  const syscalls = raw.syscalls ?? [];
  if (!Array.isArray(syscalls)) fail(source, "syscalls", "expected a list");
  syscalls.forEach((s, i) => {
    const at = `syscalls[${i}]`;
    if (!isObject(s)) fail(source, at, "expected an object");
    if (s.name !== undefined && s.names !== undefined) {
      fail(
        source,
        at,
        "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'",
      );
    }
    const names = s.name !== undefined
      ? stringList([s.name], source, `${at}.name`)
      : stringList(s.names, source, `${at}.names`);
    if (names.length === 0) fail(source, at, "no syscall names");
    if (typeof s.action !== "string") fail(source, `${at}.action`, "expected a string");
    const errnoRet = errnoValue(s.errnoRet, source, `${at}.errnoRet`);
    if (errnoRet !== undefined && s.action !== "SCMP_ACT_ERRNO" && s.action !== "SCMP_ACT_TRACE") {
      fail(source, `${at}.errnoRet`, "errnoRet is only supported with SCMP_ACT_ERRNO and SCMP_ACT_TRACE");
    }
    actionValue(s.action, errnoRet, source, `${at}.action`);
    const rule: SeccompSyscall = { names, action: s.action };
    if (errnoRet !== undefined) rule.errnoRet = errnoRet;
    if (s.args !== undefined && s.args !== null) {
      if (!Array.isArray(s.args)) fail(source, `${at}.args`, "expected a list");
      rule.args = s.args.map((a, j) => {
        const aw = `${at}.args[${j}]`;
        if (!isObject(a)) fail(source, aw, "expected an object");
        if (typeof a.index !== "number" || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) {
          fail(source, `${aw}.index`, "expected an argument index from 0 to 5");
        }
        if (!OPS.includes(a.op as SeccompOp)) {
          fail(source, `${aw}.op`, `unknown operator ${JSON.stringify(a.op)}`);
        }
        return {
          index: a.index,
          value: toBig(a.value, source, `${aw}.value`),
          valueTwo: toBig(a.valueTwo, source, `${aw}.valueTwo`),
          op: a.op as SeccompOp,
        };
      });
    }
    const inc = condition(s.includes, source, `${at}.includes`);
    const exc = condition(s.excludes, source, `${at}.excludes`);
    if (inc) rule.includes = inc;
    if (exc) rule.excludes = exc;
    if (typeof s.comment === "string") rule.comment = s.comment;
    profile.syscalls.push(rule);
  });
  return profile;
}

/**
 * The SECCOMP_RET value of a Docker action name. ERRNO defaults to EPERM, TRACE's data to
 * EPERM as runc does; SCMP_ACT_NOTIFY is refused (ctr runs no seccomp agent).
 *
 * @example
 * ```ts
 * actionValue("SCMP_ACT_ERRNO", 38); // 0x50026
 * ```
 */
export function actionValue(action: string, errnoRet?: number, source = "profile", where = "action"): number {
  switch (action) {
    case "SCMP_ACT_ALLOW":
      return SECCOMP_RET.ALLOW;
    case "SCMP_ACT_ERRNO":
      return SECCOMP_RET.ERRNO | ((errnoRet ?? EPERM) & SECCOMP_RET.DATA);
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return SECCOMP_RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return SECCOMP_RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return SECCOMP_RET.TRAP;
    case "SCMP_ACT_LOG":
      return SECCOMP_RET.LOG;
    case "SCMP_ACT_TRACE":
      return (SECCOMP_RET.TRACE | ((errnoRet ?? EPERM) & SECCOMP_RET.DATA)) >>> 0;
    case "SCMP_ACT_NOTIFY":
      fail(source, where, "SCMP_ACT_NOTIFY is not supported (ctr runs no seccomp notification agent)");
      break;
    default:
      fail(source, where, `unknown action ${JSON.stringify(action)}`);
  }
}

/** One argument condition after resolution. */
export interface ResolvedCondition {
  index: number;
  op: SeccompOp;
  value: bigint;
  valueTwo: bigint;
}

/** A rule after resolution: when every condition holds (none = always), return `action`. */
export interface ResolvedRule {
  names: string[];
  action: number;
  conditions: ResolvedCondition[];
}

/** A profile resolved for one container on one machine, ready to compile. */
export interface ResolvedProfile {
  defaultAction: number;
  /** Docker architecture names to filter, native first; only ones ctr has tables for. */
  arches: string[];
  rules: ResolvedRule[];
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(2). */
  flags: number;
}

/** Options of {@linkcode resolveProfile}. */
export interface ResolveOptions {
  /** The container's capabilities (bounding set), canonical `CAP_*` names. */
  caps: readonly string[];
  /** The native machine (default: this one). */
  machine?: string;
  /** The running kernel's release (default: this one's, e.g. `6.18.44`). */
  kernel?: string;
}

const GO_ARCH: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

function kernelAtLeast(release: string, min: string): boolean {
  const parse = (s: string) =>
    (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(s) ?? [0, 0, 0, 0]).slice(1).map((x) => Number(x ?? 0));
  const [a, b] = [parse(release), parse(min)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/**
 * Resolves a profile for a container (Docker's `setupSeccomp`): keeps rules whose `excludes`
 * do not match and whose `includes` all match (every listed capability held, the native arch
 * listed, the kernel at least `minKernel`); picks the architectures (`architectures`, or the
 * native entry of `archMap` with its sub-architectures, always the native one); splits rules
 * that test one argument twice into one rule per condition (libseccomp cannot AND them; runc
 * ORs them). Returns null for a profile with neither a default action nor rules, which Docker
 * treats as "seccomp disabled".
 *
 * @example
 * ```ts
 * resolveProfile(DEFAULT_SECCOMP_PROFILE, { caps: DEFAULT_CAPABILITIES });
 * ```
 */
export function resolveProfile(profile: SeccompProfile, options: ResolveOptions): ResolvedProfile | null {
  if (!profile.defaultAction && profile.syscalls.length === 0) return null;
  if (!profile.defaultAction) throw new SyntaxError("Invalid seccomp profile: defaultAction is required");
  const machine = options.machine ?? Deno.build.arch;
  const native = NATIVE[machine];
  if (!native) throw new RangeError(`Seccomp is not supported on ${machine}`);
  const goArch = GO_ARCH[machine];
  const kernel = options.kernel ?? Deno.osRelease();
  const caps = new Set(options.caps);

  const listed = new Set<string>([native]);
  for (const a of profile.architectures ?? []) listed.add(a);
  for (const m of profile.archMap ?? []) {
    if (m.architecture === native) {
      for (const a of [m.architecture, ...(m.subArchitectures ?? [])]) listed.add(a);
    }
  }
  // Only architectures this machine can execute reach the filter; ones without a table
  // (32-bit ARM) are left to the bad-architecture action.
  const arches = [...listed].filter((a) => RUNNABLE[machine].includes(a) && a !== "SCMP_ARCH_ARM");

  const rules: ResolvedRule[] = [];
  for (const s of profile.syscalls) {
    const ex = s.excludes, inc = s.includes;
    if (ex?.arches?.includes(goArch)) continue;
    if (ex?.caps?.some((c) => caps.has(c))) continue;
    if (ex?.minKernel && kernelAtLeast(kernel, ex.minKernel)) continue;
    if (inc?.arches?.length && !inc.arches.includes(goArch)) continue;
    if (inc?.caps?.length && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc?.minKernel && !kernelAtLeast(kernel, inc.minKernel)) continue;
    const action = actionValue(s.action, s.errnoRet);
    const conds: ResolvedCondition[] = (s.args ?? []).map((a) => ({ ...a }));
    const indexes = conds.map((c) => c.index);
    if (new Set(indexes).size !== indexes.length) {
      for (const c of conds) rules.push({ names: s.names, action, conditions: [c] });
    } else rules.push({ names: s.names, action, conditions: conds });
  }
  let flags = 0;
  for (const f of profile.flags ?? []) flags |= SECCOMP_FILTER_FLAG[f];
  return {
    defaultAction: actionValue(profile.defaultAction, profile.defaultErrnoRet),
    arches,
    rules,
    flags,
  };
}
