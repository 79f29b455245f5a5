/**
 * Classic BPF (the seccomp filter language): instruction encoding, an assembler with labels
 * that lays out long jumps, and an interpreter written for the tests. Pure.
 *
 * `struct sock_filter` (include/uapi/linux/filter.h), 8 bytes, host byte order:
 * ```
 * u16 code | u8 jt | u8 jf | u32 k
 * ```
 * Conditional jumps are forward only and reach at most 255 instructions (jt/jf are bytes);
 * `ja` takes a 32-bit offset. The assembler keeps every branch symbolic and, when a target is
 * too far, sends the branch to a `ja` trampoline placed right after the jump.
 *
 * @module
 */

/** Opcode parts (classes, sizes, modes, operations, sources). */
export const BPF = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  MISC: 0x07,
  W: 0x00,
  H: 0x08,
  B: 0x10,
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  K: 0x00,
  X: 0x08,
  A: 0x10,
} as const;

/** The kernel's limit on a filter's length (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** One resolved instruction. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/**
 * One instruction in assembler form. A conditional jump names its targets by label (`null` =
 * the next instruction); `ja` names its target in `target`.
 */
export interface ClassicInsn {
  code: number;
  k: number;
  jt?: string | null;
  jf?: string | null;
  target?: string;
}

/** A label in an instruction list. */
export interface ClassicLabel {
  label: string;
}

/** An item of an assembler listing. */
export type ClassicItem = ClassicInsn | ClassicLabel;

/** `A = *(u32 *)(data + k)`. */
export function ldAbsW(k: number): ClassicInsn {
  return { code: BPF.LD | BPF.W | BPF.ABS, k };
}

/** `A op= k`. */
export function aluK(op: number, k: number): ClassicInsn {
  return { code: BPF.ALU | op | BPF.K, k: k >>> 0 };
}

/** `if (A op k) goto jt else goto jf` (null = fall through). */
export function jmpK(op: number, k: number, jt: string | null, jf: string | null): ClassicInsn {
  return { code: BPF.JMP | op | BPF.K, k: k >>> 0, jt, jf };
}

/** `goto target`. */
export function ja(target: string): ClassicInsn {
  return { code: BPF.JMP | BPF.JA, k: 0, target };
}

/** `return k`. */
export function retK(k: number): ClassicInsn {
  return { code: BPF.RET | BPF.K, k: k >>> 0 };
}

function isCond(i: ClassicInsn): boolean {
  return (i.code & 0x07) === BPF.JMP && (i.code & 0xf0) !== BPF.JA;
}

/**
 * Resolves labels into offsets, adding `ja` trampolines for conditional branches that reach
 * further than 255 instructions, and checks the result against BPF_MAXINSNS. Throws a
 * `RangeError` for an unknown or backward label, or a program too long.
 *
 * @example
 * ```ts
 * assembleClassic([ldAbsW(0), jmpK(BPF.JEQ, 59, "deny", null), retK(0x7fff0000), { label: "deny" }, retK(0)]);
 * ```
 */
export function assembleClassic(items: ClassicItem[]): SockFilter[] {
  const list: ClassicItem[] = items.map((i) => ({ ...i }));
  let trampolines = 0;
  for (let pass = 0;; pass++) {
    if (pass > BPF_MAXINSNS) throw new RangeError("BPF layout did not converge");
    // Positions of labels and instructions.
    const where = new Map<string, number>();
    const pcs: number[] = [];
    let pc = 0;
    for (const item of list) {
      if ("label" in item) {
        if (where.has(item.label) && pass === 0) throw new RangeError(`Label defined twice: ${item.label}`);
        where.set(item.label, pc);
        pcs.push(-1);
      } else pcs.push(pc++);
    }
    const offset = (label: string | null | undefined, at: number): number => {
      if (label === null || label === undefined) return 0;
      const t = where.get(label);
      if (t === undefined) throw new RangeError(`Undefined label: ${label}`);
      const off = t - (at + 1);
      if (off < 0) throw new RangeError(`Backward jump to ${label}`);
      return off;
    };
    // Find far conditional branches; fix them from the end so earlier indexes stay valid.
    const fixes: [number, "jt" | "jf"][] = [];
    list.forEach((item, idx) => {
      if ("label" in item || !isCond(item)) return;
      for (const side of ["jt", "jf"] as const) {
        if (offset(item[side], pcs[idx]) > 255) fixes.push([idx, side]);
      }
    });
    if (fixes.length === 0) {
      const out: SockFilter[] = [];
      list.forEach((item, idx) => {
        if ("label" in item) return;
        const at = pcs[idx];
        if (isCond(item)) {
          out.push({ code: item.code, jt: offset(item.jt, at), jf: offset(item.jf, at), k: item.k });
        } else if (item.target !== undefined) {
          out.push({ code: item.code, jt: 0, jf: 0, k: offset(item.target, at) });
        } else out.push({ code: item.code, jt: 0, jf: 0, k: item.k >>> 0 });
      });
      if (out.length > BPF_MAXINSNS) {
        throw new RangeError(
          `BPF program too long: ${out.length} instructions (the kernel's limit is ${BPF_MAXINSNS})`,
        );
      }
      return out;
    }
    for (const [idx, side] of fixes.reverse()) {
      const insn = list[idx] as ClassicInsn;
      const name = `__far${trampolines++}`;
      list.splice(idx + 1, 0, { label: name }, ja(insn[side]!));
      // The other branch, if it fell through, must now skip the trampoline.
      const other = side === "jt" ? "jf" : "jt";
      if (insn[other] === null || insn[other] === undefined) {
        const after = `__after${trampolines++}`;
        list.splice(idx + 3, 0, { label: after });
        insn[other] = after;
      }
      insn[side] = name;
    }
  }
}

