/**
 * The compiler, checked by running the generated BPF in the test interpreter against tables of
 * syscalls and arguments (no kernel involved).
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { decodeClassic, runClassic } from "../bpf/classic.ts";
import { ARCHES, AUDIT_ARCH } from "./arch.ts";
import {
  compileSeccomp,
  compileSeccompProgram,
  seccompData,
  type SeccompVerdict,
  verdictOf,
} from "./compile.ts";
import { DEFAULT_SECCOMP_PROFILE } from "./default_profile.ts";
import { resolveProfile, type SeccompOp, type SeccompProfile } from "./profile.ts";
import { CAPABILITIES, DEFAULT_CAPABILITIES } from "../../runtime/security/capabilities.ts";

type Expect =
  | "ALLOW"
  | "EPERM"
  | "ENOSYS"
  | "KILL_PROCESS"
  | "KILL_THREAD"
  | "TRAP"
  | "LOG"
  | `TRACE ${number}`
  | `ERRNO ${number}`;

function show(v: SeccompVerdict): string {
  if (v.action === "ERRNO") return v.data === 1 ? "EPERM" : v.data === 38 ? "ENOSYS" : `ERRNO ${v.data}`;
  if (v.action === "TRACE") return `TRACE ${v.data}`;
  return v.action;
}

/** Compiles (through the byte encoding) and returns a function deciding one call. */
function filter(profile: SeccompProfile, caps: readonly string[] = DEFAULT_CAPABILITIES, machine = "x86_64") {
  const resolved = resolveProfile(profile, { caps, machine, kernel: "6.18.44" })!;
  const prog = decodeClassic(compileSeccomp(resolved));
  return (arch: string, name: string | number, args: (number | bigint)[] = []): string => {
    const a = ARCHES[arch];
    const nr = typeof name === "number" ? name : a.syscalls[name];
    if (nr === undefined) throw new Error(`${name} is not a syscall of ${arch}`);
    return show(verdictOf(runClassic(prog, seccompData({ nr, arch: a.audit, args }))));
  };
}

const X64 = "SCMP_ARCH_X86_64", I386 = "SCMP_ARCH_X86", X32 = "SCMP_ARCH_X32", A64 = "SCMP_ARCH_AARCH64";
const CLONE_NEWNS = 0x20000, CLONE_NEWUSER = 0x10000000, CLONE_NEWNET = 0x40000000, SIGCHLD = 17;
const THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes

