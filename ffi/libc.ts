/**
 * The one typed binding to libc. Every symbol ctr calls is declared in {@linkcode LIBC_SYMBOLS},
 * the library is opened once on first use, and every call goes through {@linkcode libc}, whose
 * methods turn a failure into a {@linkcode SyscallError} naming the call, the errno and the path.
 *
 * Threading rule (DESIGN.md §3): these calls run on the calling JS thread. Namespace, root,
 * cwd and credential changes made here affect only that thread (and children it spawns next),
 * never Deno's I/O threads — which is exactly what container setup needs, and why credential
 * calls use raw `syscall(2)` instead of glibc's process-wide wrappers.
 *
 * @module
 */
import { SyscallError } from "./errno.ts";
import { AT, SYS } from "./constants.ts";

/** Every libc symbol ctr uses. Variadic C functions (syscall, prctl, fcntl, ioctl) are declared
 * with fixed integer arguments, which is ABI-compatible on x86_64 and aarch64 for integer args. */
export const LIBC_SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  unshare: { parameters: ["i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
  setdomainname: { parameters: ["buffer", "usize"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  fchmodat: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lremovexattr: { parameters: ["buffer", "buffer"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  syscall: { parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"], result: "i64" },
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  waitid: { parameters: ["i32", "u32", "buffer", "i32"], result: "i32" },
  waitid_async: {
    name: "waitid",
    parameters: ["i32", "u32", "buffer", "i32"],
    result: "i32",
    nonblocking: true,
  },
  openpty: { parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read_async: { name: "read", parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  dup3: { parameters: ["i32", "i32", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  poll_async: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  chdir: { parameters: ["buffer"], result: "i32" },
  fchdir: { parameters: ["i32"], result: "i32" },
  chroot: { parameters: ["buffer"], result: "i32" },
  setsid: { parameters: [], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  umask: { parameters: ["u32"], result: "u32" },
  prlimit: { parameters: ["i32", "i32", "buffer", "buffer"], result: "i32" },
  statfs: { parameters: ["buffer", "buffer"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  // rtnetlink handles a request inside sendto; removing a link waits for RCU (tens of ms).
  sendto_async: {
    name: "sendto",
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
    nonblocking: true,
  },
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "isize" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  // File-tree operations relative to a directory fd (layer unpack and layer diff).
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  mknodat: { parameters: ["i32", "buffer", "u32", "u64"], result: "i32" },
  symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  linkat: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "i32" },
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  fchownat: { parameters: ["i32", "buffer", "u32", "u32", "i32"], result: "i32" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  fsetxattr: { parameters: ["i32", "buffer", "buffer", "usize", "i32"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  syncfs: { parameters: ["i32"], result: "i32" },
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  signal: { parameters: ["i32", "pointer"], result: "pointer" },
  pthread_sigmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  write_async: { name: "write", parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  getppid: { parameters: [], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32" },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  cfmakeraw: { parameters: ["buffer"], result: "void" },
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
  // posix_spawn: clone(CLONE_VM|CLONE_VFORK) + execve inside glibc, from the calling thread
  // (so the child inherits that thread's namespaces, root, credentials and seccomp filter).
  posix_spawn: { parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"], result: "i32" },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_addopen: { parameters: ["buffer", "i32", "buffer", "i32", "u32"], result: "i32" },
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type Lib = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let lib: Lib | undefined;
let errnoPtr: Deno.PointerValue = null;
/** Every library handle opened: kept so that no symbol outlives its handle. */
const handles: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>[] = [];

/**
 * The raw symbols. Prefer the checked wrappers in {@linkcode libc}.
 *
 * Each symbol is bound on its first use, not all at once: binding the whole table costs
 * 13–20 ms of start-up (every symbol gets a call trampoline), while a command uses a
 * handful. The first access replaces the lazy getter with the bound function, so later
 * calls cost nothing extra.
 */
export function libcSymbols(): Lib {
  if (!lib) {
    const symbols = {} as Record<string, unknown>;
    for (const name of Object.keys(LIBC_SYMBOLS)) {
      Object.defineProperty(symbols, name, {
        configurable: true,
        enumerable: true,
        get() {
          const def = { [name]: LIBC_SYMBOLS[name as keyof typeof LIBC_SYMBOLS] };
          const handle = Deno.dlopen("libc.so.6", def as Deno.ForeignLibraryInterface);
          handles.push(handle);
          const fn = handle.symbols[name];
          Object.defineProperty(symbols, name, { value: fn, enumerable: true });
          return fn;
        },
      });
    }
    lib = symbols as Lib;
    errnoPtr = lib.__errno_location();
  }
  return lib;
}

/** errno of the last failed call on this (the main) thread. */
export function lastErrno(): number {
  libcSymbols();
  return new Deno.UnsafePointerView(errnoPtr!).getInt32();
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A NUL-terminated C string.
 *
 * @example
 * ```ts
 * libcSymbols().chdir(cstr("/"));
 * ```
 */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(encoder.encode(s).length + 1);
  encoder.encodeInto(s, b);
  return b;
}

function check(ret: number | bigint, call: string, path?: string): number {
  const n = Number(ret);
  if (n === -1) throw new SyscallError(call, lastErrno(), path);
  return n;
}

/** A NULL-terminated array of pointers to C strings (argv/envp). The strings are kept alive in `keep`. */
function cstrArray(items: string[], keep: Uint8Array[]): BigUint64Array<ArrayBuffer> {
  const arr = new BigUint64Array(items.length + 1);
  items.forEach((s, i) => {
    const b = cstr(s);
    keep.push(b);
    arr[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
  });
  return arr;
}

/** Linux makedev(3). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major), mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}

/** A time for {@linkcode libc.utimensat}: seconds and nanoseconds. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** File status from {@linkcode libc.statx} (the fields ctr uses). */
export interface Statx {
  /** File type and permission bits (`st_mode`). */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  ino: bigint;
  size: number;
  mtime: Timespec;
  rdevMajor: number;
  rdevMinor: number;
  devMajor: number;
  devMinor: number;
}

/** Capability sets as 64-bit masks (bit N = capability N). */
export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** Resolves/throws wait status from `siginfo_t` as filled by waitid. */
export interface WaitResult {
  pid: number;
  /** CLD_EXITED=1, CLD_KILLED=2, CLD_DUMPED=3, CLD_STOPPED=5, CLD_CONTINUED=6. */
  code: number;
  /** Exit status or signal number. */
  status: number;
}

/**
 * Checked libc calls. Each throws {@linkcode SyscallError} on failure.
 *
 * @example
 * ```ts
 * libc.mount("proc", "/proc", "proc", MS.NOSUID | MS.NODEV | MS.NOEXEC);
 * ```
 */
export const libc = {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string): void {
    const s = libcSymbols();
    check(
      s.mount(
        source === null ? null : cstr(source),
        cstr(target),
        fstype === null ? null : cstr(fstype),
        BigInt(flags),
        data === undefined ? null : cstr(data),
      ),
      `mount ${fstype ?? ""} ${JSON.stringify(source ?? "")} on`.replace(/\s+/g, " "),
      target,
    );
  },
  umount(target: string, flags = 0): void {
    check(libcSymbols().umount2(cstr(target), flags), "umount2", target);
  },
  unshare(flags: number): void {
    check(libcSymbols().unshare(flags), "unshare", `0x${flags.toString(16)}`);
  },
  setns(fd: number, nstype = 0): void {
    check(libcSymbols().setns(fd, nstype), "setns", `fd ${fd}`);
  },
  pivotRoot(newRoot: string, putOld: string): void {
    const s = libcSymbols();
    const a = cstr(newRoot), b = cstr(putOld);
    check(s.syscall(BigInt(SYS.pivot_root), ptr(a), ptr(b), 0n, 0n, 0n, 0n), "pivot_root", newRoot);
  },
  sethostname(name: string): void {
    const b = encoder.encode(name);
    check(libcSymbols().sethostname(b, BigInt(b.length)), "sethostname", name);
  },
  setdomainname(name: string): void {
    const b = encoder.encode(name);
    check(libcSymbols().setdomainname(b, BigInt(b.length)), "setdomainname", name);
  },
  mknod(path: string, mode: number, major = 0, minor = 0): void {
    check(libcSymbols().mknod(cstr(path), mode, makedev(major, minor)), "mknod", path);
  },
  lchown(path: string, uid: number, gid: number): void {
    check(libcSymbols().lchown(cstr(path), uid >>> 0, gid >>> 0), "lchown", path);
  },
  /** chmod without following a final symlink (fails with EOPNOTSUPP on a symlink itself). */
  lchmod(path: string, mode: number): void {
    check(libcSymbols().fchmodat(AT.FDCWD, cstr(path), mode, 0), "fchmodat", path);
  },
  lsetxattr(path: string, name: string, value: Uint8Array<ArrayBuffer>, flags = 0): void {
    check(
      libcSymbols().lsetxattr(cstr(path), cstr(name), value, BigInt(value.length), flags),
      `lsetxattr ${name}`,
      path,
    );
  },
  /** Value of an xattr, or null when the file does not have it. */
  lgetxattr(path: string, name: string): Uint8Array | null {
    const s = libcSymbols();
    const p = cstr(path), n = cstr(name);
    let size = Number(s.lgetxattr(p, n, null, 0n));
    if (size === -1) {
      const e = lastErrno();
      if (e === 61) return null; // ENODATA
      throw new SyscallError(`lgetxattr ${name}`, e, path);
    }
    const buf = new Uint8Array(size);
    size = check(s.lgetxattr(p, n, buf, BigInt(size)), `lgetxattr ${name}`, path);
    return buf.subarray(0, size);
  },
  llistxattr(path: string): string[] {
    const s = libcSymbols();
    const p = cstr(path);
    const size = check(s.llistxattr(p, null, 0n), "llistxattr", path);
    if (size === 0) return [];
    const buf = new Uint8Array(size);
    const got = check(s.llistxattr(p, buf, BigInt(size)), "llistxattr", path);
    return decoder.decode(buf.subarray(0, got)).split("\0").filter((x) => x);
  },
  lremovexattr(path: string, name: string): void {
    check(libcSymbols().lremovexattr(cstr(path), cstr(name)), `lremovexattr ${name}`, path);
  },
  /** Sets atime and mtime; does not follow a final symlink (so symlinks get their own times). */
  utimensat(path: string, atime: Timespec, mtime: Timespec, followSymlink = false): void {
    const t = new BigInt64Array([
      BigInt(atime.sec),
      BigInt(atime.nsec),
      BigInt(mtime.sec),
      BigInt(mtime.nsec),
    ]);
    check(
      libcSymbols().utimensat(AT.FDCWD, cstr(path), t, followSymlink ? 0 : AT.SYMLINK_NOFOLLOW),
      "utimensat",
      path,
    );
  },
  /** rename(2) with flags: 1 = RENAME_NOREPLACE, 2 = RENAME_EXCHANGE. */
  renameat2(from: string, to: string, flags: number): void {
    check(libcSymbols().renameat2(AT.FDCWD, cstr(from), AT.FDCWD, cstr(to), flags), "renameat2", from);
  },
  prctl(option: number, a2: number | bigint = 0, a3: number | bigint = 0, a4 = 0, a5 = 0): number {
    return check(
      libcSymbols().prctl(option, BigInt(a2), BigInt(a3), BigInt(a4), BigInt(a5)),
      `prctl ${option}`,
    );
  },
  /** Raw syscall(2) with up to six integer arguments. */
  syscall(nr: number, ...args: (number | bigint)[]): number {
    const a = [...args.map(BigInt), 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);
    return check(libcSymbols().syscall(BigInt(nr), a[0], a[1], a[2], a[3], a[4], a[5]), `syscall ${nr}`);
  },
  /** setresuid for the calling thread only (raw syscall; glibc's wrapper changes all threads). */
  setresuid(r: number, e: number, s: number): void {
    check(
      libcSymbols().syscall(BigInt(SYS.setresuid), BigInt(r), BigInt(e), BigInt(s), 0n, 0n, 0n),
      "setresuid",
    );
  },
  /** setresgid for the calling thread only. */
  setresgid(r: number, e: number, s: number): void {
    check(
      libcSymbols().syscall(BigInt(SYS.setresgid), BigInt(r), BigInt(e), BigInt(s), 0n, 0n, 0n),
      "setresgid",
    );
  },
  /** setgroups for the calling thread only. */
  setgroups(gids: number[]): void {
    const arr = new Uint32Array(gids);
    check(
      libcSymbols().syscall(BigInt(SYS.setgroups), BigInt(gids.length), ptr(arr), 0n, 0n, 0n, 0n),
      "setgroups",
    );
  },
  capget(pid = 0): CapSets {
    const hdr = new Uint32Array([LINUX_CAPABILITY_VERSION_3, pid]);
    const data = new Uint32Array(6);
    check(libcSymbols().syscall(BigInt(SYS.capget), ptr(hdr), ptr(data), 0n, 0n, 0n, 0n), "capget");
    const join = (lo: number, hi: number) => (BigInt(hi) << 32n) | BigInt(lo);
    return {
      effective: join(data[0], data[3]),
      permitted: join(data[1], data[4]),
      inheritable: join(data[2], data[5]),
    };
  },
  /** capset for the calling thread. */
  capset(sets: CapSets): void {
    const hdr = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
    const lo = (v: bigint) => Number(v & 0xffffffffn), hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
    const data = new Uint32Array([
      lo(sets.effective),
      lo(sets.permitted),
      lo(sets.inheritable),
      hi(sets.effective),
      hi(sets.permitted),
      hi(sets.inheritable),
    ]);
    check(libcSymbols().syscall(BigInt(SYS.capset), ptr(hdr), ptr(data), 0n, 0n, 0n, 0n), "capset");
  },
  /** Replaces the process image. Returns only by throwing. */
  execve(path: string, argv: string[], env: string[]): never {
    const keep: Uint8Array[] = [];
    const a = cstrArray(argv, keep), e = cstrArray(env, keep);
    libcSymbols().execve(cstr(path), a, e);
    throw new SyscallError("execve", lastErrno(), path);
  },
  /**
   * posix_spawn(3) from the calling thread: the child starts a new session (`setsid`), has no
   * blocked signals and every signal at its default disposition, and — with `terminal` (a
   * tty path in the child's root) — opens that tty as its stdin/stdout/stderr, which as a
   * fresh session leader makes it its controlling terminal. Returns the child's pid (as seen
   * from this process's pid namespace); throws {@linkcode SyscallError} when the spawn or the
   * exec failed (posix_spawn reports the exec's errno).
   */
  posixSpawn(path: string, argv: string[], env: string[], options: { terminal?: string } = {}): number {
    const s = libcSymbols();
    // posix_spawnattr_t is 336 bytes and posix_spawn_file_actions_t 80 on glibc (x86_64, aarch64).
    const attr = new Uint8Array(512), actions = new Uint8Array(256);
    const POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;
    s.posix_spawnattr_init(attr);
    s.posix_spawn_file_actions_init(actions);
    try {
      s.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
      s.posix_spawnattr_setsigmask(attr, new Uint8Array(128));
      // Every signal to SIG_DFL: Deno's ignored SIGPIPE must not reach the command.
      s.posix_spawnattr_setsigdefault(attr, new Uint8Array(128).fill(0xff));
      if (options.terminal) {
        const O_RDWR = 2;
        let r = s.posix_spawn_file_actions_addopen(actions, 0, cstr(options.terminal), O_RDWR, 0);
        if (r === 0) r = s.posix_spawn_file_actions_adddup2(actions, 0, 1);
        if (r === 0) r = s.posix_spawn_file_actions_adddup2(actions, 0, 2);
        if (r !== 0) throw new SyscallError("posix_spawn_file_actions", r, options.terminal);
      }
      const keep: Uint8Array[] = [];
      const a = cstrArray(argv, keep), e = cstrArray(env, keep);
      const pid = new Int32Array(1);
      const r = s.posix_spawn(pid, cstr(path), actions, attr, a, e);
      if (r !== 0) throw new SyscallError("posix_spawn", r, path);
      return pid[0];
    } finally {
      s.posix_spawn_file_actions_destroy(actions);
      s.posix_spawnattr_destroy(attr);
    }
  },
  /** exit_group(2): ends the process at once (no exit handlers, no new threads). */
  exitGroup(code: number): never {
    libcSymbols().syscall(BigInt(SYS.exit_group), BigInt(code), 0n, 0n, 0n, 0n, 0n);
    throw new Error("exit_group returned");
  },
  kill(pid: number, signal: number): void {
    check(libcSymbols().kill(pid, signal), "kill", String(pid));
  },
  pidfdOpen(pid: number): number {
    return check(
      libcSymbols().syscall(BigInt(SYS.pidfd_open), BigInt(pid), 0n, 0n, 0n, 0n, 0n),
      "pidfd_open",
      String(pid),
    );
  },
  pidfdSendSignal(pidfd: number, signal: number): void {
    check(
      libcSymbols().syscall(BigInt(SYS.pidfd_send_signal), BigInt(pidfd), BigInt(signal), 0n, 0n, 0n, 0n),
      "pidfd_send_signal",
    );
  },
  /**
   * waitid(2). `idtype`: 0 P_ALL, 1 P_PID, 3 P_PIDFD. Options: WEXITED=4, WNOHANG=1,
   * WNOWAIT=0x01000000. Returns null when WNOHANG found nothing.
   */
  waitid(idtype: number, id: number, options: number): WaitResult | null {
    const info = new Int32Array(32);
    check(libcSymbols().waitid(idtype, id, info, options), "waitid", String(id));
    return parseSiginfo(info);
  },
  /** waitid on a Deno blocking-pool thread, so the event loop keeps running. */
  async waitidAsync(idtype: number, id: number, options: number): Promise<WaitResult | null> {
    const info = new Int32Array(32);
    const r = await libcSymbols().waitid_async(idtype, id, info, options);
    // errno lives on the pool thread and cannot be read here; for a well-formed call the
    // only failure is ECHILD (no such child).
    if (r === -1) throw new SyscallError("waitid", 10, String(id));
    return parseSiginfo(info);
  },
  /** A new pseudo-terminal pair. */
  openpty(): { master: number; slave: number } {
    const m = new Int32Array(1), s = new Int32Array(1);
    check(libcSymbols().openpty(m, s, null, null, null), "openpty");
    return { master: m[0], slave: s[0] };
  },
  open(path: string, flags: number, mode = 0o644): number {
    return check(libcSymbols().open(cstr(path), flags, mode), "open", path);
  },
  close(fd: number): void {
    check(libcSymbols().close(fd), "close", `fd ${fd}`);
  },
  read(fd: number, buf: Uint8Array<ArrayBuffer>): number {
    return check(libcSymbols().read(fd, buf, BigInt(buf.length)), "read", `fd ${fd}`);
  },
  write(fd: number, buf: Uint8Array<ArrayBuffer>): number {
    return check(libcSymbols().write(fd, buf, BigInt(buf.length)), "write", `fd ${fd}`);
  },
  dup3(oldfd: number, newfd: number, flags = 0): void {
    check(libcSymbols().dup3(oldfd, newfd, flags), "dup3", `fd ${oldfd}`);
  },
  fcntl(fd: number, cmd: number, arg = 0): number {
    return check(libcSymbols().fcntl(fd, cmd, BigInt(arg)), `fcntl ${cmd}`, `fd ${fd}`);
  },
  ioctl(fd: number, request: number, arg: Uint8Array<ArrayBuffer> | null = null): number {
    return check(
      libcSymbols().ioctl(fd, BigInt(request), arg),
      `ioctl 0x${request.toString(16)}`,
      `fd ${fd}`,
    );
  },
  /** pipe2(2): returns [readEnd, writeEnd]. */
  pipe(flags = 0): [number, number] {
    const fds = new Int32Array(2);
    check(libcSymbols().pipe2(fds, flags), "pipe2");
    return [fds[0], fds[1]];
  },
  chdir(path: string): void {
    check(libcSymbols().chdir(cstr(path)), "chdir", path);
  },
  fchdir(fd: number): void {
    check(libcSymbols().fchdir(fd), "fchdir", `fd ${fd}`);
  },
  chroot(path: string): void {
    check(libcSymbols().chroot(cstr(path)), "chroot", path);
  },
  setsid(): number {
    return check(libcSymbols().setsid(), "setsid");
  },
  getpid(): number {
    return libcSymbols().getpid();
  },
  umask(mask: number): number {
    return libcSymbols().umask(mask);
  },
  /** prlimit(2) setting a resource's soft and hard limits (-1 = unlimited). */
  setrlimit(pid: number, resource: number, soft: number, hard: number): void {
    const v = (n: number) => (n < 0 ? 0xffffffffffffffffn : BigInt(n));
    const lim = new BigUint64Array([v(soft), v(hard)]);
    check(libcSymbols().prlimit(pid, resource, lim, null), "prlimit", String(resource));
  },
  /** socket(2); returns the new descriptor. */
  socket(domain: number, type: number, protocol: number): number {
    return check(libcSymbols().socket(domain, type, protocol), "socket", `${domain}/${protocol}`);
  },
  /** bind(2) to a raw sockaddr. */
  bind(fd: number, addr: Uint8Array<ArrayBuffer>): void {
    check(libcSymbols().bind(fd, addr, addr.length), "bind", `fd ${fd}`);
  },
  /** bpf(2) with an attribute union already laid out in `attr`; returns the call's result (an fd for loads). */
  bpf(cmd: number, attr: Uint8Array<ArrayBuffer>, what: string): number {
    return check(
      libcSymbols().syscall(BigInt(SYS.bpf), BigInt(cmd), ptr(attr), BigInt(attr.length), 0n, 0n, 0n),
      "bpf",
      what,
    );
  },
  /**
   * seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog) for the calling thread: `filter` holds the
   * classic BPF program as 8-byte `sock_filter` records. Needs no_new_privs or CAP_SYS_ADMIN.
   */
  seccompSetFilter(filter: Uint8Array<ArrayBuffer>, flags = 0): number {
    if (filter.length % 8 !== 0 || filter.length === 0) throw new RangeError("Invalid BPF program length");
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (pointer at offset 8).
    const fprog = new BigUint64Array([BigInt(filter.length / 8), ptr(filter)]);
    return check(
      libcSymbols().syscall(BigInt(SYS.seccomp), 1n, BigInt(flags), ptr(fprog), 0n, 0n, 0n),
      "seccomp",
      "SECCOMP_SET_MODE_FILTER",
    );
  },
  /** eventfd(2): a counter fd (flags: O.NONBLOCK, O.CLOEXEC share EFD_* values). */
  eventfd(initval: number, flags: number): number {
    return check(libcSymbols().eventfd(initval, flags), "eventfd");
  },
  /** openat(2): `path` relative to the directory `dirfd` (or AT.FDCWD). */
  openat(dirfd: number, path: string, flags: number, mode = 0o644): number {
    return check(libcSymbols().openat(dirfd, cstr(path), flags, mode), "openat", path);
  },
  mkdirat(dirfd: number, path: string, mode: number): void {
    check(libcSymbols().mkdirat(dirfd, cstr(path), mode), "mkdirat", path);
  },
  /** mknodat(2); `mode` holds the file type (S.IFCHR, S.IFBLK, S.IFIFO) and permissions. */
  mknodat(dirfd: number, path: string, mode: number, major = 0, minor = 0): void {
    check(libcSymbols().mknodat(dirfd, cstr(path), mode, makedev(major, minor)), "mknodat", path);
  },
  symlinkat(target: string, dirfd: number, path: string): void {
    check(libcSymbols().symlinkat(cstr(target), dirfd, cstr(path)), "symlinkat", path);
  },
  /** linkat(2); without AT_SYMLINK_FOLLOW in `flags` a symlink is linked itself. */
  linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags = 0): void {
    check(libcSymbols().linkat(olddirfd, cstr(oldpath), newdirfd, cstr(newpath), flags), "linkat", newpath);
  },
  /** unlinkat(2); AT.REMOVEDIR in `flags` removes an empty directory. */
  unlinkat(dirfd: number, path: string, flags = 0): void {
    check(libcSymbols().unlinkat(dirfd, cstr(path), flags), "unlinkat", path);
  },
  /** fchownat(2); pass AT.SYMLINK_NOFOLLOW to change a symlink itself. */
  fchownat(dirfd: number, path: string, uid: number, gid: number, flags: number): void {
    check(libcSymbols().fchownat(dirfd, cstr(path), uid >>> 0, gid >>> 0, flags), "fchownat", path);
  },
  fchown(fd: number, uid: number, gid: number, path = `fd ${fd}`): void {
    check(libcSymbols().fchown(fd, uid >>> 0, gid >>> 0), "fchown", path);
  },
  fchmod(fd: number, mode: number, path = `fd ${fd}`): void {
    check(libcSymbols().fchmod(fd, mode), "fchmod", path);
  },
  /** fchmodat(2) following nothing but the path itself (never use it on a symlink). */
  fchmodat(dirfd: number, path: string, mode: number): void {
    check(libcSymbols().fchmodat(dirfd, cstr(path), mode, 0), "fchmodat", path);
  },
  fsetxattr(fd: number, name: string, value: Uint8Array<ArrayBuffer>, path = `fd ${fd}`): void {
    check(libcSymbols().fsetxattr(fd, cstr(name), value, BigInt(value.length), 0), `fsetxattr ${name}`, path);
  },
  /**
   * utimensat(2) relative to `dirfd`; with `path` null it sets the times of `dirfd` itself
   * (futimens). `flags` AT.SYMLINK_NOFOLLOW changes a symlink itself.
   */
  utimensatAt(dirfd: number, path: string | null, atime: Timespec, mtime: Timespec, flags = 0): void {
    const t = new BigInt64Array([
      BigInt(atime.sec),
      BigInt(atime.nsec),
      BigInt(mtime.sec),
      BigInt(mtime.nsec),
    ]);
    // glibc's utimensat refuses a NULL path; futimens is the fd form.
    if (path === null) check(libcSymbols().futimens(dirfd, t), "futimens", `fd ${dirfd}`);
    else check(libcSymbols().utimensat(dirfd, cstr(path), t, flags), "utimensat", path);
  },
  /**
   * statx(2) of `path` relative to `dirfd`, not following a final symlink unless `follow`.
   * Returns null when the path does not exist.
   */
  statx(dirfd: number, path: string, follow = false): Statx | null {
    const buf = new Uint8Array(256);
    const r = libcSymbols().statx(dirfd, cstr(path), follow ? 0 : AT.SYMLINK_NOFOLLOW, 0x7ff, buf);
    if (r === -1) {
      const e = lastErrno();
      if (e === 2 || e === 20) return null; // ENOENT, ENOTDIR
      throw new SyscallError("statx", e, path);
    }
    // struct statx has one layout on every architecture.
    const v = new DataView(buf.buffer);
    return {
      nlink: v.getUint32(16, true),
      uid: v.getUint32(20, true),
      gid: v.getUint32(24, true),
      mode: v.getUint16(28, true),
      ino: v.getBigUint64(32, true),
      size: Number(v.getBigUint64(40, true)),
      mtime: { sec: Number(v.getBigInt64(112, true)), nsec: v.getUint32(120, true) },
      rdevMajor: v.getUint32(128, true),
      rdevMinor: v.getUint32(132, true),
      devMajor: v.getUint32(136, true),
      devMinor: v.getUint32(140, true),
    };
  },
  /** Writes all of `buf` (looping over short writes). */
  writeAll(fd: number, buf: Uint8Array<ArrayBuffer>, path = `fd ${fd}`): void {
    const s = libcSymbols();
    let off = 0;
    while (off < buf.length) {
      const part = off === 0 ? buf : buf.subarray(off);
      const n = Number(s.write(fd, part, BigInt(part.length)));
      if (n === -1) {
        const e = lastErrno();
        if (e === 4) continue; // EINTR
        throw new SyscallError("write", e, path);
      }
      off += n;
    }
  },
  /** syncfs(2): flush the filesystem holding `fd`. */
  syncfs(fd: number): void {
    check(libcSymbols().syncfs(fd), "syncfs", `fd ${fd}`);
  },
  /** f_flags (ST_* mount flags: ST_RDONLY 1, ST_NOSUID 2, ST_NODEV 4, ST_NOEXEC 8, …) of the mount holding `path`. */
  statfsFlags(path: string): number {
    // struct statfs on 64-bit Linux: 15 longs; f_flags is the 11th.
    const buf = new BigInt64Array(15);
    check(libcSymbols().statfs(cstr(path), buf), "statfs", path);
    return Number(buf[10]);
  },
  /**
   * Resets every catchable signal to its default action and unblocks all signals on the
   * calling thread. An `execve` keeps ignored signals ignored and keeps the thread's mask,
   * and Deno ignores SIGPIPE, so a container command would otherwise start with it ignored.
   */
  resetSignals(): void {
    const s = libcSymbols();
    for (let sig = 1; sig <= 64; sig++) {
      // 9 and 19 cannot be changed; 32 and 33 are glibc's own and refused by its wrapper.
      if (sig === 9 || sig === 19 || sig === 32 || sig === 33) continue;
      s.signal(sig, null); // SIG_DFL is the null pointer
    }
    const r = s.pthread_sigmask(2, /* SIG_SETMASK */ new Uint8Array(128), null);
    if (r !== 0) throw new SyscallError("pthread_sigmask", r);
  },
  /**
   * close_range(2) from `first` to the last fd; with `cloexec` the fds are only marked
   * close-on-exec (CLOSE_RANGE_CLOEXEC) instead of closed.
   */
  closeRange(first: number, cloexec = false): void {
    check(
      libcSymbols().syscall(
        BigInt(SYS.close_range),
        BigInt(first),
        0xffffffffn,
        cloexec ? 4n : 0n,
        0n,
        0n,
        0n,
      ),
      "close_range",
    );
  },
  /** pidfd_getfd(2): a duplicate of fd `targetFd` of the process behind `pidfd`. */
  pidfdGetfd(pidfd: number, targetFd: number): number {
    return check(
      libcSymbols().syscall(BigInt(SYS.pidfd_getfd), BigInt(pidfd), BigInt(targetFd), 0n, 0n, 0n, 0n),
      "pidfd_getfd",
      `fd ${targetFd}`,
    );
  },
  /**
   * An idmapped copy of the mount tree at `source`, attached at `target`: open_tree(2) with
   * OPEN_TREE_CLONE, mount_setattr(2) with MOUNT_ATTR_IDMAP and the user namespace `usernsFd`
   * (its maps say how owners appear through the new mount), then move_mount(2). Files owned
   * by host id H appear as the id H maps to in that namespace's parent view (runtime/security/userns.ts).
   */
  idmappedMount(source: string, target: string, usernsFd: number): void {
    // The same numbers on every architecture (the unified syscall table of Linux 5.x).
    const OPEN_TREE = 428, MOVE_MOUNT = 429, MOUNT_SETATTR = 442;
    const OPEN_TREE_CLONE = 1, OPEN_TREE_CLOEXEC = 0o2000000, AT_EMPTY_PATH = 0x1000;
    const MOUNT_ATTR_IDMAP = 0x100000n, MOVE_MOUNT_F_EMPTY_PATH = 0x4;
    const s = libcSymbols();
    const src = cstr(source);
    const fd = check(
      s.syscall(
        BigInt(OPEN_TREE),
        BigInt(AT.FDCWD),
        ptr(src),
        BigInt(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC),
        0n,
        0n,
        0n,
      ),
      "open_tree",
      source,
    );
    try {
      const attr = new BigUint64Array([MOUNT_ATTR_IDMAP, 0n, 0n, BigInt(usernsFd)]);
      const empty = cstr("");
      check(
        s.syscall(BigInt(MOUNT_SETATTR), BigInt(fd), ptr(empty), BigInt(AT_EMPTY_PATH), ptr(attr), 32n, 0n),
        "mount_setattr",
        source,
      );
      const tgt = cstr(target);
      check(
        s.syscall(
          BigInt(MOVE_MOUNT),
          BigInt(fd),
          ptr(empty),
          BigInt(AT.FDCWD),
          ptr(tgt),
          BigInt(MOVE_MOUNT_F_EMPTY_PATH),
          0n,
        ),
        "move_mount",
        target,
      );
    } finally {
      s.close(fd);
    }
  },
  getppid(): number {
    return libcSymbols().getppid();
  },
  /** setpriority(PRIO_PROCESS, tid, nice): on Linux the nice value of one thread (0 = the calling one). */
  setNice(tid: number, nice: number): void {
    check(libcSymbols().setpriority(0, tid, nice), "setpriority", String(tid));
  },
  /**
   * Puts the terminal on `fd` in raw mode as cfmakeraw(3) defines it — no line editing, no
   * signals from keys, and no output processing (a container's own pty already turns "\n"
   * into "\r\n") — and returns the previous settings for {@linkcode libc.restoreTerminal}.
   */
  makeRawTerminal(fd: number): Uint8Array<ArrayBuffer> {
    const s = libcSymbols();
    const saved = new Uint8Array(64); // struct termios is 60 bytes on Linux
    check(s.tcgetattr(fd, saved), "tcgetattr", `fd ${fd}`);
    const raw = saved.slice();
    s.cfmakeraw(raw);
    check(s.tcsetattr(fd, 0, /* TCSANOW */ raw), "tcsetattr", `fd ${fd}`);
    return saved;
  },
  /** Restores terminal settings saved by {@linkcode libc.makeRawTerminal}. */
  restoreTerminal(fd: number, saved: Uint8Array<ArrayBuffer>): void {
    check(libcSymbols().tcsetattr(fd, 0, saved), "tcsetattr", `fd ${fd}`);
  },
  /**
   * flock(2) with LOCK_NB: takes an exclusive (or shared) lock on an open file, returning
   * false instead of waiting when another open file description holds a conflicting one.
   */
  tryLock(fd: number, exclusive = true): boolean {
    const r = libcSymbols().flock(fd, (exclusive ? 2 : 1) | 4 /* LOCK_NB */);
    if (r === 0) return true;
    const e = lastErrno();
    if (e === 11) return false; // EWOULDBLOCK
    throw new SyscallError("flock", e, `fd ${fd}`);
  },
  /** write(2) on a Deno blocking-pool thread (for fds that may block, such as a pty master). */
  async writeAsync(fd: number, buf: Uint8Array<ArrayBuffer>): Promise<number> {
    const n = Number(await libcSymbols().write_async(fd, buf, BigInt(buf.length)));
    if (n === -1) throw new SyscallError("write", 5, `fd ${fd}`);
    return n;
  },
  /** read(2) on a Deno blocking-pool thread; resolves to 0 at end of file. */
  async readAsync(fd: number, buf: Uint8Array<ArrayBuffer>): Promise<number> {
    const n = Number(await libcSymbols().read_async(fd, buf, BigInt(buf.length)));
    // errno of the pool thread is not readable here; EIO is what a hung-up pty gives.
    if (n === -1) throw new SyscallError("read", 5, `fd ${fd}`);
    return n;
  },
  /** f_type of the filesystem holding `path` (e.g. 0x63677270 for cgroup2). */
  statfsType(path: string): number {
    const buf = new BigInt64Array(15);
    check(libcSymbols().statfs(cstr(path), buf), "statfs", path);
    return Number(buf[0]);
  },
};

/**
 * The address of a buffer's bytes, for structures that hold pointers (keep the buffer referenced
 * until the call returns).
 *
 * @example
 * ```ts
 * const attr = new BigUint64Array([addressOf(insns)]);
 * ```
 */
export function addressOf(b: BufferSource): bigint {
  return ptr(b);
}

function ptr(b: BufferSource): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b as Uint8Array<ArrayBuffer>)));
}

function parseSiginfo(info: Int32Array): WaitResult | null {
  // siginfo_t for SIGCHLD: si_signo, si_errno, si_code, (pad on 64-bit), si_pid, si_uid, si_status.
  const pid = info[4];
  if (pid === 0) return null;
  return { pid, code: info[2], status: info[6] };
}

/**
 * Docker-style exit code for a wait result: the status when exited, 128+signal when killed.
 *
 * @example
 * ```ts
 * exitCodeOf({ pid: 9, code: 2, status: 9 }); // 137
 * ```
 */
export function exitCodeOf(w: WaitResult): number {
  return w.code === 1 ? w.status : 128 + w.status;
}
