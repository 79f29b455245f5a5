/**
 * An assembler for the part of eBPF ctr emits (cgroup device programs): instruction encoding,
 * constructors for the instructions used, and forward jumps to labels. Pure.
 *
 * Encoding (include/uapi/linux/bpf.h, `struct bpf_insn`, little-endian hosts):
 * ```
 * byte 0: opcode   byte 1: dst_reg (low nibble) | src_reg (high nibble)
 * bytes 2-3: off (s16, jump offset counted from the next instruction)   bytes 4-7: imm (s32)
 * ```
 *
 * @module
 */

/** Instruction classes, sizes, modes and operations. */
export const EBPF = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
  W: 0x00,
  H: 0x08,
  B: 0x10,
  DW: 0x18,
  IMM: 0x00,
  MEM: 0x60,
  K: 0x00,
  X: 0x08,
  ADD: 0x00,
  SUB: 0x10,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  MOV: 0xb0,
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JLT: 0xa0,
  JLE: 0xb0,
  EXIT: 0x90,
} as const;

/** One decoded instruction; `label` (jumps only) is resolved into `off` by {@linkcode assembleEbpf}. */
export interface EbpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** Jump target label, resolved by the assembler. */
  label?: string;
}

/** A label definition in an instruction list. */
export interface EbpfLabel {
  defineLabel: string;
}

/** Loads a 32-bit word: `dst = *(u32 *)(src + off)`. */
export function ldxW(dst: number, src: number, off: number): EbpfInsn {
  return { code: EBPF.LDX | EBPF.W | EBPF.MEM, dst, src, off, imm: 0 };
}

/** 32-bit ALU with an immediate: `wDst op= imm` (the upper half of the register is zeroed). */
export function alu32Imm(op: number, dst: number, imm: number): EbpfInsn {
  return { code: EBPF.ALU | op | EBPF.K, dst, src: 0, off: 0, imm };
}

/** 64-bit ALU with a register: `dst op= src`. */
export function alu64Reg(op: number, dst: number, src: number): EbpfInsn {
  return { code: EBPF.ALU64 | op | EBPF.X, dst, src, off: 0, imm: 0 };
}

/** `dst = imm` (64-bit move of a sign-extended immediate). */
export function mov64Imm(dst: number, imm: number): EbpfInsn {
  return { code: EBPF.ALU64 | EBPF.MOV | EBPF.K, dst, src: 0, off: 0, imm };
}

/** Conditional jump comparing a register with an immediate: `if dst op imm goto label`. */
export function jmpImm(op: number, dst: number, imm: number, label: string): EbpfInsn {
  return { code: EBPF.JMP | op | EBPF.K, dst, src: 0, off: 0, imm, label };
}

/** `exit` (returns r0). */
export function exit(): EbpfInsn {
  return { code: EBPF.JMP | EBPF.EXIT, dst: 0, src: 0, off: 0, imm: 0 };
}

/**
 * Resolves labels (jump offsets counted from the next instruction) and returns the program.
 * Throws a `RangeError` for an undefined label or an offset outside s16.
 *
 * @example
 * ```ts
 * assembleEbpf([mov64Imm(0, 1), jmpImm(EBPF.JEQ, 1, 0, "out"), mov64Imm(0, 0), { defineLabel: "out" }, exit()]);
 * ```
 */
export function assembleEbpf(items: (EbpfInsn | EbpfLabel)[]): EbpfInsn[] {
  const labels = new Map<string, number>();
  const insns: EbpfInsn[] = [];
  for (const item of items) {
    if ("defineLabel" in item) {
      if (labels.has(item.defineLabel)) throw new RangeError(`Label defined twice: ${item.defineLabel}`);
      labels.set(item.defineLabel, insns.length);
    } else insns.push({ ...item });
  }
  insns.forEach((insn, pc) => {
    if (insn.label === undefined) return;
    const target = labels.get(insn.label);
    if (target === undefined) throw new RangeError(`Undefined label: ${insn.label}`);
    const off = target - (pc + 1);
    if (off < -32768 || off > 32767) throw new RangeError(`Jump to ${insn.label} out of range: ${off}`);
    insn.off = off;
    delete insn.label;
  });
  return insns;
}

/**
 * Encodes instructions as `struct bpf_insn` records (8 bytes each, little-endian).
 *
 * @example
 * ```ts
 * encodeEbpf([mov64Imm(0, 1), exit()]).length; // 16
 * ```
 */
