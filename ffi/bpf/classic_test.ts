import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  aluK,
  assembleClassic,
  BPF,
  BPF_MAXINSNS,
  type ClassicItem,
  decodeClassic,
  encodeClassic,
  ja,
  jmpK,
  ldAbsW,
  retK,
  runClassic,
} from "./classic.ts";

const data = (...words: number[]) => {
  const b = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(b.buffer).setUint32(i * 4, w >>> 0, true));
  return b;
};

Deno.test("cbpf: instructions encode as struct sock_filter", () => {
  const prog = assembleClassic([ldAbsW(4), jmpK(BPF.JEQ, 0xc000003e, null, "no"), retK(0x7fff0000), {
    label: "no",
  }, retK(0)]);
  assertEquals(prog, [
    { code: 0x20, jt: 0, jf: 0, k: 4 },
    { code: 0x15, jt: 0, jf: 1, k: 0xc000003e },
    { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 },
    { code: 0x06, jt: 0, jf: 0, k: 0 },
  ]);
  assertEquals([...encodeClassic(prog).subarray(8, 16)], [0x15, 0, 0, 1, 0x3e, 0, 0, 0xc0]);
  assertEquals(decodeClassic(encodeClassic(prog)), prog);
});

Deno.test("cbpf: the interpreter computes loads, ALU ops and every jump kind", () => {
  const table: [ClassicItem[], Uint8Array, number][] = [
    [[ldAbsW(0), aluK(BPF.AND, 0xff), { code: BPF.RET | BPF.A, k: 0 }], data(0x1234), 0x34],
    [[ldAbsW(0), aluK(BPF.RSH, 4), aluK(BPF.ADD, 1), { code: BPF.RET | BPF.A, k: 0 }], data(0x40), 5],
    [[ldAbsW(0), jmpK(BPF.JGT, 10, "y", null), retK(0), { label: "y" }, retK(1)], data(11), 1],
    [[ldAbsW(0), jmpK(BPF.JGT, 10, "y", null), retK(0), { label: "y" }, retK(1)], data(10), 0],
    [[ldAbsW(0), jmpK(BPF.JGE, 10, "y", null), retK(0), { label: "y" }, retK(1)], data(10), 1],
    [[ldAbsW(0), jmpK(BPF.JSET, 4, "y", null), retK(0), { label: "y" }, retK(1)], data(6), 1],
    [[ldAbsW(0), jmpK(BPF.JSET, 4, "y", null), retK(0), { label: "y" }, retK(1)], data(3), 0],
    [[ja("end"), retK(7), { label: "end" }, retK(9)], data(0), 9],
    // Unsigned comparisons.
    [[ldAbsW(0), jmpK(BPF.JGT, 1, "y", null), retK(0), { label: "y" }, retK(1)], data(0xffffffff), 1],
  ];
  for (const [items, d, want] of table) assertEquals(runClassic(assembleClassic(items), d), want);
  assertThrows(() => runClassic(assembleClassic([ldAbsW(8), retK(0)]), data(1)), RangeError, "Bad load");
  assertThrows(() => runClassic(assembleClassic([ldAbsW(0)]), data(1)), RangeError, "Fell off");
});

Deno.test("cbpf: branches further than 255 instructions go through ja trampolines", () => {
  for (const distance of [250, 255, 256, 300, 1000]) {
    for (const side of ["jt", "jf"] as const) {
      const filler: ClassicItem[] = Array.from({ length: distance }, () => aluK(BPF.ADD, 0));
      const items: ClassicItem[] = [
        ldAbsW(0),
        side === "jt" ? jmpK(BPF.JEQ, 7, "far", null) : jmpK(BPF.JEQ, 7, null, "far"),
        retK(1), // near outcome
        ...filler,
        { label: "far" },
        retK(2),
      ];
      const prog = assembleClassic(items);
      for (const p of prog) if (p.jt > 255 || p.jf > 255) throw new Error("offset overflow");
      const farWhen = side === "jt" ? 7 : 8, nearWhen = side === "jt" ? 8 : 7;
      assertEquals(runClassic(prog, data(farWhen)), 2, `${side} ${distance} far`);
      assertEquals(runClassic(prog, data(nearWhen)), 1, `${side} ${distance} near`);
    }
  }
});

Deno.test("cbpf: both branches far, and chains of far jumps, stay correct", () => {
  const filler = (n: number): ClassicItem[] => Array.from({ length: n }, () => aluK(BPF.ADD, 0));
  const items: ClassicItem[] = [ldAbsW(0)];
  // 20 comparisons, each jumping past all the others' filler.
  for (let i = 0; i < 20; i++) items.push(jmpK(BPF.JEQ, i, `t${i}`, null));
  items.push(jmpK(BPF.JGT, 100, "big", "small"), ...filler(300), { label: "small" }, retK(1000));
  for (let i = 0; i < 20; i++) items.push(...filler(20), { label: `t${i}` }, retK(i));
  items.push(...filler(300), { label: "big" }, retK(2000));
  const prog = assembleClassic(items);
  for (let i = 0; i < 20; i++) assertEquals(runClassic(prog, data(i)), i);
  assertEquals(runClassic(prog, data(50)), 1000);
  assertEquals(runClassic(prog, data(500)), 2000);
});

Deno.test("cbpf: the assembler refuses bad listings", () => {
  assertThrows(() => assembleClassic([ja("nowhere")]), RangeError, "Undefined label");
  assertThrows(() => assembleClassic([{ label: "a" }, retK(0), ja("a")]), RangeError, "Backward");
  assertThrows(() => assembleClassic([{ label: "a" }, { label: "a" }, retK(0)]), RangeError, "twice");
  const tooLong = Array.from({ length: BPF_MAXINSNS + 1 }, () => retK(0));
  assertThrows(() => assembleClassic(tooLong), RangeError, "too long");
});
