/**
 * Kernel constants ctr passes to libc: clone/namespace flags, mount flags, prctl options,
 * and the syscall numbers of calls glibc has no wrapper for (or whose wrapper changes every
 * thread, which we must avoid — see DESIGN.md §3), per architecture.
 *
 * @module
 */

/** Namespace flags for unshare/setns/clone. */
export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
  NEWTIME: 0x00000080,
  FS: 0x00000200,
  FILES: 0x00000400,
} as const;

/** mount(2) flags. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  SILENT: 32768,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
  LAZYTIME: 1 << 25,
} as const;

/** umount2(2) flags. */
export const MNT = { FORCE: 1, DETACH: 2, EXPIRE: 4, UMOUNT_NOFOLLOW: 8 } as const;

/** prctl(2) options. */
export const PR = {
  SET_PDEATHSIG: 1,
  GET_DUMPABLE: 3,
  SET_DUMPABLE: 4,
  SET_KEEPCAPS: 8,
  SET_NAME: 15,
  SET_SECCOMP: 22,
  CAPBSET_READ: 23,
  CAPBSET_DROP: 24,
  SET_SECUREBITS: 28,
  SET_CHILD_SUBREAPER: 36,
  GET_CHILD_SUBREAPER: 37,
  SET_NO_NEW_PRIVS: 38,
  GET_NO_NEW_PRIVS: 39,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
  CAP_AMBIENT_CLEAR_ALL: 4,
} as const;

/** open(2) flags (x86_64 and aarch64 share the generic values used here, except O_DIRECTORY/O_NOFOLLOW on aarch64). */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DIRECTORY: Deno.build.arch === "aarch64" ? 0o40000 : 0o200000,
  NOFOLLOW: Deno.build.arch === "aarch64" ? 0o100000 : 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/** AT_* flags for the *at() calls. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  EMPTY_PATH: 0x1000,
  RECURSIVE: 0x8000,
} as const;

/** File type bits of st_mode / mknod mode. */
export const S = {
  IFMT: 0o170000,
  IFSOCK: 0o140000,
  IFLNK: 0o120000,
  IFREG: 0o100000,
  IFBLK: 0o060000,
  IFDIR: 0o040000,
  IFCHR: 0o020000,
  IFIFO: 0o010000,
} as const;

/** Signal numbers (x86_64 and aarch64 agree). */
export const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/**
 * Parses a signal as Docker accepts it: `SIGTERM`, `TERM`, `term`, `15`, `SIGRTMIN+3`.
 *
 * @example
 * ```ts
 * parseSignal("USR1"); // 10
 * ```
 */
export function parseSignal(value: string): number {
  const v = value.trim().toUpperCase();
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n >= 1 && n <= 64) return n;
    throw new RangeError(`Invalid signal: ${value}`);
  }
  const name = v.startsWith("SIG") ? v : `SIG${v}`;
  if (name in SIGNALS) return SIGNALS[name];
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rt) {
    const off = Number(rt[1] ?? 0);
    const n = name.startsWith("SIGRTMIN") ? 34 + off : 64 - off;
    if (n >= 34 && n <= 64) return n;
  }
  throw new RangeError(`Invalid signal: ${value}`);
}

/**
 * Syscall numbers for raw `syscall(2)` use. Only calls that glibc lacks or wraps in a way we
 * must avoid: `setresuid`/`setresgid`/`setgroups` through glibc change *every* thread of the
 * process, but ctr needs only the spawning main thread changed (DESIGN.md §3).
 */
export const SYS: Record<string, number> = Deno.build.arch === "aarch64"
  ? {
    setgroups: 159,
    setresuid: 147,
    setresgid: 149,
    capget: 90,
    capset: 91,
    pivot_root: 41,
    seccomp: 277,
    pidfd_open: 434,
    pidfd_send_signal: 424,
    pidfd_getfd: 438,
    clone3: 435,
    close_range: 436,
    open_tree: 428,
    move_mount: 429,
    mount_setattr: 442,
    gettid: 178,
    keyctl: 219,
    bpf: 280,
    exit_group: 94,
  }
  : {
    setgroups: 116,
    setresuid: 117,
    setresgid: 119,
    capget: 125,
    capset: 126,
    pivot_root: 155,
    seccomp: 317,
    pidfd_open: 434,
    pidfd_send_signal: 424,
    pidfd_getfd: 438,
    clone3: 435,
    close_range: 436,
    open_tree: 428,
    move_mount: 429,
    mount_setattr: 442,
    gettid: 186,
    keyctl: 250,
    bpf: 321,
    exit_group: 231,
  };

/** ioctl(2) requests (x86_64 and aarch64 share these). */
export const IOCTL = {
  TIOCSCTTY: 0x540e,
  TIOCGWINSZ: 0x5413,
  TIOCSWINSZ: 0x5414,
  FIONREAD: 0x541b,
  TIOCGPTN: 0x80045430,
  TIOCSPTLCK: 0x40045431,
  SIOCGIFFLAGS: 0x8913,
  SIOCSIFFLAGS: 0x8914,
} as const;

/** fcntl(2) commands. */
export const F = { DUPFD_CLOEXEC: 1030, GETFD: 1, SETFD: 2, GETFL: 3, SETFL: 4, FD_CLOEXEC: 1 } as const;

/** Resource numbers for prlimit(2) (`--ulimit` names without the RLIMIT_ prefix, lowercased). */
export const RLIMIT: Record<string, number> = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  rss: 5,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
  locks: 10,
  sigpending: 11,
  msgqueue: 12,
  nice: 13,
  rtprio: 14,
  rttime: 15,
};