Deno.test("seccomp default profile (x86_64, Docker's default caps): allowed and refused calls", () => {
  const decide = filter(DEFAULT_SECCOMP_PROFILE);
  const table: [string | number, (number | bigint)[], Expect][] = [
    ["read", [], "ALLOW"],
    ["write", [], "ALLOW"],
    ["execve", [], "ALLOW"],
    ["mmap", [], "ALLOW"],
    ["futex", [], "ALLOW"],
    ["exit_group", [], "ALLOW"],
    ["rt_sigreturn", [], "ALLOW"],
    ["clone", [THREAD_FLAGS], "ALLOW"],
    ["clone", [SIGCHLD], "ALLOW"],
    ["clone", [SIGCHLD | CLONE_NEWNS], "EPERM"],
    ["clone", [SIGCHLD | CLONE_NEWUSER], "EPERM"],
    ["clone", [CLONE_NEWNET], "EPERM"],
    ["clone3", [], "ENOSYS"],
    ["unshare", [CLONE_NEWNS], "EPERM"],
    ["setns", [], "EPERM"],
    ["mount", [], "EPERM"],
    ["umount2", [], "EPERM"],
    ["pivot_root", [], "EPERM"],
    ["reboot", [], "EPERM"],
    ["keyctl", [], "EPERM"],
    ["add_key", [], "EPERM"],
    ["request_key", [], "EPERM"],
    ["init_module", [], "EPERM"],
    ["finit_module", [], "EPERM"],
    ["delete_module", [], "EPERM"],
    ["kexec_load", [], "EPERM"],
    ["settimeofday", [], "EPERM"],
    ["clock_settime", [], "EPERM"],
    ["sethostname", [], "EPERM"],
    ["bpf", [], "EPERM"],
    ["perf_event_open", [], "EPERM"],
    ["open_by_handle_at", [], "EPERM"],
    ["kcmp", [], "EPERM"],
    ["pidfd_getfd", [], "EPERM"],
    ["iopl", [], "EPERM"],
    ["acct", [], "EPERM"],
    ["syslog", [], "EPERM"],
    ["swapon", [], "EPERM"],
    ["userfaultfd", [], "EPERM"],
    ["ptrace", [], "EPERM"], // needs CAP_SYS_PTRACE (Docker: allowed on kernel ≥ 4.8)
    ["process_vm_readv", [], "EPERM"],
    ["chroot", [], "ALLOW"], // CAP_SYS_CHROOT is a default capability
    ["arch_prctl", [], "ALLOW"],
    ["modify_ldt", [], "ALLOW"],
    ["socket", [2, 1, 0], "ALLOW"], // AF_INET
    ["socket", [1, 1, 0], "ALLOW"], // AF_UNIX
    ["socket", [40, 1, 0], "EPERM"], // AF_VSOCK
    ["socket", [0x1_0000_0028n], "ALLOW"], // 64-bit compare: not 40
    ["personality", [0], "ALLOW"],
    ["personality", [8], "ALLOW"],
    ["personality", [0xffffffff], "ALLOW"],
    ["personality", [0x20008], "ALLOW"],
    ["personality", [6], "EPERM"],
    ["personality", [0x1_0000_0000n], "EPERM"],
    ["cachestat", [], "ALLOW"],
    ["fchmodat2", [], "ALLOW"],
    ["listns", [], "EPERM"],
    [471, [], "ENOSYS"], // newer than our tables
    [5000, [], "ENOSYS"],
    [0x3fffffff, [], "ENOSYS"],
  ];
  for (const [name, args, want] of table) assertEquals(decide(X64, name, args), want, `${name}(${args})`);
});

Deno.test("seccomp default profile: capabilities open their calls", () => {
  const table: [string, string, (number | bigint)[]][] = [
    ["CAP_SYS_ADMIN", "mount", []],
    ["CAP_SYS_ADMIN", "unshare", [CLONE_NEWNS]],
    ["CAP_SYS_ADMIN", "clone", [SIGCHLD | CLONE_NEWUSER]],
    ["CAP_SYS_ADMIN", "clone3", []],
    ["CAP_SYS_ADMIN", "setns", []],
    ["CAP_SYS_BOOT", "reboot", []],
    ["CAP_SYS_MODULE", "finit_module", []],
    ["CAP_SYS_PTRACE", "kcmp", []],
    ["CAP_SYS_TIME", "settimeofday", []],
    ["CAP_SYS_RAWIO", "iopl", []],
    ["CAP_SYS_NICE", "mbind", []],
    ["CAP_SYSLOG", "syslog", []],
    ["CAP_BPF", "bpf", []],
    ["CAP_PERFMON", "perf_event_open", []],
    ["CAP_DAC_READ_SEARCH", "open_by_handle_at", []],
    ["CAP_SYS_PACCT", "acct", []],
    ["CAP_SYS_TTY_CONFIG", "vhangup", []],
  ];
  for (const [cap, name, args] of table) {
    assertEquals(
      filter(DEFAULT_SECCOMP_PROFILE)(X64, name, args),
      name === "clone3" ? "ENOSYS" : "EPERM",
      name,
    );
    assertEquals(
      filter(DEFAULT_SECCOMP_PROFILE, [...DEFAULT_CAPABILITIES, cap])(X64, name, args),
      "ALLOW",
      `${cap} ${name}`,
    );
  }
  // Without CAP_SYS_CHROOT, chroot is refused.
  assertEquals(filter(DEFAULT_SECCOMP_PROFILE, ["CAP_CHOWN"])(X64, "chroot"), "EPERM");
  // keyctl stays refused even with every capability (Docker's default never allows it).
  assertEquals(
    filter(DEFAULT_SECCOMP_PROFILE, CAPABILITIES)(X64, "keyctl"),
    "EPERM",
  );
});

