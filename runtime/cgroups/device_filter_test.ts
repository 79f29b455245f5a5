import { assertEquals } from "../../tests/assert.ts";
import { libc } from "../../ffi/libc.ts";
import { BPF, bpfProgLoad } from "../../ffi/bpf/syscall.ts";
import { decodeEbpf, encodeEbpf, runEbpf } from "../../ffi/bpf/extended.ts";
import type { DeviceRule } from "./cgroups.ts";
import { DEVCG_ACC, DEVCG_DEV, deviceFilterProgram } from "./device_filter.ts";

/** Runs the compiled program for one access, as the kernel would call it. */
function decide(rules: DeviceRule[], type: "b" | "c", major: number, minor: number, access: number): boolean {
  const ctx = new Uint8Array(12);
  const v = new DataView(ctx.buffer);
  v.setUint32(0, (access << 16) | (type === "b" ? DEVCG_DEV.BLOCK : DEVCG_DEV.CHAR), true);
  v.setUint32(4, major, true);
  v.setUint32(8, minor, true);
  // Through the byte encoding, so encoding bugs show up too.
  const r = runEbpf(decodeEbpf(encodeEbpf(deviceFilterProgram(rules))), ctx);
  if (r !== 0n && r !== 1n) throw new Error(`program returned ${r}`);
  return r === 1n;
}

/** The documented semantics, written plainly: last matching rule wins, default deny. */
function reference(
  rules: DeviceRule[],
  type: "b" | "c",
  major: number,
  minor: number,
  access: number,
): boolean {
  const mask = (s: string) =>
    (s.includes("m") ? DEVCG_ACC.MKNOD : 0) | (s.includes("r") ? DEVCG_ACC.READ : 0) |
    (s.includes("w") ? DEVCG_ACC.WRITE : 0);
  let result = false;
  for (const r of rules) {
    if (r.type !== "a" && r.type !== type) continue;
    if (r.major !== undefined && r.major !== major) continue;
    if (r.minor !== undefined && r.minor !== minor) continue;
    const m = mask(r.access);
    const matches = r.allow ? (access & ~m) === 0 : (access & m) !== 0;
    if (matches) result = r.allow;
  }
  return result;
}

const RULESETS: Record<string, DeviceRule[]> = {
  "empty (deny all)": [],
  "allow all": [{ allow: true, type: "a", access: "rwm" }],
  "docker-like defaults": [
    { allow: false, type: "a", access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
    { allow: true, type: "c", major: 136, access: "rwm" },
    { allow: true, type: "c", access: "m" },
  ],
  "allow then deny write": [
    { allow: true, type: "a", access: "rwm" },
    { allow: false, type: "c", major: 1, minor: 5, access: "w" },
    { allow: false, type: "b", access: "rwm" },
  ],
  "read only char 5:*": [{ allow: true, type: "c", major: 5, access: "r" }],
  "deny then re-allow": [
    { allow: true, type: "c", access: "rwm" },
    { allow: false, type: "c", major: 10, access: "rwm" },
    { allow: true, type: "c", major: 10, minor: 200, access: "rw" },
  ],
};

Deno.test("device filter: the program agrees with the rule semantics on every access of a grid", () => {
  for (const [name, rules] of Object.entries(RULESETS)) {
    for (const type of ["b", "c"] as const) {
      for (const major of [1, 5, 8, 10, 136]) {
        for (const minor of [0, 3, 5, 200]) {
          for (let access = 1; access <= 7; access++) {
            assertEquals(
              decide(rules, type, major, minor, access),
              reference(rules, type, major, minor, access),
              `${name}: ${type} ${major}:${minor} access ${access}`,
            );
          }
        }
      }
    }
  }
});

Deno.test("device filter: spot checks of the defaults", () => {
  const rules = RULESETS["docker-like defaults"];
  const RW = DEVCG_ACC.READ | DEVCG_ACC.WRITE;
  assertEquals(decide(rules, "c", 1, 3, RW), true); // /dev/null
  assertEquals(decide(rules, "c", 1, 1, RW), false); // /dev/mem
  assertEquals(decide(rules, "b", 8, 0, DEVCG_ACC.MKNOD), false); // mknod sda
  assertEquals(decide(rules, "c", 4, 1, DEVCG_ACC.MKNOD), true); // mknod of a char node only
  assertEquals(decide(rules, "c", 4, 1, DEVCG_ACC.READ), false);
  assertEquals(decide(rules, "c", 136, 7, RW), true); // a pty
});

Deno.test("device filter: every instruction is reachable (the verifier refuses dead code)", () => {
  for (const [name, rules] of Object.entries(RULESETS)) {
    const prog = deviceFilterProgram(rules);
    const seen = new Set<number>();
    const todo = [0];
    while (todo.length) {
      const pc = todo.pop()!;
      if (seen.has(pc) || pc >= prog.length) continue;
      seen.add(pc);
      const { code, off } = prog[pc];
      if (code === 0x95) continue; // exit
      if ((code & 0x07) === 0x05) todo.push(pc + 1 + off);
      if (code !== 0x05) todo.push(pc + 1); // not an unconditional ja
    }
    assertEquals(seen.size, prog.length, name);
  }
});

Deno.test({
  name: "device filter (root): the kernel's verifier accepts every program",
  ignore: Deno.uid() !== 0,
  fn() {
    for (const rules of Object.values(RULESETS)) {
      const fd = bpfProgLoad(BPF.PROG_TYPE_CGROUP_DEVICE, encodeEbpf(deviceFilterProgram(rules)), "GPL");
      libc.close(fd);
    }
  },
});
