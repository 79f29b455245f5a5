/**
 * Compiles a resolved seccomp profile into a classic BPF filter (pure).
 *
 * Shape of the program:
 * ```
 *   A = arch
 *   arch == X86_64 → x86_64:     arch == I386 → i386:     …     else return KILL_PROCESS
 * x86_64:
 *   A = nr
 *   nr ≥ 0x40000000 → x32:        (x32 numbers arrive under the x86_64 audit arch)
 *   binary search over number ranges → a block per range
 * x32: …  i386: …
 * ```
 * Syscall numbers are grouped into ranges that share one outcome (neighbouring allowed calls
 * merge, so the search is shallow); a range's block is either `return ACTION` or, for calls with
 * argument conditions, each rule's conditions in turn (all must hold), then the fallback.
 * Arguments are 64-bit and BPF words 32-bit: each comparison checks the high word first,
 * the low word only when the high words are equal (seccomp_data is little-endian here).
 * Numbers above the architecture's highest known syscall get ENOSYS when the default action
 * denies, so software probing a syscall newer than ctr's tables falls back as on an older
 * kernel (runc does the same) instead of failing with EPERM.
 *
 * Within one syscall the rules with conditions are tried in profile order before an
 * unconditional rule; of several unconditional rules the first wins.
 *
 * @module
 */
import {
  aluK,
  assembleClassic,
  BPF,
  type ClassicItem,
  encodeClassic,
  ja,
  jmpK,
  ldAbsW,
  retK,
  type SockFilter,
} from "../bpf/classic.ts";
import { ARCHES, X32_SYSCALL_BIT } from "./arch.ts";
import { type ResolvedCondition, type ResolvedProfile, SECCOMP_RET } from "./profile.ts";

/** Offsets in `struct seccomp_data`. */
export const SECCOMP_DATA = { NR: 0, ARCH: 4, IP: 8, ARGS: 16 } as const;

/** What a filter does for a syscall from an architecture it does not cover. */
export const BAD_ARCH_ACTION = SECCOMP_RET.KILL_PROCESS;

const ENOSYS = 38;

interface Chain {
  conditional: { conditions: ResolvedCondition[]; action: number }[];
  unconditional?: number;
}

type Block = { ret: number } | { chain: Chain; fallback: number };

interface Segment {
  start: number;
  block: Block;
}

function sameBlock(a: Block, b: Block): boolean {
  return "ret" in a && "ret" in b && a.ret === b.ret;
}

/** The number ranges of one architecture section and what each does. */
function segmentsFor(profile: ResolvedProfile, archName: string): Segment[] {
  const arch = ARCHES[archName];
  const [lo, hi] = arch.range;
  const chains = new Map<number, Chain>();
  for (const rule of profile.rules) {
    for (const name of rule.names) {
      const nr = arch.syscalls[name];
      if (nr === undefined || nr < lo || nr > hi) continue; // not a syscall of this architecture
      let chain = chains.get(nr);
      if (!chain) chains.set(nr, chain = { conditional: [] });
      if (rule.conditions.length === 0) chain.unconditional ??= rule.action;
      else chain.conditional.push({ conditions: rule.conditions, action: rule.action });
    }
  }
  const def = profile.defaultAction;
  const denying = def !== SECCOMP_RET.ALLOW && def !== SECCOMP_RET.LOG;
  const known = Object.values(arch.syscalls).filter((n) => n >= lo && n <= hi);
  const maxKnown = Math.max(...known);
  const segs: Segment[] = [];
  const push = (start: number, block: Block) => {
    const last = segs[segs.length - 1];
    if (last && sameBlock(last.block, block)) return;
    segs.push({ start, block });
  };
  let cur = lo;
  for (const nr of [...chains.keys()].sort((a, b) => a - b)) {
    if (nr > cur) push(cur, { ret: def });
    const chain = chains.get(nr)!;
    const fallback = chain.unconditional ?? def;
    push(nr, chain.conditional.length ? { chain, fallback } : { ret: fallback });
    cur = nr + 1;
  }
  if (cur <= maxKnown) {
    push(cur, { ret: def });
    cur = maxKnown + 1;
  }
  if (cur <= hi) push(cur, { ret: denying ? (SECCOMP_RET.ERRNO | ENOSYS) : def });
  return segs;
}