Deno.test("seccomp default profile: the i386 and x32 ABIs on x86_64 are filtered by their own numbers", () => {
  const decide = filter(DEFAULT_SECCOMP_PROFILE);
  const table: [string, string | number, (number | bigint)[], Expect][] = [
    [I386, "getpid", [], "ALLOW"],
    [I386, "socketcall", [], "ALLOW"],
    [I386, "mmap2", [], "ALLOW"],
    [I386, "mount", [], "EPERM"],
    [I386, "unshare", [], "EPERM"],
    [I386, "clone", [SIGCHLD | CLONE_NEWNS], "EPERM"],
    [I386, "clone", [SIGCHLD], "ALLOW"],
    [I386, "modify_ldt", [], "ALLOW"],
    [I386, "keyctl", [], "EPERM"],
    [I386, 5000, [], "ENOSYS"],
    [X32, "getpid", [], "ALLOW"],
    [X32, "execve", [], "ALLOW"], // the x32-only number 520
    [X32, "mount", [], "EPERM"],
    [X32, "arch_prctl", [], "ALLOW"],
    [X32, 0x40000000 + 5000, [], "ENOSYS"],
    [X64, 0xffffffff, [], "ENOSYS"], // syscall(-1)
  ];
  for (const [arch, name, args, want] of table) {
    assertEquals(decide(arch, name, args), want, `${arch} ${name}`);
  }
});

Deno.test("seccomp default profile: foreign architectures are killed", () => {
  const resolved = resolveProfile(DEFAULT_SECCOMP_PROFILE, {
    caps: DEFAULT_CAPABILITIES,
    machine: "x86_64",
  })!;
  const prog = compileSeccompProgram(resolved);
  for (const arch of [AUDIT_ARCH.ARM, AUDIT_ARCH.AARCH64, 0x40000008 /* mips */]) {
    assertEquals(verdictOf(runClassic(prog, seccompData({ nr: 0, arch }))).action, "KILL_PROCESS");
  }
});

Deno.test("seccomp default profile (aarch64): its own numbers and nothing of x86", () => {
  const decide = filter(DEFAULT_SECCOMP_PROFILE, DEFAULT_CAPABILITIES, "aarch64");
  const table: [string | number, (number | bigint)[], Expect][] = [
    ["read", [], "ALLOW"],
    ["openat", [], "ALLOW"],
    ["clone", [SIGCHLD], "ALLOW"],
    ["clone", [SIGCHLD | CLONE_NEWNS], "EPERM"],
    ["mount", [], "EPERM"],
    ["unshare", [], "EPERM"],
    ["clone3", [], "ENOSYS"],
    ["personality", [0], "ALLOW"],
    ["keyctl", [], "EPERM"],
    [1000, [], "ENOSYS"],
  ];
  for (const [name, args, want] of table) assertEquals(decide(A64, name, args), want, `${name}`);
  const prog = compileSeccompProgram(
    resolveProfile(DEFAULT_SECCOMP_PROFILE, { caps: [], machine: "aarch64" })!,
  );
  assertEquals(
    verdictOf(runClassic(prog, seccompData({ nr: 63, arch: AUDIT_ARCH.X86_64 }))).action,
    "KILL_PROCESS",
  );
});

Deno.test("seccomp: the default program is small and far below the kernel's limit", () => {
  const prog = compileSeccompProgram(
    resolveProfile(DEFAULT_SECCOMP_PROFILE, { caps: DEFAULT_CAPABILITIES, machine: "x86_64" })!,
  );
  assert(prog.length < 1200, `${prog.length} instructions`);
});

