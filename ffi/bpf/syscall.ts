/**
 * The few bpf(2) commands ctr needs to manage cgroup programs: load a program (returning the
 * verifier's log in the error when it refuses one), attach/detach it to a cgroup, list the
 * programs attached, and open a program by id. Each builds its `union bpf_attr` by hand
 * (offsets from include/uapi/linux/bpf.h) and goes through `libc.bpf`.
 *
 * @module
 */
import { addressOf, cstr, libc } from "../libc.ts";
import { SyscallError } from "../errno.ts";

/** bpf(2) commands. */
export const BPF_CMD = {
  PROG_LOAD: 5,
  PROG_ATTACH: 8,
  PROG_DETACH: 9,
  PROG_GET_FD_BY_ID: 13,
  PROG_QUERY: 16,
} as const;

/** Program types, attach types and attach flags used by ctr. */
export const BPF = {
  PROG_TYPE_CGROUP_DEVICE: 15,
  CGROUP_DEVICE: 6,
  F_ALLOW_OVERRIDE: 1,
  F_ALLOW_MULTI: 2,
} as const;

/** Size passed for every attr: larger than any field used, zero-filled as the kernel requires. */
const ATTR_SIZE = 128;

/**
 * Loads a program and returns its fd. When the verifier refuses it, the error message carries
 * the verifier log.
 *
 * @example
 * ```ts
 * const fd = bpfProgLoad(BPF.PROG_TYPE_CGROUP_DEVICE, encodeEbpf(insns), "GPL");
 * ```
 */
export function bpfProgLoad(
  progType: number,
  insns: Uint8Array<ArrayBuffer>,
  license: string,
  name = "",
): number {
  const attr = new Uint8Array(ATTR_SIZE);
  const v = new DataView(attr.buffer);
  const lic = cstr(license);
  const log = new Uint8Array(65536);
  const load = (withLog: boolean) => {
    v.setUint32(0, progType, true); // prog_type
    v.setUint32(4, insns.length / 8, true); // insn_cnt
    v.setBigUint64(8, addressOf(insns), true); // insns
    v.setBigUint64(16, addressOf(lic), true); // license
    v.setUint32(24, withLog ? 1 : 0, true); // log_level
    v.setUint32(28, withLog ? log.length : 0, true); // log_size
    v.setBigUint64(32, withLog ? addressOf(log) : 0n, true); // log_buf
    attr.set(new TextEncoder().encode(name.slice(0, 15)), 48); // prog_name[16]
    return libc.bpf(BPF_CMD.PROG_LOAD, attr, "BPF_PROG_LOAD");
  };
  try {
    return load(false);
  } catch (e) {
    if (!(e instanceof SyscallError) || e.code !== "EACCES" && e.code !== "EINVAL") throw e;
    // Load again with the verifier log on, to say why.
    try {
      return load(true);
    } catch (e2) {
      const text = new TextDecoder().decode(log.subarray(0, Math.max(0, log.indexOf(0)))).trim();
      if (e2 instanceof SyscallError && text) {
        throw new SyscallError(
          `bpf BPF_PROG_LOAD (verifier: ${text.split("\n").slice(-3).join(" | ")})`,
          e2.errno,
        );
      }
      throw e2;
    }
  }
}

function attachAttr(
  targetFd: number,
  progFd: number,
  attachType: number,
  flags: number,
): Uint8Array<ArrayBuffer> {
  const attr = new Uint8Array(ATTR_SIZE);
  const v = new DataView(attr.buffer);
  v.setUint32(0, targetFd, true); // target_fd
  v.setUint32(4, progFd, true); // attach_bpf_fd
  v.setUint32(8, attachType, true); // attach_type
  v.setUint32(12, flags, true); // attach_flags
  return attr;
}

/**
 * Attaches program `progFd` to the cgroup open at `cgroupFd`.
 *
 * @example
 * ```ts
 * bpfProgAttach(cgroupFd, progFd, BPF.CGROUP_DEVICE, BPF.F_ALLOW_MULTI);
 * ```
 */
export function bpfProgAttach(cgroupFd: number, progFd: number, attachType: number, flags: number): void {
  libc.bpf(BPF_CMD.PROG_ATTACH, attachAttr(cgroupFd, progFd, attachType, flags), "BPF_PROG_ATTACH");
}

/**
 * Detaches program `progFd` from the cgroup open at `cgroupFd`.
 *
 * @example
 * ```ts
 * bpfProgDetach(cgroupFd, oldFd, BPF.CGROUP_DEVICE);
 * ```
 */
export function bpfProgDetach(cgroupFd: number, progFd: number, attachType: number): void {
  libc.bpf(BPF_CMD.PROG_DETACH, attachAttr(cgroupFd, progFd, attachType, 0), "BPF_PROG_DETACH");
}

/**
 * Ids of the programs attached directly to a cgroup for `attachType`.
 *
 * @example
 * ```ts
 * bpfProgQuery(cgroupFd, BPF.CGROUP_DEVICE); // [42]
 * ```
 */
export function bpfProgQuery(cgroupFd: number, attachType: number): number[] {
  const ids = new Uint32Array(64);
  const attr = new Uint8Array(ATTR_SIZE);
  const v = new DataView(attr.buffer);
  v.setUint32(0, cgroupFd, true); // target_fd
  v.setUint32(4, attachType, true); // attach_type
  v.setBigUint64(16, addressOf(ids), true); // prog_ids
  v.setUint32(24, ids.length, true); // prog_cnt (in: capacity, out: count)
  libc.bpf(BPF_CMD.PROG_QUERY, attr, "BPF_PROG_QUERY");
  return [...ids.subarray(0, v.getUint32(24, true))];
}

/**
 * Opens the program with id `id`.
 *
 * @example
 * ```ts
 * const fd = bpfProgGetFdById(42);
 * ```
 */
export function bpfProgGetFdById(id: number): number {
  const attr = new Uint8Array(ATTR_SIZE);
  new DataView(attr.buffer).setUint32(0, id, true); // prog_id
  return libc.bpf(BPF_CMD.PROG_GET_FD_BY_ID, attr, `BPF_PROG_GET_FD_BY_ID ${id}`);
}