class Emitter {
  items: ClassicItem[] = [];
  #n = 0;
  label(prefix: string): string {
    return `${prefix}${this.#n++}`;
  }
  push(...items: ClassicItem[]) {
    this.items.push(...items);
  }
}

/** Emits a test of one 64-bit argument condition; jumps to `fail` when it does not hold. */
function emitCondition(e: Emitter, c: ResolvedCondition, fail: string): void {
  const lo = SECCOMP_DATA.ARGS + 8 * c.index, hi = lo + 4;
  const word = (v: bigint) => [Number(v >> 32n) >>> 0, Number(v & 0xffffffffn) >>> 0];
  const [vhi, vlo] = word(c.value);
  const ok = e.label("ok");
  switch (c.op) {
    case "SCMP_CMP_EQ":
      e.push(ldAbsW(hi), jmpK(BPF.JEQ, vhi, null, fail), ldAbsW(lo), jmpK(BPF.JEQ, vlo, null, fail));
      break;
    case "SCMP_CMP_NE":
      e.push(ldAbsW(hi), jmpK(BPF.JEQ, vhi, null, ok), ldAbsW(lo), jmpK(BPF.JEQ, vlo, fail, null));
      break;
    case "SCMP_CMP_GT":
    case "SCMP_CMP_GE":
      // hi > vhi: holds; hi < vhi: fails; equal: decided by the low words.
      e.push(ldAbsW(hi), jmpK(BPF.JGT, vhi, ok, null), jmpK(BPF.JEQ, vhi, null, fail), ldAbsW(lo));
      e.push(jmpK(c.op === "SCMP_CMP_GT" ? BPF.JGT : BPF.JGE, vlo, null, fail));
      break;
    case "SCMP_CMP_LT":
    case "SCMP_CMP_LE":
      // The negations of GE and GT.
      e.push(ldAbsW(hi), jmpK(BPF.JGT, vhi, fail, null), jmpK(BPF.JEQ, vhi, null, ok), ldAbsW(lo));
      e.push(jmpK(c.op === "SCMP_CMP_LT" ? BPF.JGE : BPF.JGT, vlo, fail, null));
      break;
    case "SCMP_CMP_MASKED_EQ": {
      const [mhi, mlo] = [vhi, vlo];
      const [dhi, dlo] = word(c.valueTwo);
      for (const [mask, datum, off] of [[mhi, dhi, hi], [mlo, dlo, lo]]) {
        if (mask === 0) {
          if (datum !== 0) e.push(ja(fail)); // (x & 0) can never equal a non-zero value
          continue;
        }
        e.push(ldAbsW(off));
        if (mask !== 0xffffffff) e.push(aluK(BPF.AND, mask));
        e.push(jmpK(BPF.JEQ, datum, null, fail));
      }
      break;
    }
  }
  e.push({ label: ok });
}

function emitBlock(e: Emitter, block: Block): void {
  if ("ret" in block) {
    e.push(retK(block.ret));
    return;
  }
  for (const rule of block.chain.conditional) {
    const fail = e.label("fail");
    for (const c of rule.conditions) emitCondition(e, c, fail);
    e.push(retK(rule.action), { label: fail });
  }
  e.push(retK(block.fallback));
}

/** Binary search on A (the syscall number) over sorted segments. */
function emitSearch(e: Emitter, segs: Segment[]): void {
  if (segs.length === 1) {
    emitBlock(e, segs[0].block);
    return;
  }
  const mid = segs.length >> 1;
  const right = e.label("ge");
  e.push(jmpK(BPF.JGE, segs[mid].start, right, null));
  emitSearch(e, segs.slice(0, mid));
  e.push({ label: right });
  emitSearch(e, segs.slice(mid));
}

/**
 * Compiles a resolved profile into filter instructions.
 *
 * @example
 * ```ts
 * const prog = compileSeccompProgram(resolveProfile(profile, { caps })!);
 * ```
 */
