import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  actionValue,
  parseSeccompProfile,
  resolveProfile,
  SECCOMP_RET,
  type SeccompProfile,
} from "./profile.ts";

const json = (o: unknown) => JSON.stringify(o);

Deno.test("seccomp profile: Docker's format parses, 64-bit values exactly", () => {
  const p = parseSeccompProfile(`{
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [
      {"name": "read", "action": "SCMP_ACT_ALLOW"},
      {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 1, "value": 18446744073709551615, "valueTwo": 9007199254740993, "op": "SCMP_CMP_MASKED_EQ"}]}
    ]}`);
  assertEquals(p.syscalls[0].names, ["read"]);
  assertEquals(p.syscalls[1].args, [{
    index: 1,
    value: 0xffffffffffffffffn,
    valueTwo: 9007199254740993n,
    op: "SCMP_CMP_MASKED_EQ",
  }]);
});

Deno.test("seccomp profile: bad profiles fail naming the field", () => {
  const table: [string, string][] = [
    ["not json", "Invalid seccomp profile p.json: "],
    [json([]), "expected a JSON object"],
    [json({ defaultAction: "SCMP_ACT_NOPE", syscalls: [] }), 'defaultAction: unknown action "SCMP_ACT_NOPE"'],
    [json({ defaultAction: "SCMP_ACT_ALLOW", bogus: 1 }), "bogus: unknown field"],
    [
      json({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_Z80"] }),
      "architectures[0]: unknown",
    ],
    [
      json({
        defaultAction: "SCMP_ACT_ALLOW",
        architectures: ["SCMP_ARCH_X86"],
        archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: [] }],
      }),
      "use either 'architectures' or 'archMap'",
    ],
    [
      json({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ name: "a", names: ["b"], action: "SCMP_ACT_ALLOW" }],
      }),
      "syscalls[0]: 'name' and 'names'",
    ],
    [
      json({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: [], action: "SCMP_ACT_ALLOW" }] }),
      "syscalls[0]: no syscall names",
    ],
    [
      json({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["x"], action: "SCMP_ACT_NOTIFY" }] }),
      "syscalls[0].action: SCMP_ACT_NOTIFY is not supported",
    ],
    [
      json({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["x"], action: "SCMP_ACT_KILL", errnoRet: 1 }],
      }),
      "syscalls[0].errnoRet: errnoRet is only supported",
    ],
    [
      json({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{
          names: ["x"],
          action: "SCMP_ACT_ALLOW",
          args: [{ index: 6, value: 1, op: "SCMP_CMP_EQ" }],
        }],
      }),
      "syscalls[0].args[0].index",
    ],
    [
      json({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{
          names: ["x"],
          action: "SCMP_ACT_ALLOW",
          args: [{ index: 0, value: 1, op: "SCMP_CMP_LIKE" }],
        }],
      }),
      'syscalls[0].args[0].op: unknown operator "SCMP_CMP_LIKE"',
    ],
    [
      json({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{
          names: ["x"],
          action: "SCMP_ACT_ALLOW",
          args: [{ index: 0, value: -1, op: "SCMP_CMP_EQ" }],
        }],
      }),
      "syscalls[0].args[0].value: expected an integer",
    ],
    [
      json({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["x"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "new" } }],
      }),
      "syscalls[0].includes.minKernel",
    ],
    [
      json({ defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_TSYNC"] }),
      'flags[0]: unsupported flag "SECCOMP_FILTER_FLAG_TSYNC"',
    ],
  ];
  for (const [text, msg] of table) assertThrows(() => parseSeccompProfile(text, "p.json"), SyntaxError, msg);
});

Deno.test("seccomp profile: actions map to SECCOMP_RET values", () => {
  const table: [string, number | undefined, number][] = [
    ["SCMP_ACT_ALLOW", undefined, 0x7fff0000],
    ["SCMP_ACT_ERRNO", undefined, 0x00050001],
    ["SCMP_ACT_ERRNO", 38, 0x00050026],
    ["SCMP_ACT_KILL", undefined, 0],
    ["SCMP_ACT_KILL_THREAD", undefined, 0],
    ["SCMP_ACT_KILL_PROCESS", undefined, 0x80000000],
    ["SCMP_ACT_TRAP", undefined, 0x00030000],
    ["SCMP_ACT_LOG", undefined, 0x7ffc0000],
    ["SCMP_ACT_TRACE", 5, 0x7ff00005],
  ];
  for (const [name, errno, want] of table) assertEquals(actionValue(name, errno), want, name);
});

