/**
 * Linux errno numbers and names (asm-generic, shared by x86_64 and aarch64), and the
 * {@linkcode SyscallError} every failed libc call is turned into.
 *
 * @module
 */

/** errno number → symbolic name. */
export const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  15: "ENOTBLK",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  33: "EDOM",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  37: "ENOLCK",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  42: "ENOMSG",
  61: "ENODATA",
  62: "ETIME",
  71: "EPROTO",
  74: "EBADMSG",
  75: "EOVERFLOW",
  84: "EILSEQ",
  88: "ENOTSOCK",
  90: "EMSGSIZE",
  91: "EPROTOTYPE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  116: "ESTALE",
  122: "EDQUOT",
  125: "ECANCELED",
  126: "ENOKEY",
  130: "EOWNERDEAD",
};

/** Symbolic name → errno number. */
export const ERRNO: Record<string, number> = Object.fromEntries(
  Object.entries(ERRNO_NAMES).map(([n, name]) => [name, Number(n)]),
);

/**
 * Name of an errno value (`EPERM`), or `errno N` for one not in the table.
 *
 * @example
 * ```ts
 * errnoName(1); // "EPERM"
 * ```
 */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/**
 * A libc call failed. Carries the call's name, the errno and the path or argument involved,
 * so the message reads like `mount "/a" on "/b": EPERM`.
 *
 * @example
 * ```ts
 * try { sys.mount("proc", "/proc", "proc", 0); }
 * catch (e) { if (e instanceof SyscallError && e.code === "EBUSY") { ... } }
 * ```
 */
export class SyscallError extends Error {
  override name = "SyscallError";
  /** The libc function or syscall that failed. */
  readonly syscall: string;
  /** The errno value. */
  readonly errno: number;
  /** The errno name, e.g. `EPERM`. */
  readonly code: string;
  /** The path or argument the call was about, if any. */
  readonly path?: string;

  constructor(syscall: string, errno: number, path?: string) {
    const code = errnoName(errno);
    super(path === undefined ? `${syscall}: ${code}` : `${syscall} ${JSON.stringify(path)}: ${code}`);
    this.syscall = syscall;
    this.errno = errno;
    this.code = code;
    this.path = path;
  }
}
