/**
 * What a container init process does between receiving its {@linkcode InitSpec} and
 * `execve`: everything inside the new (or joined) namespaces, on the main thread.
 *
 * Order matters and is kernel-driven:
 * 1. `unshare` the mount/uts/ipc/cgroup (and net) namespaces — the pid namespace was made by
 *    the parent before spawning us, so we are already PID 1 of it. `CLONE_FS` comes along
 *    because a thread sharing its fs_struct may not change mount namespace.
 * 2. Make every mount private (`MS_REC|MS_PRIVATE` on `/`) before mounting anything, or the
 *    mounts would propagate back to the host.
 * 3. Mount the root filesystem (overlay), then /proc — as PID 1 of the new pid namespace,
 *    so the procfs shows the container's pids — /dev, /sys, volumes and the /etc files, each
 *    target resolved inside the rootfs ({@linkcode secureJoin}).
 * 4. Hide and freeze the sensitive /proc and /sys paths, set the hostname, `pivot_root` and
 *    detach the old root.
 * 5. Resolve the user and the command in the container's own files, create a missing WORKDIR
 *    (inside the container — after pivot_root — never on the host), set stdio, rlimits,
 *    credentials and capabilities on this thread, then reset signals and `execve`.
 *
 * Every failure becomes an {@linkcode InitError} carrying Docker's exit code (125 for a setup
 * failure, 126 not executable, 127 not found), which the entry point reports to the parent.
 *
 * @module
 */
import { CLONE, MNT, MS, S } from "../ffi/constants.ts";
import { type InitSpec, type MountSpec, parseMountOptions } from "./init_spec.ts";
import { DEFAULT_DEV_SYMLINKS, DEFAULT_DEVICES } from "./security/devices.ts";
import { type InitSyscalls, JOIN_ORDER } from "./init_syscalls.ts";
import { secureJoin } from "./secure_join.ts";
import { CommandLookupError, DEFAULT_PATH, findExecutable, resolveUser } from "./user_lookup.ts";

