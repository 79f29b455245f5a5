/**
 * A dry run of the container setup against syscalls that do nothing, done by a warm init
 * while it waits for its spec. V8 compiles a function the first time it runs it; doing that
 * for the whole setup path (spec parsing, path resolution, mount option parsing, the user
 * lookup, the confinement plan decoding) before the spec arrives takes it off the critical
 * path of `ctr run`.
 *
 * @module
 */
import { libcSymbols } from "../ffi/libc.ts";
import { setupContainer } from "./container_init.ts";
import { defaultMounts, type InitSpec } from "./init_spec.ts";
import type { InitSyscalls } from "./init_syscalls.ts";
import { planFromJSON } from "./security/confine.ts";

const noop = () => {};

/** Syscalls that succeed without doing anything, over an imaginary root filesystem. */
const dryRun: InitSyscalls = {
  unshare: noop,
  setns: noop,
  openRead: () => 100,
  openWrite: () => 101,
  openPty: () => ({ master: 102, slave: 103, path: "/dev/pts/0" }),
  handOverPty: noop,
  close: noop,
  mount: noop,
  umount: noop,
  pivotRoot: noop,
  chdir: noop,
  sethostname: noop,
  setdomainname: noop,
  lstatKind: (p) => (p.endsWith("/etc/hosts") ? "file" : p.includes("/proc/") ? "directory" : null),
  statKind: (p) => (p.includes("etc") ? "file" : "directory"),
  executableKind: (p) => (p === "/bin/sh" ? "executable" : "missing"),
  readlink: (p) => (p.endsWith("/var/run") ? "../run" : null),
  mkdirAll: noop,
  touch: noop,
  readTextFile: (p) =>
    p === "/etc/passwd"
      ? "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
      : "root:x:0:\n",
  writeTextFile: noop,
  mknod: noop,
  chmod: noop,
  symlink: noop,
  loopbackUp: noop,
  setrlimit: noop,
  setsid: noop,
  setControllingTerminal: noop,
  dup2: noop,
  write: noop,
  umask: noop,
  confine: (plan) => void planFromJSON(plan),
  resetSignals: noop,
  cloexecFrom: noop,
  execve: () => {
    throw new Error("dry run");
  },
  chownFd: noop,
};

/**
 * Runs the setup path once without effects.
 *
 * @example
 * ```ts
 * warmUp(); // in a warm init, before it says it is ready
 * ```
 */
export function warmUp(): void {
  const spec: InitSpec = {
    mode: "create",
    rootfs: {
      kind: "overlay",
      lowerDirs: ["/l/a", "/l/b"],
      upperDir: "/c/upper",
      workDir: "/c/work",
      target: "/c/rootfs",
    },
    hostname: "warm",
    network: "none",
    mounts: [
      ...defaultMounts({ shmSize: 64 << 20 }),
      { destination: "/data", type: "bind", source: "/v/data", options: ["rbind", "ro", "rprivate"] },
      { destination: "/etc/hosts", type: "bind", source: "/c/hosts", options: ["rbind", "rprivate"] },
    ],
    maskedPaths: ["/proc/kcore", "/proc/keys"],
    readonlyPaths: ["/proc/sys"],
    cgroupViews: [{ dir: "memory", options: "memory" }],
    pidsMax: { path: "/sys/fs/cgroup/pids/x/pids.max", value: "10" },
    process: {
      args: ["sh", "-c", "true"],
      env: ["PATH=/usr/bin:/bin", "A=1"],
      cwd: "/var/run/x",
      user: "app",
      groupAdd: ["0"],
      terminal: false,
      stdin: false,
      rlimits: [{ type: 7, soft: 1024, hard: 1024 }],
      init: false,
    },
    confinement: {
      uid: 0,
      gid: 0,
      groups: [],
      capabilities: {
        bounding: "0x1",
        effective: "0x1",
        permitted: "0x1",
        inheritable: "0x0",
        ambient: "0x0",
      },
      noNewPrivileges: true,
      seccomp: "0600000000000000",
      seccompFlags: 0,
    },
  };
  try {
    setupContainer(JSON.parse(JSON.stringify(spec)), dryRun);
  } catch { /* a dry run may stop anywhere: what ran is compiled */ }
  // An exec helper's path (join, spawn) and the spawn's own symbols, bound now.
  try {
    const join: InitSpec = {
      mode: "join",
      joinPid: 1,
      spawn: true,
      process: spec.process,
      confinement: spec.confinement,
    };
    setupContainer(JSON.parse(JSON.stringify(join)), dryRun);
  } catch { /* as above */ }
  const s = libcSymbols();
  void [s.posix_spawn, s.posix_spawnattr_init, s.posix_spawn_file_actions_init, s.waitid];
}
