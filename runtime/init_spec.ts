/**
 * The specification a container init process receives (over its stdin, as JSON) and the pure
 * pieces that build it: Docker's default mounts and the parser of OCI-style mount options (`rbind`, `ro`, `mode=755`, …) into mount(2) flags and
 * data. Host paths are all computed by the parent; the init only resolves what needs the
 * container's own files (the user from `/etc/passwd`, the command from `$PATH`).
 *
 * @module
 */
import { MS } from "../ffi/constants.ts";
import type { CgroupView } from "./container_cgroup.ts";
import type { ConfinementPlanJSON } from "./security/confine.ts";
import type { IdMapping } from "./security/userns.ts";

/** How the init gets its root filesystem. */
export type RootfsSpec =
  /** Overlayfs over read-only snapshots (topmost first) plus the container's own upper dir. */
  | { kind: "overlay"; lowerDirs: string[]; upperDir: string; workDir: string; target: string }
  /** An existing directory, bind-mounted on itself (used as it is, writes land in it). */
  | { kind: "dir"; path: string };

/** One mount inside the container, OCI style. */
export interface MountSpec {
  /** Absolute path inside the container. */
  destination: string;
  /** Filesystem type (`bind`, `tmpfs`, `proc`, …; `cgroup` means "the cgroup view" of either version). */
  type: string;
  /** Host path for binds; a label for the others. */
  source: string;
  /** `ro`, `nosuid`, `rbind`, `mode=1777`, `size=64m`, … */
  options: string[];
}

/** A resource limit (`--ulimit`). `-1` is unlimited. */
export interface RlimitSpec {
  /** Resource number (RLIMIT_*). */
  type: number;
  soft: number;
  hard: number;
}

/** The process the init becomes. */
export interface ProcessSpec {
  args: string[];
  env: string[];
  /** Working directory; created (as root, 0755) when missing, as Docker does. */
  cwd: string;
  /** `uid[:gid]` or `name[:group]`, resolved against the container's `/etc/passwd` and `/etc/group`. */
  user: string;
  /** Extra groups (`--group-add`), names or numbers. */
  groupAdd: string[];
  /**
   * Whether stdio is a terminal: the init allocates a pty in the container's own devpts (so
   * the command sees `/dev/pts/0`), hands the master to its parent, and makes the slave its
   * controlling terminal and stdio.
   */
  terminal: boolean;
  /** Keep fd 0 (the pipe the spec came through) as stdin; otherwise stdin is /dev/null. */
  stdin: boolean;
  rlimits: RlimitSpec[];
  oomScoreAdj?: number;
  /** Stay as PID 1 and run the command as a child, reaping orphans and forwarding signals (`--init`). */
  init: boolean;
}

/** Everything an init process needs. */
export interface InitSpec {
  /** `create` sets up new namespaces; `join` enters those of the running process `joinPid` (exec). */
  mode: "create" | "join";
  /** Host pid of the container's PID 1 (join mode). */
  joinPid?: number;
  /**
   * Join mode from outside the container's pid namespace (a warm exec helper, spawned before
   * anyone knew which container it would serve): the init joins the pid namespace too —
   * which only its children enter — and `posix_spawn`s the process instead of becoming it,
   * then waits for it and exits with its status. It reports the process's pid on the status
   * pipe (`pid <n>`) before closing it.
   */
  spawn?: boolean;
  rootfs?: RootfsSpec;
  readonlyRootfs?: boolean;
  hostname?: string;
  domainname?: string;
  /** `none`: a new network namespace with only `lo` (up); `host`: the host's; else a netns path to join. */
  network?: string;
  /** Mounts after the root filesystem, in order. */
  mounts?: MountSpec[];
  /** Paths hidden from the container (a file gets /dev/null bound over it, a directory an empty tmpfs). */
  maskedPaths?: string[];
  /** Paths remounted read-only. */
  readonlyPaths?: string[];
  /** cgroup v1 hierarchies to show under /sys/fs/cgroup (v2 shows its single tree). */
  cgroupViews?: CgroupView[];
  process: ProcessSpec;
  /**
   * Who the process is and what it may do (capabilities, no_new_privs, seccomp), computed by
   * the parent (`runtime/security/confine.ts`); the init fills in the user it resolved.
   */
  confinement: ConfinementPlanJSON;
  /**
   * The container runs in its own user namespace with these maps (`runtime/security/userns.ts`).
   * `ctr-nsexec` made the namespace (and joined the network namespace) before this init
   * started; the init then binds host devices instead of `mknod` (refused in a user
   * namespace), binds the host's /sys when sysfs cannot be mounted (a network namespace
   * owned by the host), leaves out cgroup v1 views (not mountable there), and in join mode
   * does not join the network namespace again.
   */
  userns?: { uidMap: IdMapping[]; gidMap: IdMapping[] };
  /** A cgroup file the init writes just before execve (pids.max), so the limit never hits the init's own threads. */
  pidsMax?: { path: string; value: string };
}