/** A setup failure with the exit code Docker would use. */
export class InitError extends Error {
  override name = "InitError";
  /** 125 setup failed, 126 command not executable, 127 command not found. */
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** The process to exec once the container is set up. */
export interface PreparedExec {
  /** The resolved executable path (inside the container). */
  path: string;
  argv: string[];
  env: string[];
  /** In spawn mode with a terminal: the tty (in the container) the process opens as its stdio. */
  terminal?: string;
}

/** Longest mount(2) data the kernel takes (one page, minus room for the other options). */
const MAX_MOUNT_DATA = 4000;

/**
 * Sets up the container described by `spec` and returns what to exec. Leaves the calling
 * thread in the container's namespaces, root, credentials and capabilities.
 *
 * @example
 * ```ts
 * const exec = setupContainer(spec, realInitSyscalls);
 * realInitSyscalls.execve(exec.path, exec.argv, exec.env);
 * ```
 */
export function setupContainer(spec: InitSpec, sys: InitSyscalls): PreparedExec {
  const proc = spec.process;
  let consoleFd = -1, pidsFd = -1;
  let consolePath: string | undefined;
  try {
    // A host path (the cgroup file) must be opened before entering the container's mount
    // namespace or pivot_root hides it.
    if (spec.pidsMax) pidsFd = sys.openWrite(spec.pidsMax.path);
    if (spec.mode === "join") joinNamespaces(spec, sys);
    else createNamespaces(spec, sys);
    if (proc.terminal) {
      // The pty comes from the container's own devpts, so the command sees /dev/pts/N of
      // its namespace (as with Docker); the parent gets the master before we go on.
      const pty = sys.openPty();
      if (spec.mode === "create") {
        sys.touch("/dev/console");
        sys.mount(pty.path, "/dev/console", null, MS.BIND);
      }
      sys.handOverPty(pty.master);
      sys.close(pty.master);
      consoleFd = pty.slave;
      consolePath = pty.path;
    }
  } catch (e) {
    throw asInitError(e);
  }

  let user;
  try {
    user = resolveUser(
      proc.user,
      sys.readTextFile("/etc/passwd"),
      sys.readTextFile("/etc/group"),
      proc.groupAdd,
    );
  } catch (e) {
    throw new InitError(125, (e as Error).message.replace(/^Unable/, "unable"));
  }
  const env = [...proc.env];
  if (!env.some((e) => e.startsWith("PATH="))) env.unshift(`PATH=${DEFAULT_PATH}`);
  if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${user.home}`);
  const cwd = proc.cwd || "/";
  try {
    const kind = sys.statKind(cwd);
    if (kind === null) {
      if (spec.mode === "join") {
        throw new InitError(
          126,
          `chdir to cwd ("${cwd}") set in config.json failed: no such file or directory`,
        );
      }
      sys.mkdirAll(cwd, 0o755);
    } else if (kind !== "directory") {
      throw new InitError(125, `Working directory "${cwd}" is not a directory`);
    }
    sys.chdir(cwd);
  } catch (e) {
    throw asInitError(e);
  }
  if (spec.readonlyRootfs && spec.mode === "create") {
    // After the WORKDIR exists: a read-only root cannot get it later.
    sys.mount(null, "/", null, MS.BIND | MS.REMOUNT | MS.RDONLY);
  }

  let path: string;
  try {
    const pathEnv = env.findLast((e) => e.startsWith("PATH="))?.slice(5);
    path = findExecutable(proc.args[0] ?? "", pathEnv, (p) => sys.executableKind(p), cwd);
  } catch (e) {
    if (e instanceof CommandLookupError) throw new InitError(e.code, e.message);
    throw asInitError(e);
  }

  try {
    for (const r of proc.rlimits) sys.setrlimit(r.type, r.soft, r.hard);
    if (proc.oomScoreAdj !== undefined) {
      sys.writeTextFile("/proc/self/oom_score_adj", String(proc.oomScoreAdj));
    }
    if (spec.spawn && consoleFd >= 0) {
      // posix_spawn makes the process a session leader that opens the tty itself (and so
      // gets it as its controlling terminal), with the user's rights: the tty is theirs.
      // Our slave stays open (close-on-exec) until we exit: with no slave open, reads on
      // the master fail, and the parent's reader would stop before the process opens it.
      sys.chownFd(consoleFd, user.uid);
    } else if (consoleFd >= 0) {
      sys.setsid();
      sys.setControllingTerminal(consoleFd);
      for (const fd of [0, 1, 2]) sys.dup2(consoleFd, fd);
      sys.close(consoleFd);
    } else {
      if (!spec.spawn) sys.setsid(); // posix_spawn does it for the process
      if (!proc.stdin) {
        const devNull = sys.openRead("/dev/null");
        sys.dup2(devNull, 0);
        sys.close(devNull);
      }
    }
    if (pidsFd >= 0) {
      sys.write(pidsFd, spec.pidsMax!.value);
      sys.close(pidsFd);
    }
    // Last: the seccomp filter must not have to allow the setup calls above.
    sys.confine(spec.confinement, { uid: user.uid, gid: user.gid, groups: user.additionalGids });
    sys.umask(0o022);
    // Dispositions are process-wide: a staying --init or exec helper must keep Deno's own
    // handlers (its child's signals are reset by the spawn itself).
    if (!proc.init && !spec.spawn) sys.resetSignals();
    sys.cloexecFrom(3);
  } catch (e) {
    throw asInitError(e);
  }
  return { path, argv: proc.args, env, terminal: spec.spawn ? consolePath : undefined };
}

function asInitError(e: unknown): InitError {
  if (e instanceof InitError) return e;
  return new InitError(125, e instanceof Error ? e.message : String(e));
}

function joinNamespaces(spec: InitSpec, sys: InitSyscalls): void {
  const pid = spec.joinPid;
  if (!pid) throw new InitError(125, "Join mode needs the pid of the container");
  // Open every namespace first: entering the mount namespace changes what /proc is.
  // In a user namespace, ctr-nsexec joined the network namespace while it still could (it
  // belongs to the host's user namespace, where we have no rights).
  let order = spec.userns ? JOIN_ORDER.filter(([name]) => name !== "net") : JOIN_ORDER;
  // An exec helper outside the container's pid namespace: setns(CLONE_NEWPID) only decides
  // where its children go, so the process it spawns afterwards is born inside.
  if (spec.spawn) order = [["pid", CLONE.NEWPID], ...order];
  const fds = order.map(([name, type]) => [sys.openRead(`/proc/${pid}/ns/${name}`), type]);
  sys.unshare(CLONE.FS);
  for (const [fd, type] of fds) {
    sys.setns(fd, type);
    sys.close(fd);
  }
}

function createNamespaces(spec: InitSpec, sys: InitSyscalls): void {
  const network = spec.network ?? "none";
  let flags = CLONE.FS | CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWCGROUP;
  if (network === "none") flags |= CLONE.NEWNET;
  sys.unshare(flags);
  if (network !== "none" && network !== "host") {
    const fd = sys.openRead(network);
    sys.setns(fd, CLONE.NEWNET);
    sys.close(fd);
  }
  sys.mount(null, "/", null, MS.REC | MS.PRIVATE);

  const rootfs = mountRootfs(spec, sys);
  for (const m of spec.mounts ?? []) mountOne(rootfs, m, spec, sys);
  if ((spec.mounts ?? []).some((m) => m.destination === "/dev")) {
    makeDevices(rootfs, sys, spec.userns !== undefined);
  }
  for (const p of spec.maskedPaths ?? []) maskPath(rootfs, p, sys);
  for (const p of spec.readonlyPaths ?? []) readonlyPath(rootfs, p, sys);
  if (spec.hostname) sys.sethostname(spec.hostname);
  if (spec.domainname) sys.setdomainname(spec.domainname);

  // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
  // detaches it, leaving no path to the host's filesystem.
  sys.chdir(rootfs);
  sys.pivotRoot(".", ".");
  sys.umount(".", MNT.DETACH);
  sys.chdir("/");
  if (network === "none") sys.loopbackUp();
}

function mountRootfs(spec: InitSpec, sys: InitSyscalls): string {
  const r = spec.rootfs;
  if (!r) throw new InitError(125, "No root filesystem in the spec");
  if (r.kind === "dir") {
    sys.mount(r.path, r.path, null, MS.BIND | MS.REC);
    return r.path;
  }
  let lower = r.lowerDirs.join(":");
  let data = `lowerdir=${lower},upperdir=${r.upperDir},workdir=${r.workDir}`;
  if (data.length > MAX_MOUNT_DATA) {
    // The kernel copies at most one page of mount data: name the layers relative to their
    // common parent, which becomes our cwd for the mount call.
    const base = commonParent(r.lowerDirs);
    sys.chdir(base);
    lower = r.lowerDirs.map((d) => d.slice(base.length + 1)).join(":");
    data = `lowerdir=${lower},upperdir=${r.upperDir},workdir=${r.workDir}`;
    if (data.length > MAX_MOUNT_DATA) {
      throw new InitError(125, `Too many layers for one overlay mount (${r.lowerDirs.length})`);
    }
  }
  sys.mount("overlay", r.target, "overlay", 0, data);
  return r.target;
}

function commonParent(paths: string[]): string {
  let prefix = paths[0].slice(0, paths[0].lastIndexOf("/"));
  for (const p of paths) {
    while (prefix && !p.startsWith(prefix + "/")) prefix = prefix.slice(0, prefix.lastIndexOf("/"));
  }
  return prefix || "/";
}

/** Creates a mount target: a file for a bind of a file, else a directory. */
function ensureTarget(target: string, asFile: boolean, sys: InitSyscalls): void {
  const kind = sys.lstatKind(target);
  if (kind !== null) return;
  if (asFile) {
    sys.mkdirAll(target.slice(0, target.lastIndexOf("/")) || "/", 0o755);
    sys.touch(target);
  } else {
    sys.mkdirAll(target, 0o755);
  }
}

function mountOne(rootfs: string, m: MountSpec, spec: InitSpec, sys: InitSyscalls): void {
  const target = secureJoin(rootfs, m.destination, sys);
  const opts = parseMountOptions(m.options);
  if (m.type === "cgroup") {
    // cgroup v1 hierarchies cannot be mounted inside a user namespace (cgroup2 can).
    if (spec.userns && spec.cgroupViews) return;
    mountCgroups(target, opts.flags, spec, sys);
    return;
  }
  if (m.type === "sysfs" && spec.userns) {
    try {
      ensureTarget(target, false, sys);
      sys.mount(m.source, target, m.type, opts.flags, opts.data || undefined);
    } catch {
      // sysfs belongs to the network namespace's owner: in the host's network namespace (or
      // one the host made), a user namespace's root may not mount it. Bind the host's, as
      // runc does, read-only.
      sys.mount("/sys", target, null, MS.BIND | MS.REC);
      sys.mount(null, target, null, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC);
    }
    return;
  }
  if (m.type === "bind") {
    const sourceKind = sys.statKind(m.source);
    if (sourceKind === null) throw new InitError(125, `Bind source does not exist: ${m.source}`);
    ensureTarget(target, sourceKind !== "directory", sys);
    const flags = opts.flags | MS.BIND;
    sys.mount(m.source, target, null, flags & ~MS.RDONLY);
    if (opts.readonly || (flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC))) {
      // MS_BIND ignores the other flags on the first call; a remount applies them.
      sys.mount(null, target, null, (flags & ~MS.REC) | MS.REMOUNT);
    }
  } else {
    ensureTarget(target, false, sys);
    sys.mount(m.source, target, m.type, opts.flags, opts.data || undefined);
  }
  if (opts.propagation) sys.mount(null, target, null, opts.propagation);
}

function mountCgroups(target: string, flags: number, spec: InitSpec, sys: InitSyscalls): void {
  ensureTarget(target, false, sys);
  const views = spec.cgroupViews;
  if (!views) {
    sys.mount("cgroup", target, "cgroup2", flags);
    return;
  }
  // cgroup v1: a tmpfs holding one mount per hierarchy; with the cgroup namespace each shows
  // the container's own cgroup as its root.
  sys.mount("cgroup", target, "tmpfs", flags & ~MS.RDONLY, "mode=755");
  for (const v of views) {
    const dir = `${target}/${v.dir}`;
    sys.mkdirAll(dir, 0o755);
    sys.mount("cgroup", dir, "cgroup", flags, v.options);
  }
  if (flags & MS.RDONLY) sys.mount(null, target, null, MS.REMOUNT | MS.RDONLY | (flags & ~MS.RDONLY));
}

function makeDevices(rootfs: string, sys: InitSyscalls, bindFromHost: boolean): void {
  const root = secureJoin(rootfs, "/", sys);
  for (const d of DEFAULT_DEVICES) {
    const path = `${root}${d.path}`;
    if (bindFromHost) {
      // mknod is refused in a user namespace: bind the host's node (the device cgroup still
      // decides what may be opened).
      sys.touch(path);
      sys.mount(d.path, path, null, MS.BIND);
      continue;
    }
    sys.mknod(path, (d.type === "c" ? S.IFCHR : S.IFBLK) | d.mode, d.major, d.minor);
    sys.chmod(path, d.mode); // mknod applied the umask
  }
  for (const [target, link] of DEFAULT_DEV_SYMLINKS) sys.symlink(target, `${root}${link}`);
}

function maskPath(rootfs: string, path: string, sys: InitSyscalls): void {
  const target = secureJoin(rootfs, path, sys);
  const kind = sys.lstatKind(target);
  if (kind === null) return;
  if (kind === "directory") sys.mount("tmpfs", target, "tmpfs", MS.RDONLY, "size=0");
  else sys.mount("/dev/null", target, null, MS.BIND);
}

function readonlyPath(rootfs: string, path: string, sys: InitSyscalls): void {
  const target = secureJoin(rootfs, path, sys);
  if (sys.lstatKind(target) === null) return;
  sys.mount(target, target, null, MS.BIND | MS.REC);
  sys.mount(null, target, null, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC);
}
