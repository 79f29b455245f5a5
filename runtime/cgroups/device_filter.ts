/**
 * Device rules on cgroup v2: v2 has no `devices.allow` file; access to device nodes is
 * decided by a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. This module
 * compiles rules into such a program (pure) and attaches it (bpf(2)).
 *
 * The kernel calls the program with `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
 * u32 minor; }`, where `access_type = (access << 16) | type` (type: 1 block, 2 char; access
 * bits: 1 mknod, 2 read, 4 write), and allows the access when it returns 1.
 *
 * Rule semantics (the same as v1's `devices.allow/deny` written in order): the last rule that
 * matches decides; nothing matching means deny. An allow rule matches when it grants every
 * access bit requested; a deny rule when it names any of them.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { O } from "../../ffi/constants.ts";
import {
  alu32Imm,
  alu64Reg,
  assembleEbpf,
  EBPF,
  type EbpfInsn,
  type EbpfLabel,
  encodeEbpf,
  exit,
  jmpImm,
  ldxW,
  mov64Imm,
} from "../../ffi/bpf/extended.ts";
import {
  BPF,
  bpfProgAttach,
  bpfProgDetach,
  bpfProgGetFdById,
  bpfProgLoad,
  bpfProgQuery,
} from "../../ffi/bpf/syscall.ts";
import type { DeviceRule } from "./cgroups.ts";

/** `bpf_cgroup_dev_ctx` type values. */
export const DEVCG_DEV = { BLOCK: 1, CHAR: 2 } as const;
/** `bpf_cgroup_dev_ctx` access bits. */
export const DEVCG_ACC = { MKNOD: 1, READ: 2, WRITE: 4 } as const;

function accessMask(access: string): number {
  let m = 0;
  if (access.includes("m")) m |= DEVCG_ACC.MKNOD;
  if (access.includes("r")) m |= DEVCG_ACC.READ;
  if (access.includes("w")) m |= DEVCG_ACC.WRITE;
  return m;
}

/**
 * Compiles device rules into a cgroup device program (pure).
 *
 * Registers: r2 = device type, r3 = requested access, r4 = major, r5 = minor; r1 is scratch
 * once they are loaded.
 *
 * @example
 * ```ts
 * encodeEbpf(deviceFilterProgram([{ allow: true, type: "c", major: 1, minor: 3, access: "rwm" }]));
 * ```
 */
export function deviceFilterProgram(rules: DeviceRule[]): EbpfInsn[] {
  const items: (EbpfInsn | EbpfLabel)[] = [
    ldxW(2, 1, 0),
    alu32Imm(EBPF.AND, 2, 0xffff),
    ldxW(3, 1, 0),
    alu32Imm(EBPF.RSH, 3, 16),
    ldxW(4, 1, 4),
    ldxW(5, 1, 8),
  ];
  // Last matching rule wins: test the rules from the end. A rule matching everything ends the
  // program there: the verifier refuses unreachable instructions after it.
  let decided = false;
  for (const [i, rule] of [...rules].reverse().entries()) {
    const next = `next${i}`;
    const checks: EbpfInsn[] = [];
    if (rule.type !== "a") {
      checks.push(jmpImm(EBPF.JNE, 2, rule.type === "b" ? DEVCG_DEV.BLOCK : DEVCG_DEV.CHAR, next));
    }
    const mask = accessMask(rule.access);
    if (mask !== 7) {
      checks.push(alu64Reg(EBPF.MOV, 1, 3));
      if (rule.allow) {
        // Every requested bit must be granted: skip when any bit outside the mask is asked.
        checks.push(alu32Imm(EBPF.AND, 1, ~mask & 7), jmpImm(EBPF.JNE, 1, 0, next));
      } else {
        // Any requested bit named by the deny rule makes it match.
        checks.push(alu32Imm(EBPF.AND, 1, mask), jmpImm(EBPF.JEQ, 1, 0, next));
      }
    }
    if (rule.major !== undefined && rule.major >= 0) checks.push(jmpImm(EBPF.JNE, 4, rule.major, next));
    if (rule.minor !== undefined && rule.minor >= 0) checks.push(jmpImm(EBPF.JNE, 5, rule.minor, next));
    items.push(...checks, mov64Imm(0, rule.allow ? 1 : 0), exit());
    if (checks.length === 0) {
      decided = true;
      break;
    }
    items.push({ defineLabel: next });
  }
  if (!decided) items.push(mov64Imm(0, 0), exit());
  return assembleEbpf(items);
}

/**
 * Loads the program for `rules` and attaches it to the cgroup directory `dir`, then detaches
 * the programs attached there before (so the rules are replaced, never briefly absent: with
 * BPF_F_ALLOW_MULTI every attached program must allow an access).
 *
 * @example
 * ```ts
 * applyDeviceFilter("/sys/fs/cgroup/ctr-abc/c1", DEFAULT_DEVICE_RULES);
 * ```
 */
export function applyDeviceFilter(dir: string, rules: DeviceRule[]): void {
  const progFd = bpfProgLoad(
    BPF.PROG_TYPE_CGROUP_DEVICE,
    encodeEbpf(deviceFilterProgram(rules)),
    "GPL",
    "ctr_devices",
  );
  try {
    const cgFd = libc.open(dir, O.RDONLY | O.DIRECTORY | O.CLOEXEC);
    try {
      const old = bpfProgQuery(cgFd, BPF.CGROUP_DEVICE);
      bpfProgAttach(cgFd, progFd, BPF.CGROUP_DEVICE, BPF.F_ALLOW_MULTI);
      for (const id of old) {
        const fd = bpfProgGetFdById(id);
        try {
          bpfProgDetach(cgFd, fd, BPF.CGROUP_DEVICE);
        } finally {
          libc.close(fd);
        }
      }
    } finally {
      libc.close(cgFd);
    }
  } finally {
    libc.close(progFd);
  }
}
