/**
 * The architectures ctr's seccomp compiler knows: their audit values (what the kernel puts in
 * `seccomp_data.arch`), names in Docker profiles (`SCMP_ARCH_*`) and in Go (`amd64`, which
 * Docker's `includes.arches` use), and their syscall tables.
 *
 * x32 is not an audit architecture of its own: its syscalls arrive as AUDIT_ARCH_X86_64 with
 * bit 0x40000000 set in the number, so an x86_64 filter must route or refuse such numbers, or
 * they would slip past every rule written for x86_64 numbers.
 *
 * 32-bit ARM (a sub-architecture of aarch64 in Docker's profile) is not supported: its
 * syscalls hit the bad-architecture action (killed), as do those of any other architecture.
 *
 * @module
 */
import { SYSCALLS_AARCH64, SYSCALLS_I386, SYSCALLS_X32, SYSCALLS_X86_64 } from "./syscall_tables.ts";

/** `seccomp_data.arch` values (include/uapi/linux/audit.h). */
export const AUDIT_ARCH = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
  AARCH64: 0xc00000b7,
  ARM: 0x40000028,
} as const;

/** __X32_SYSCALL_BIT. */
export const X32_SYSCALL_BIT = 0x40000000;

/** One architecture's view for the compiler. */
export interface SeccompArch {
  /** Docker's name, e.g. `SCMP_ARCH_X86_64`. */
  scmpName: string;
  /** Go's name as Docker's `includes.arches` spell it, e.g. `amd64`. */
  goName: string;
  /** The audit architecture the kernel reports. */
  audit: number;
  /** Name → number. */
  syscalls: Readonly<Record<string, number>>;
  /** The syscall numbers this section handles: [first, last]. */
  range: [number, number];
}

/** Every architecture the compiler has tables for, by Docker name. */
export const ARCHES: Readonly<Record<string, SeccompArch>> = {
  SCMP_ARCH_X86_64: {
    scmpName: "SCMP_ARCH_X86_64",
    goName: "amd64",
    audit: AUDIT_ARCH.X86_64,
    syscalls: SYSCALLS_X86_64,
    range: [0, X32_SYSCALL_BIT - 1],
  },
  SCMP_ARCH_X32: {
    scmpName: "SCMP_ARCH_X32",
    goName: "x32",
    audit: AUDIT_ARCH.X86_64,
    syscalls: SYSCALLS_X32,
    range: [X32_SYSCALL_BIT, 0xffffffff],
  },
  SCMP_ARCH_X86: {
    scmpName: "SCMP_ARCH_X86",
    goName: "x86",
    audit: AUDIT_ARCH.I386,
    syscalls: SYSCALLS_I386,
    range: [0, 0xffffffff],
  },
  SCMP_ARCH_AARCH64: {
    scmpName: "SCMP_ARCH_AARCH64",
    goName: "arm64",
    audit: AUDIT_ARCH.AARCH64,
    syscalls: SYSCALLS_AARCH64,
    range: [0, 0xffffffff],
  },
};

/** Which Docker architectures each native machine can run (the rest never reach its filter). */
export const RUNNABLE: Readonly<Record<string, readonly string[]>> = {
  x86_64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  aarch64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
};

/** The Docker name of a native machine's own architecture. */
export const NATIVE: Readonly<Record<string, string>> = {
  x86_64: "SCMP_ARCH_X86_64",
  aarch64: "SCMP_ARCH_AARCH64",
};

/**
 * Every Docker architecture name, for validating profiles (those without tables are accepted
 * and ignored when not runnable here).
 */
export const KNOWN_SCMP_ARCHES: readonly string[] = [
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
];