/** The meaning of each operator on 64-bit unsigned values. */
function reference(op: SeccompOp, arg: bigint, value: bigint, valueTwo: bigint): boolean {
  switch (op) {
    case "SCMP_CMP_EQ":
      return arg === value;
    case "SCMP_CMP_NE":
      return arg !== value;
    case "SCMP_CMP_LT":
      return arg < value;
    case "SCMP_CMP_LE":
      return arg <= value;
    case "SCMP_CMP_GT":
      return arg > value;
    case "SCMP_CMP_GE":
      return arg >= value;
    case "SCMP_CMP_MASKED_EQ":
      return (arg & value) === valueTwo;
  }
}

const VALUES = [
  0n,
  1n,
  2n,
  0x7fffffffn,
  0x80000000n,
  0xfffffffen,
  0xffffffffn,
  0x1_0000_0000n,
  0x1_0000_0001n,
  0x1_ffff_ffffn,
  0x2_0000_0000n,
  0x1234_5678_9abc_def0n,
  0x7fff_ffff_ffff_ffffn,
  0xffff_ffff_0000_0000n,
  0xffff_ffff_ffff_fffen,
  0xffff_ffff_ffff_ffffn,
];

Deno.test("seccomp: every comparison operator agrees with 64-bit arithmetic on a grid of values", () => {
  const ops: SeccompOp[] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
  ];
  for (const op of ops) {
    for (const value of VALUES) {
      for (const index of [0, 5]) {
        const profile: SeccompProfile = {
          defaultAction: "SCMP_ACT_ERRNO",
          syscalls: [{
            names: ["getpid"],
            action: "SCMP_ACT_ALLOW",
            args: [{ index, value, valueTwo: 0n, op }],
          }],
        };
        const decide = filter(profile);
        for (const arg of VALUES) {
          const args = [0n, 0n, 0n, 0n, 0n, 0n];
          args[index] = arg;
          const want = reference(op, arg, value, 0n) ? "ALLOW" : "EPERM";
          assertEquals(
            decide(X64, "getpid", args),
            want,
            `${op} arg${index}=${arg.toString(16)} value=${value.toString(16)}`,
          );
        }
      }
    }
  }
});

Deno.test("seccomp: MASKED_EQ masks both words", () => {
  const pairs: [bigint, bigint][] = [
    [0x7e020000n, 0n],
    [0xffn, 0x11n],
    [0xffff_0000_0000_0000n, 0x1234_0000_0000_0000n],
    [0x1_0000_0001n, 0x1_0000_0000n],
    [0n, 0n],
    [0n, 1n], // never true
    [0xffff_ffff_ffff_ffffn, 0xffff_ffff_ffff_ffffn],
  ];
  for (const [mask, datum] of pairs) {
    const decide = filter({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{
        names: ["ioctl"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 1, value: mask, valueTwo: datum, op: "SCMP_CMP_MASKED_EQ" }],
      }],
    });
    for (const arg of [...VALUES, datum, datum | 0x10n]) {
      const want = reference("SCMP_CMP_MASKED_EQ", arg, mask, datum) ? "ALLOW" : "EPERM";
      assertEquals(
        decide(X64, "ioctl", [0n, arg]),
        want,
        `mask ${mask.toString(16)} datum ${datum.toString(16)} arg ${arg.toString(16)}`,
      );
    }
  }
});

Deno.test("seccomp: conditions on several arguments must all hold", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{
      names: ["kill"],
      action: "SCMP_ACT_ALLOW",
      args: [
        { index: 0, value: 100n, valueTwo: 0n, op: "SCMP_CMP_GE" },
        { index: 1, value: 9n, valueTwo: 0n, op: "SCMP_CMP_EQ" },
      ],
    }],
  });
  assertEquals(decide(X64, "kill", [100, 9]), "ALLOW");
  assertEquals(decide(X64, "kill", [99, 9]), "EPERM");
  assertEquals(decide(X64, "kill", [100, 15]), "EPERM");
});