export function compileSeccompProgram(profile: ResolvedProfile): SockFilter[] {
  const e = new Emitter();
  const arches = profile.arches.filter((a) => ARCHES[a]);
  const audits = [...new Set(arches.map((a) => ARCHES[a].audit))];
  e.push(ldAbsW(SECCOMP_DATA.ARCH));
  for (const audit of audits) e.push(jmpK(BPF.JEQ, audit, `arch${audit}`, null));
  e.push(retK(BAD_ARCH_ACTION));
  for (const audit of audits) {
    e.push({ label: `arch${audit}` }, ldAbsW(SECCOMP_DATA.NR));
    const sections = arches.filter((a) => ARCHES[a].audit === audit);
    const hasX32 = sections.includes("SCMP_ARCH_X32");
    if (sections.includes("SCMP_ARCH_X86_64")) {
      const x32 = e.label("x32");
      e.push(jmpK(BPF.JGE, X32_SYSCALL_BIT, x32, null));
      emitSearch(e, segmentsFor(profile, "SCMP_ARCH_X86_64"));
      e.push({ label: x32 });
      if (hasX32) emitSearch(e, segmentsFor(profile, "SCMP_ARCH_X32"));
      else {
        // No x32 in the filter: x32 calls are a foreign ABI, but syscall(-1) is just an
        // invalid number (ptrace uses it to skip calls): give it the default action.
        const bad = e.label("x32bad");
        e.push(jmpK(BPF.JEQ, 0xffffffff, null, bad), retK(profile.defaultAction));
        e.push({ label: bad }, retK(BAD_ARCH_ACTION));
      }
    } else {
      for (const s of sections) emitSearch(e, segmentsFor(profile, s));
    }
  }
  return assembleClassic(e.items);
}

/**
 * Compiles a resolved profile into the bytes `seccomp(SECCOMP_SET_MODE_FILTER)` takes.
 *
 * @example
 * ```ts
 * libc.seccompSetFilter(compileSeccomp(resolved));
 * ```
 */
export function compileSeccomp(profile: ResolvedProfile): Uint8Array<ArrayBuffer> {
  return encodeClassic(compileSeccompProgram(profile));
}

/** What a filter decided for one syscall. */
export interface SeccompVerdict {
  action:
    | "KILL_PROCESS"
    | "KILL_THREAD"
    | "TRAP"
    | "ERRNO"
    | "USER_NOTIF"
    | "TRACE"
    | "LOG"
    | "ALLOW"
    | "UNKNOWN";
  /** The errno (ERRNO) or data (TRACE, TRAP). */
  data: number;
}

/**
 * Decodes a SECCOMP_RET value.
 *
 * @example
 * ```ts
 * verdictOf(0x50001); // { action: "ERRNO", data: 1 }
 * ```
 */
export function verdictOf(ret: number): SeccompVerdict {
  const action = (ret & SECCOMP_RET.ACTION_FULL) >>> 0;
  const data = ret & SECCOMP_RET.DATA;
  const names: [number, SeccompVerdict["action"]][] = [
    [SECCOMP_RET.KILL_PROCESS, "KILL_PROCESS"],
    [SECCOMP_RET.KILL_THREAD, "KILL_THREAD"],
    [SECCOMP_RET.TRAP, "TRAP"],
    [SECCOMP_RET.ERRNO, "ERRNO"],
    [SECCOMP_RET.USER_NOTIF, "USER_NOTIF"],
    [SECCOMP_RET.TRACE, "TRACE"],
    [SECCOMP_RET.LOG, "LOG"],
    [SECCOMP_RET.ALLOW, "ALLOW"],
  ];
  return { action: names.find(([v]) => v === action)?.[1] ?? "UNKNOWN", data };
}

/**
 * Lays out a `struct seccomp_data` for running a filter in a test.
 *
 * @example
 * ```ts
 * runClassic(prog, seccompData({ nr: 1, arch: AUDIT_ARCH.X86_64 }));
 * ```
 */
export function seccompData(
  d: { nr: number; arch: number; ip?: bigint; args?: (bigint | number)[] },
): Uint8Array {
  const out = new Uint8Array(64);
  const v = new DataView(out.buffer);
  v.setUint32(SECCOMP_DATA.NR, d.nr >>> 0, true);
  v.setUint32(SECCOMP_DATA.ARCH, d.arch >>> 0, true);
  v.setBigUint64(SECCOMP_DATA.IP, d.ip ?? 0n, true);
  (d.args ?? []).forEach((a, i) =>
    v.setBigUint64(SECCOMP_DATA.ARGS + 8 * i, BigInt.asUintN(64, BigInt(a)), true)
  );
  return out;
}