export function encodeEbpf(insns: EbpfInsn[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach((insn, i) => {
    if (insn.label !== undefined) throw new RangeError(`Unresolved label: ${insn.label}`);
    view.setUint8(i * 8, insn.code);
    view.setUint8(i * 8 + 1, (insn.dst & 0xf) | ((insn.src & 0xf) << 4));
    view.setInt16(i * 8 + 2, insn.off, true);
    view.setInt32(i * 8 + 4, insn.imm | 0, true);
  });
  return out;
}

/**
 * Decodes `struct bpf_insn` records (the inverse of {@linkcode encodeEbpf}).
 *
 * @example
 * ```ts
 * decodeEbpf(encodeEbpf([exit()]))[0].code; // 0x95
 * ```
 */
export function decodeEbpf(bytes: Uint8Array): EbpfInsn[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: EbpfInsn[] = [];
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    const regs = view.getUint8(i + 1);
    out.push({
      code: view.getUint8(i),
      dst: regs & 0xf,
      src: regs >> 4,
      off: view.getInt16(i + 2, true),
      imm: view.getInt32(i + 4, true),
    });
  }
  return out;
}

/**
 * Runs a program of the subset emitted here (32/64-bit ALU AND/OR/ADD/SUB/LSH/RSH/MOV, word
 * loads from the context, conditional jumps against immediates, exit) over a context buffer,
 * returning r0. Written for tests, and strict: any other instruction, a read outside the
 * context, or running off the end throws.
 *
 * @example
 * ```ts
 * runEbpf(decodeEbpf(program), new Uint8Array(12)); // 0 or 1
 * ```
 */
export function runEbpf(insns: EbpfInsn[], ctx: Uint8Array): bigint {
  const M64 = (1n << 64n) - 1n, M32 = 0xffffffffn;
  const reg = new Array<bigint>(11).fill(0n);
  const CTX_BASE = 0x1000_0000n;
  reg[1] = CTX_BASE;
  const view = new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength);
  for (let pc = 0, steps = 0; steps < 100_000; steps++) {
    const insn = insns[pc];
    if (!insn) throw new RangeError(`Fell off the program at ${pc}`);
    const cls = insn.code & 0x07;
    const imm64 = BigInt.asUintN(64, BigInt(insn.imm));
    if (cls === EBPF.LDX) {
      if (insn.code !== (EBPF.LDX | EBPF.W | EBPF.MEM)) {
        throw new RangeError(`Unsupported load 0x${insn.code.toString(16)}`);
      }
      const at = Number(reg[insn.src] - CTX_BASE) + insn.off;
      if (at < 0 || at + 4 > ctx.length) throw new RangeError(`Context read out of bounds at ${at}`);
      reg[insn.dst] = BigInt(view.getUint32(at, true));
      pc++;
    } else if (cls === EBPF.ALU || cls === EBPF.ALU64) {
      const op = insn.code & 0xf0;
      const srcVal = (insn.code & EBPF.X) ? reg[insn.src] : imm64;
      const wide = cls === EBPF.ALU64;
      const a = wide ? reg[insn.dst] : reg[insn.dst] & M32, b = wide ? srcVal : srcVal & M32;
      let r: bigint;
      switch (op) {
        case EBPF.ADD:
          r = a + b;
          break;
        case EBPF.SUB:
          r = a - b;
          break;
        case EBPF.OR:
          r = a | b;
          break;
        case EBPF.AND:
          r = a & b;
          break;
        case EBPF.LSH:
          r = a << (b & (wide ? 63n : 31n));
          break;
        case EBPF.RSH:
          r = a >> (b & (wide ? 63n : 31n));
          break;
        case EBPF.MOV:
          r = b;
          break;
        default:
          throw new RangeError(`Unsupported ALU op 0x${insn.code.toString(16)}`);
      }
      reg[insn.dst] = r & (wide ? M64 : M32);
      pc++;
    } else if (cls === EBPF.JMP) {
      const op = insn.code & 0xf0;
      if (op === EBPF.EXIT) return reg[0];
      if (insn.code & EBPF.X) throw new RangeError(`Unsupported jump 0x${insn.code.toString(16)}`);
      const a = reg[insn.dst], b = imm64;
      let taken: boolean;
      switch (op) {
        case EBPF.JA:
          taken = true;
          break;
        case EBPF.JEQ:
          taken = a === b;
          break;
        case EBPF.JNE:
          taken = a !== b;
          break;
        case EBPF.JGT:
          taken = a > b;
          break;
        case EBPF.JGE:
          taken = a >= b;
          break;
        case EBPF.JLT:
          taken = a < b;
          break;
        case EBPF.JLE:
          taken = a <= b;
          break;
        case EBPF.JSET:
          taken = (a & b) !== 0n;
          break;
        default:
          throw new RangeError(`Unsupported jump 0x${insn.code.toString(16)}`);
      }
      pc += 1 + (taken ? insn.off : 0);
    } else throw new RangeError(`Unsupported instruction class 0x${insn.code.toString(16)}`);
  }
  throw new RangeError("Program did not terminate");
}