Deno.test("seccomp: every action and its data reach the verdict", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      { names: ["mount"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
      { names: ["umount2"], action: "SCMP_ACT_ERRNO" },
      { names: ["reboot"], action: "SCMP_ACT_KILL" },
      { names: ["kexec_load"], action: "SCMP_ACT_KILL_PROCESS" },
      { names: ["swapon"], action: "SCMP_ACT_KILL_THREAD" },
      { names: ["acct"], action: "SCMP_ACT_TRAP" },
      { names: ["syslog"], action: "SCMP_ACT_LOG" },
      { names: ["ptrace"], action: "SCMP_ACT_TRACE", errnoRet: 7 },
      { names: ["not_a_syscall_anywhere"], action: "SCMP_ACT_ERRNO" },
    ],
  });
  const table: [string, Expect][] = [
    ["mount", "ERRNO 13"],
    ["umount2", "EPERM"],
    ["reboot", "KILL_THREAD"],
    ["kexec_load", "KILL_PROCESS"],
    ["swapon", "KILL_THREAD"],
    ["acct", "TRAP"],
    ["syslog", "LOG"],
    ["ptrace", "TRACE 7"],
    ["read", "ALLOW"],
  ];
  for (const [name, want] of table) assertEquals(decide(X64, name), want, name);
  // An allowing default never turns unknown numbers into ENOSYS.
  assertEquals(decide(X64, 5000), "ALLOW");
});

Deno.test("seccomp: conditional rules come before the unconditional one; the first unconditional wins", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["kill"], action: "SCMP_ACT_ALLOW" },
      {
        names: ["kill"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 3,
        args: [{ index: 1, value: 9n, valueTwo: 0n, op: "SCMP_CMP_EQ" }],
      },
      { names: ["kill"], action: "SCMP_ACT_KILL" },
    ],
  });
  assertEquals(decide(X64, "kill", [1, 9]), "ERRNO 3");
  assertEquals(decide(X64, "kill", [1, 15]), "ALLOW");
});

Deno.test("seccomp: without x32 in the filter, x32 numbers are a foreign ABI but syscall(-1) is not", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [],
  });
  assertEquals(decide(X64, 0x40000027), "KILL_PROCESS");
  assertEquals(decide(X64, 0xffffffff), "EPERM");
  assertEquals(decide(I386, "getpid"), "KILL_PROCESS"); // i386 not in the filter either
});

Deno.test("seccomp: a profile with hundreds of argument rules lays out long jumps correctly", () => {
  const names = Object.keys(ARCHES[X64].syscalls).slice(0, 300);
  const profile: SeccompProfile = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: names.map((n, i) => ({
      names: [n],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 2, value: BigInt(i) << 32n, valueTwo: 0n, op: "SCMP_CMP_EQ" }],
    })),
  };
  const prog = compileSeccompProgram(resolveProfile(profile, { caps: [], machine: "x86_64" })!);
  assert(prog.length > 1000 && prog.length <= 4096, `${prog.length}`);
  const decide = filter(profile);
  names.forEach((n, i) => {
    assertEquals(decide(X64, n, [0, 0, BigInt(i) << 32n]), "ALLOW", n);
    assertEquals(decide(X64, n, [0, 0, BigInt(i + 1) << 32n]), "EPERM", n);
  });
});

Deno.test("seccomp: syscall tables carry the kernel's numbers", () => {
  const table: [string, string, number][] = [
    [X64, "read", 0],
    [X64, "execve", 59],
    [X64, "mount", 165],
    [X64, "keyctl", 250],
    [X64, "seccomp", 317],
    [X64, "bpf", 321],
    [X64, "clone3", 435],
    [X64, "mseal", 462],
    [I386, "exit", 1],
    [I386, "socketcall", 102],
    [I386, "mmap2", 192],
    [X32, "read", 0x40000000],
    [X32, "execve", 0x40000208],
    [X32, "clone3", 0x400001b3],
    [A64, "io_setup", 0],
    [A64, "openat", 56],
    [A64, "read", 63],
    [A64, "clone", 220],
    [A64, "execve", 221],
    [A64, "mount", 40],
  ];
  for (const [arch, name, nr] of table) assertEquals(ARCHES[arch].syscalls[name], nr, `${arch} ${name}`);
  assertEquals("open" in ARCHES[A64].syscalls, false);
  assertEquals("map_shadow_stack" in ARCHES[I386].syscalls, false);
});