const BASE: SeccompProfile = {
  defaultAction: "SCMP_ACT_ERRNO",
  archMap: [
    { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
    { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
  ],
  syscalls: [
    { names: ["always"], action: "SCMP_ACT_ALLOW" },
    { names: ["admin"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
    { names: ["two"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"] } },
    { names: ["notadmin"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_SYS_ADMIN", "CAP_BPF"] } },
    { names: ["intel"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64", "x32"] } },
    { names: ["notarm"], action: "SCMP_ACT_ALLOW", excludes: { arches: ["arm64"] } },
    { names: ["old"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "4.8" } },
    { names: ["future"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "99.1" } },
    { names: ["pre5"], action: "SCMP_ACT_ALLOW", excludes: { minKernel: "5.0" } },
  ],
};

Deno.test("seccomp profile: includes/excludes select rules as Docker does", () => {
  const table: [string[], string, string, string[]][] = [
    [[], "x86_64", "6.18.44-fc", ["always", "notadmin", "intel", "notarm", "old"]],
    [["CAP_SYS_ADMIN"], "x86_64", "6.18.44", ["always", "admin", "intel", "notarm", "old"]],
    [["CAP_SYS_ADMIN", "CAP_NET_ADMIN"], "x86_64", "6.1", [
      "always",
      "admin",
      "two",
      "intel",
      "notarm",
      "old",
    ]],
    [["CAP_BPF"], "aarch64", "6.1", ["always", "old"]],
    [[], "aarch64", "4.7.1", ["always", "notadmin", "pre5"]],
  ];
  for (const [caps, machine, kernel, names] of table) {
    const r = resolveProfile(BASE, { caps, machine, kernel })!;
    assertEquals(r.rules.map((x) => x.names[0]), names, `${caps} ${machine} ${kernel}`);
  }
});

Deno.test("seccomp profile: architectures come from archMap's native entry, or the list, plus native", () => {
  assertEquals(resolveProfile(BASE, { caps: [], machine: "x86_64" })!.arches, [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
  ]);
  // 32-bit ARM has no table: left to the bad-architecture action.
  assertEquals(resolveProfile(BASE, { caps: [], machine: "aarch64" })!.arches, ["SCMP_ARCH_AARCH64"]);
  const listed: SeccompProfile = {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86", "SCMP_ARCH_MIPS"],
    syscalls: [],
  };
  assertEquals(resolveProfile(listed, { caps: [], machine: "x86_64" })!.arches, [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
  ]);
  assertEquals(
    resolveProfile({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [] }, { caps: [], machine: "x86_64" })!
      .arches,
    [
      "SCMP_ARCH_X86_64",
    ],
  );
});

Deno.test("seccomp profile: two conditions on one argument become alternatives (runc's rule)", () => {
  const p: SeccompProfile = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{
      names: ["x"],
      action: "SCMP_ACT_ALLOW",
      args: [
        { index: 0, value: 1n, valueTwo: 0n, op: "SCMP_CMP_EQ" },
        { index: 0, value: 2n, valueTwo: 0n, op: "SCMP_CMP_EQ" },
      ],
    }, {
      names: ["y"],
      action: "SCMP_ACT_ALLOW",
      args: [
        { index: 0, value: 1n, valueTwo: 0n, op: "SCMP_CMP_EQ" },
        { index: 1, value: 2n, valueTwo: 0n, op: "SCMP_CMP_EQ" },
      ],
    }],
  };
  const r = resolveProfile(p, { caps: [], machine: "x86_64" })!;
  assertEquals(r.rules.map((x) => [x.names[0], x.conditions.length]), [["x", 1], ["x", 1], ["y", 2]]);
});

Deno.test("seccomp profile: no default action and no rules means unconfined; flags resolve", () => {
  assertEquals(resolveProfile({ defaultAction: "", syscalls: [] }, { caps: [] }), null);
  const r = resolveProfile(
    {
      defaultAction: "SCMP_ACT_LOG",
      syscalls: [],
      flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    },
    { caps: [], machine: "x86_64" },
  )!;
  assertEquals([r.defaultAction, r.flags], [SECCOMP_RET.LOG, 6]);
});
