/**
 * ctr's default seccomp profile, equivalent in effect to Docker's: an allow-list (everything
 * else fails with EPERM), with the calls that need a capability allowed only when the container
 * holds it, `clone` without namespace flags for containers without CAP_SYS_ADMIN, `clone3`
 * answered with ENOSYS for them (so libc falls back to `clone`, whose flags the filter can
 * see), `socket` without AF_VSOCK, and `personality` limited to the harmless personas.
 *
 * Grouped by purpose rather than alphabetically. Compared with Docker's list it also allows
 * the newer unprivileged calls (cachestat, fchmodat2, the futex2 calls, map_shadow_stack,
 * mseal, the *xattrat calls, file_getattr/file_setattr), and `open_tree_attr` with the other
 * mount calls under CAP_SYS_ADMIN. One deliberate difference: `ptrace` and
 * `process_vm_readv`/`process_vm_writev` need CAP_SYS_PTRACE (Docker allows them to every
 * container on kernels ≥ 4.8), so a default container cannot attach to or read another of
 * its processes — issue 8's acceptance; `--cap-add SYS_PTRACE` gives them back.
 *
 * @module
 */
import type { SeccompProfile, SeccompSyscall } from "./profile.ts";

const ALLOW = "SCMP_ACT_ALLOW";

/** Calls every container may make, grouped by what they are for. */
// deno-fmt-ignore
const ALWAYS: Record<string, string[]> = {
  "files and directories": [
    "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fchdir",
    "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
    "file_getattr", "file_setattr", "flock", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync",
    "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents", "getdents64", "lchown", "lchown32", "link",
    "linkat", "_llseek", "lseek", "lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "name_to_handle_at",
    "newfstatat", "open", "openat", "openat2", "readahead", "readlink", "readlinkat", "rename", "renameat",
    "renameat2", "rmdir", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "truncate", "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes",
  ],
  "extended attributes": [
    "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat", "lgetxattr", "listxattr",
    "listxattrat", "llistxattr", "lremovexattr", "lsetxattr", "removexattr", "removexattrat", "setxattr",
    "setxattrat",
  ],
  "reading and writing": [
    "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readv", "sendfile", "sendfile64",
    "splice", "tee", "vmsplice", "write", "writev",
  ],
  "waiting on descriptors": [
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "epoll_wait_old", "eventfd", "eventfd2", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "fanotify_mark", "_newselect", "pipe", "pipe2", "poll", "ppoll", "ppoll_time64",
    "pselect6", "pselect6_time64", "select", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
  ],
  "asynchronous I/O": [
    "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit",
    "io_uring_enter", "io_uring_register", "io_uring_setup", "ioctl", "ioprio_get", "ioprio_set",
  ],
  memory: [
    "brk", "cachestat", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
    "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "mseal", "msync", "munlock",
    "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
  ],
  "processes and threads": [
    "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "get_robust_list", "get_thread_area",
    "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrlimit", "getrusage", "getsid", "gettid",
    "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64", "process_mrelease", "rseq", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "set_robust_list", "set_thread_area",
    "set_tid_address", "setpgid", "setpriority", "setrlimit", "setsid", "ugetrlimit", "vfork", "wait4", "waitid",
    "waitpid", "getcpu", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
  ],
  "user and group ids": [
    "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getuid", "getuid32", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setregid", "setregid32", "setresgid",
    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32",
  ],
  signals: [
    "kill", "pause", "restart_syscall", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sigaltstack", "sigprocmask", "sigreturn", "tgkill", "tkill",
  ],
  "time and timers": [
    "adjtimex", "alarm", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "getitimer", "gettimeofday",
    "nanosleep", "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "times",
  ],
  "futexes": ["futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake"],
  "System V and POSIX IPC": [
    "ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget",
  ],
  sockets: [
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg", "sendto", "setsockopt",
    "shutdown", "socketcall", "socketpair",
  ],
  "system information": ["getrandom", "sysinfo", "uname"],
};

/** Calls allowed only with a capability: capability → calls. */
// deno-fmt-ignore
const WITH_CAPABILITY: [string, string[]][] = [
  ["CAP_DAC_READ_SEARCH", ["open_by_handle_at"]],
  ["CAP_SYS_ADMIN", [
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
    "mount", "mount_setattr", "move_mount", "open_tree", "open_tree_attr", "perf_event_open", "quotactl",
    "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
  ]],
  ["CAP_SYS_BOOT", ["reboot"]],
  ["CAP_SYS_CHROOT", ["chroot"]],
  ["CAP_SYS_MODULE", ["delete_module", "init_module", "finit_module"]],
  ["CAP_SYS_PACCT", ["acct"]],
  ["CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]],
  ["CAP_SYS_RAWIO", ["iopl", "ioperm"]],
  ["CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]],
  ["CAP_SYS_TTY_CONFIG", ["vhangup"]],
  ["CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]],
  ["CAP_SYSLOG", ["syslog"]],
  ["CAP_BPF", ["bpf"]],
  ["CAP_PERFMON", ["perf_event_open"]],
];

/** Namespace flags of clone(2): CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** AF_VSOCK: reaches the hypervisor, not the container's network. */
const AF_VSOCK = 40;

/** personality(2) values that change nothing dangerous: Linux, Linux32, UNAME26 (both), query. */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

function rules(): SeccompSyscall[] {
  const out: SeccompSyscall[] = Object.entries(ALWAYS).map(([comment, names]) => ({
    names,
    action: ALLOW,
    comment,
  }));
  out.push(
    {
      names: ["socket"],
      action: ALLOW,
      args: [{ index: 0, value: BigInt(AF_VSOCK), valueTwo: 0n, op: "SCMP_CMP_NE" }],
    },
    ...PERSONAS.map((p): SeccompSyscall => ({
      names: ["personality"],
      action: ALLOW,
      args: [{ index: 0, value: BigInt(p), valueTwo: 0n, op: "SCMP_CMP_EQ" }],
    })),
    { names: ["arch_prctl"], action: ALLOW, includes: { arches: ["amd64", "x32"] } },
    { names: ["modify_ldt"], action: ALLOW, includes: { arches: ["amd64", "x32", "x86"] } },
    {
      names: [
        "arm_fadvise64_64",
        "arm_sync_file_range",
        "sync_file_range2",
        "breakpoint",
        "cacheflush",
        "set_tls",
      ],
      action: ALLOW,
      includes: { arches: ["arm", "arm64"] },
    },
    ...WITH_CAPABILITY.map(([cap, names]): SeccompSyscall => ({
      names,
      action: ALLOW,
      includes: { caps: [cap] },
    })),
    {
      names: ["clone"],
      action: ALLOW,
      args: [{ index: 0, value: BigInt(CLONE_NAMESPACE_FLAGS), valueTwo: 0n, op: "SCMP_CMP_MASKED_EQ" }],
      excludes: { caps: ["CAP_SYS_ADMIN"] },
      comment: "threads and processes, but no new namespaces",
    },
    {
      names: ["clone3"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 38,
      excludes: { caps: ["CAP_SYS_ADMIN"] },
      comment: "ENOSYS: clone3's flags sit behind a pointer the filter cannot read; libc falls back to clone",
    },
  );
  return out;
}

/** ctr's default profile, in Docker's JSON format (resolve it for a container's capabilities). */
export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = {
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: 1,
  archMap: [
    { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
    { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
  ],
  syscalls: rules(),
};
