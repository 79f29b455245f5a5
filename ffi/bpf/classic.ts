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
 * One pass from the end: every jump is forward, so when an instruction is placed everything it
 * can jump to is placed already and its offsets are final; a trampoline goes right after its
 * jump, where it moves nothing that is already placed.
 *
 * @example
 * ```ts
 * assembleClassic([ldAbsW(0), jmpK(BPF.JEQ, 59, "deny", null), retK(0x7fff0000), { label: "deny" }, retK(0)]);
 * ```
 */
export function assembleClassic(items: ClassicItem[]): SockFilter[] {
  const defined = new Set<string>();
  for (const item of items) {
    if (!("label" in item)) continue;
    if (defined.has(item.label)) throw new RangeError(`Label defined twice: ${item.label}`);
    defined.add(item.label);
  }
  // Placed instructions, last first; a label's value is how many instructions follow it.
  const out: SockFilter[] = [];
  const fromEnd = new Map<string, number>();
  const distance = (label: string): number => {
    const d = fromEnd.get(label);
    if (d === undefined) {
      throw new RangeError(defined.has(label) ? `Backward jump to ${label}` : `Undefined label: ${label}`);
    }
    return d;
  };
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i];
    if ("label" in item) {
      fromEnd.set(item.label, out.length);
      continue;
    }
    if (isCond(item)) {
      const next = out.length; // what falls through
      const target = (
        label: string | null | undefined,
      ) => (label === null || label === undefined ? next : distance(label));
      let t = target(item.jt), f = target(item.jf);
      // out.length is where this jump lands; an offset counts the instructions skipped.
      if (out.length - t > 255) {
        out.push({ code: BPF.JMP | BPF.JA, jt: 0, jf: 0, k: out.length - t });
        t = out.length;
      }
      if (out.length - f > 255) {
        out.push({ code: BPF.JMP | BPF.JA, jt: 0, jf: 0, k: out.length - f });
        f = out.length;
      }
      out.push({ code: item.code, jt: out.length - t, jf: out.length - f, k: item.k >>> 0 });
    } else if (item.target !== undefined) {
      out.push({ code: item.code, jt: 0, jf: 0, k: out.length - distance(item.target) });
    } else {
      out.push({ code: item.code, jt: 0, jf: 0, k: item.k >>> 0 });
    }
  }
  if (out.length > BPF_MAXINSNS) {
    throw new RangeError(
      `BPF program too long: ${out.length} instructions (the kernel's limit is ${BPF_MAXINSNS})`,
    );
  }
  return out.reverse();
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