/**
 * Encodes instructions as `struct sock_filter` records (little-endian hosts).
 *
 * @example
 * ```ts
 * encodeClassic([{ code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 }]).length; // 8
 * ```
 */
export function encodeClassic(prog: SockFilter[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(prog.length * 8);
  const v = new DataView(out.buffer);
  prog.forEach((p, i) => {
    v.setUint16(i * 8, p.code, true);
    v.setUint8(i * 8 + 2, p.jt);
    v.setUint8(i * 8 + 3, p.jf);
    v.setUint32(i * 8 + 4, p.k >>> 0, true);
  });
  return out;
}

/**
 * Decodes `struct sock_filter` records.
 *
 * @example
 * ```ts
 * decodeClassic(encodeClassic(prog));
 * ```
 */
export function decodeClassic(bytes: Uint8Array): SockFilter[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SockFilter[] = [];
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    out.push({
      code: v.getUint16(i, true),
      jt: v.getUint8(i + 2),
      jf: v.getUint8(i + 3),
      k: v.getUint32(i + 4, true),
    });
  }
  return out;
}

/**
 * Runs a classic BPF program over a packet (for seccomp: `struct seccomp_data`) and returns
 * the value of the `ret` reached, as the kernel's interpreter would. Written for the tests:
 * supports the loads, ALU operations and jumps seccomp filters use, and throws on anything
 * else, on a load outside the data, on a jump outside the program, or on running off its end.
 *
 * @example
 * ```ts
 * runClassic(prog, seccompData({ nr: 59, arch: AUDIT_ARCH.X86_64 }));
 * ```
 */
export function runClassic(prog: SockFilter[], data: Uint8Array): number {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let a = 0, x = 0;
  const mem = new Uint32Array(16);
  for (let pc = 0, steps = 0; steps <= prog.length; steps++) {
    const p = prog[pc];
    if (!p) throw new RangeError(`Fell off the program at ${pc}`);
    const cls = p.code & 0x07;
    switch (cls) {
      case BPF.LD: {
        const mode = p.code & 0xe0;
        if (mode === BPF.ABS && (p.code & 0x18) === BPF.W) {
          if (p.k + 4 > data.length || p.k % 4 !== 0) throw new RangeError(`Bad load at offset ${p.k}`);
          a = v.getUint32(p.k, true);
        } else if (mode === BPF.IMM) a = p.k;
        else if (mode === BPF.MEM) a = mem[p.k];
        else throw new RangeError(`Unsupported load 0x${p.code.toString(16)}`);
        pc++;
        break;
      }
      case BPF.LDX:
        if ((p.code & 0xe0) === BPF.IMM) x = p.k;
        else if ((p.code & 0xe0) === BPF.MEM) x = mem[p.k];
        else throw new RangeError(`Unsupported ldx 0x${p.code.toString(16)}`);
        pc++;
        break;
      case BPF.ST:
        mem[p.k] = a;
        pc++;
        break;
      case BPF.STX:
        mem[p.k] = x;
        pc++;
        break;
      case BPF.ALU: {
        const src = (p.code & BPF.X) ? x : p.k;
        switch (p.code & 0xf0) {
          case BPF.ADD:
            a = (a + src) >>> 0;
            break;
          case BPF.SUB:
            a = (a - src) >>> 0;
            break;
          case BPF.OR:
            a = (a | src) >>> 0;
            break;
          case BPF.AND:
            a = (a & src) >>> 0;
            break;
          case BPF.XOR:
            a = (a ^ src) >>> 0;
            break;
          case BPF.LSH:
            a = (a << (src & 31)) >>> 0;
            break;
          case BPF.RSH:
            a = a >>> (src & 31);
            break;
          case BPF.NEG:
            a = (-a) >>> 0;
            break;
          default:
            throw new RangeError(`Unsupported ALU op 0x${p.code.toString(16)}`);
        }
        pc++;
        break;
      }
      case BPF.JMP: {
        const op = p.code & 0xf0;
        if (op === BPF.JA) {
          pc += 1 + p.k;
          break;
        }
        const b = (p.code & BPF.X) ? x : p.k;
        let taken: boolean;
        if (op === BPF.JEQ) taken = a === b;
        else if (op === BPF.JGT) taken = a > b;
        else if (op === BPF.JGE) taken = a >= b;
        else if (op === BPF.JSET) taken = (a & b) !== 0;
        else throw new RangeError(`Unsupported jump 0x${p.code.toString(16)}`);
        pc += 1 + (taken ? p.jt : p.jf);
        break;
      }
      case BPF.RET:
        return ((p.code & 0x18) === BPF.A ? a : p.k) >>> 0;
      case BPF.MISC:
        if (p.code === (BPF.MISC | 0x00)) x = a; // tax
        else a = x; // txa
        pc++;
        break;
      default:
        throw new RangeError(`Unsupported instruction 0x${p.code.toString(16)}`);
    }
    if (pc > prog.length) throw new RangeError(`Jump out of the program at ${pc}`);
  }
  throw new RangeError("Program did not terminate");
}
