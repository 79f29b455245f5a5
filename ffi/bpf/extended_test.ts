import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  alu32Imm,
  alu64Reg,
  assembleEbpf,
  decodeEbpf,
  EBPF,
  encodeEbpf,
  exit,
  jmpImm,
  ldxW,
  mov64Imm,
  runEbpf,
} from "./extended.ts";

Deno.test("ebpf: instructions encode as the kernel's struct bpf_insn", () => {
  const table: [ReturnType<typeof exit>, number[]][] = [
    [exit(), [0x95, 0, 0, 0, 0, 0, 0, 0]],
    [mov64Imm(0, 1), [0xb7, 0x00, 0, 0, 1, 0, 0, 0]],
    [ldxW(2, 1, 4), [0x61, 0x12, 4, 0, 0, 0, 0, 0]],
    [alu32Imm(EBPF.AND, 2, 0xffff), [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0]],
    [alu32Imm(EBPF.RSH, 3, 16), [0x74, 0x03, 0, 0, 16, 0, 0, 0]],
    [alu64Reg(EBPF.MOV, 1, 3), [0xbf, 0x31, 0, 0, 0, 0, 0, 0]],
    [{ ...jmpImm(EBPF.JNE, 4, 136, "x"), label: undefined, off: -2 }, [0x55, 0x04, 0xfe, 0xff, 136, 0, 0, 0]],
    [mov64Imm(0, -1), [0xb7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]],
  ];
  for (const [insn, bytes] of table) {
    assertEquals([...encodeEbpf([insn])], bytes, JSON.stringify(insn));
    const back = decodeEbpf(encodeEbpf([insn]))[0];
    assertEquals([back.code, back.dst, back.src, back.off, back.imm], [
      insn.code,
      insn.dst,
      insn.src,
      insn.off,
      insn.imm,
    ]);
  }
});

Deno.test("ebpf: labels resolve to offsets from the next instruction", () => {
  const prog = assembleEbpf([
    jmpImm(EBPF.JEQ, 1, 0, "end"),
    mov64Imm(0, 2),
    { defineLabel: "end" },
    exit(),
  ]);
  assertEquals(prog[0].off, 1);
  assertThrows(() => assembleEbpf([jmpImm(EBPF.JA, 0, 0, "nowhere")]), RangeError, "Undefined label");
  assertThrows(() => assembleEbpf([{ defineLabel: "a" }, { defineLabel: "a" }]), RangeError, "twice");
});

Deno.test("ebpf: the test interpreter runs loads, ALU ops and jumps", () => {
  const ctx = new Uint8Array([0x02, 0x00, 0x06, 0x00, 7, 0, 0, 0]);
  const prog = assembleEbpf([
    ldxW(2, 1, 0), // 0x00060002
    alu32Imm(EBPF.RSH, 2, 16), // 6
    ldxW(3, 1, 4), // 7
    alu64Reg(EBPF.ADD, 2, 3), // 13
    jmpImm(EBPF.JGT, 2, 12, "big"),
    mov64Imm(0, 0),
    exit(),
    { defineLabel: "big" },
    alu64Reg(EBPF.MOV, 0, 2),
    exit(),
  ]);
  assertEquals(runEbpf(prog, ctx), 13n);
  assertThrows(() => runEbpf([ldxW(0, 1, 8), exit()], ctx), RangeError, "out of bounds");
  assertThrows(() => runEbpf([mov64Imm(0, 1)], ctx), RangeError, "Fell off");
});