/**
 * The mounts every container gets, before its own: /proc, /dev (tmpfs), /dev/pts, /dev/shm,
 * /dev/mqueue, /sys (read-only) and the cgroup view (read-only).
 *
 * @example
 * ```ts
 * defaultMounts({ shmSize: 64 * 1024 * 1024 }).map((m) => m.destination);
 * // ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]
 * ```
 */
export function defaultMounts(options: { shmSize: number; hostSys?: boolean }): MountSpec[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${options.shmSize}`],
    },
  ];
}

/** mount(2) flags and data parsed from OCI options. */
export interface ParsedMountOptions {
  /** Flags for the first mount call. */
  flags: number;
  /** Filesystem-specific data (`mode=755,size=64m`). */
  data: string;
  /** Propagation flags to apply after mounting (MS_PRIVATE, MS_SLAVE, … possibly with MS_REC). */
  propagation: number;
  /** Whether a read-only remount is needed (binds ignore MS_RDONLY on the first call). */
  readonly: boolean;
}

const FLAG_OPTIONS: Record<string, [set: boolean, flag: number]> = {
  ro: [true, MS.RDONLY],
  rw: [false, MS.RDONLY],
  nosuid: [true, MS.NOSUID],
  suid: [false, MS.NOSUID],
  nodev: [true, MS.NODEV],
  dev: [false, MS.NODEV],
  noexec: [true, MS.NOEXEC],
  exec: [false, MS.NOEXEC],
  sync: [true, MS.SYNCHRONOUS],
  async: [false, MS.SYNCHRONOUS],
  noatime: [true, MS.NOATIME],
  atime: [false, MS.NOATIME],
  nodiratime: [true, MS.NODIRATIME],
  relatime: [true, MS.RELATIME],
  strictatime: [true, MS.STRICTATIME],
  bind: [true, MS.BIND],
  rbind: [true, MS.BIND | MS.REC],
};

const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/**
 * Turns OCI mount options into mount(2) flags, data and propagation.
 *
 * @example
 * ```ts
 * parseMountOptions(["rbind", "ro"]); // { flags: MS_BIND|MS_REC|MS_RDONLY, data: "", propagation: 0, readonly: true }
 * ```
 */
export function parseMountOptions(options: string[]): ParsedMountOptions {
  let flags = 0, propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAG_OPTIONS[o];
    if (f) {
      flags = f[0] ? flags | f[1] : flags & ~f[1];
    } else if (o in PROPAGATION_OPTIONS) {
      propagation = PROPAGATION_OPTIONS[o];
    } else if (o !== "") {
      data.push(o);
    }
  }
  return { flags, data: data.join(","), propagation, readonly: (flags & MS.RDONLY) !== 0 };
}

/** Where the spec travels: 4-byte big-endian length, then JSON. */
export function encodeInitSpec(spec: InitSpec): Uint8Array<ArrayBuffer> {
  const body = new TextEncoder().encode(JSON.stringify(spec));
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** An error the init reports to its parent before exiting with `code` (125, 126 or 127). */
export interface InitFailure {
  code: number;
  message: string;
}
