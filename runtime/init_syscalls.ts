/**
 * The system calls a container init makes, as one interface with a real implementation over
 * `ffi/libc.ts` (and Deno's synchronous file calls, which run on the calling thread and so
 * see the init's own mount namespace and root) — and a recording fake in the tests, so the
 * order of the setup steps is checked without root.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { CLONE, IOCTL, O, S } from "../ffi/constants.ts";
import { confineCurrentThread, type ConfinementPlanJSON, planFromJSON } from "./security/confine.ts";
import type { PathKind } from "./user_lookup.ts";

/** What the init does to the kernel. */
export interface InitSyscalls {
  unshare(flags: number): void;
  setns(fd: number, nstype: number): void;
  /** Opens a file read-only, close-on-exec; returns the fd. */
  openRead(path: string): number;
  /** Opens a file for writing, close-on-exec; returns the fd. */
  openWrite(path: string): number;
  /** Allocates a pty from the devpts at `/dev/pts` of the current root; returns both ends and the slave's path. */
  openPty(): { master: number; slave: number; path: string };
  /** Gives the pty master to the parent (which takes a copy of the fd) and waits until it has it. */
  handOverPty(master: number): void;
  close(fd: number): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string): void;
  umount(target: string, flags: number): void;
  pivotRoot(newRoot: string, putOld: string): void;
  chdir(path: string): void;
  sethostname(name: string): void;
  setdomainname(name: string): void;
  /** `file`, `directory`, `symlink`, `other` or null when absent (no symlink following). */
  lstatKind(path: string): "file" | "directory" | "symlink" | "other" | null;
  /** Like {@linkcode lstatKind} but following symlinks. */
  statKind(path: string): "file" | "directory" | "other" | null;
  /** What exec would find at `path` (follows symlinks). */
  executableKind(path: string): PathKind;
  readlink(path: string): string | null;
  mkdirAll(path: string, mode: number): void;
  /** Creates an empty file when missing (parents must exist). */
  touch(path: string): void;
  readTextFile(path: string): string | null;
  writeTextFile(path: string, text: string): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  chmod(path: string, mode: number): void;
  symlink(target: string, path: string): void;
  /** Brings the loopback interface up in the current network namespace. */
  loopbackUp(): void;
  setrlimit(resource: number, soft: number, hard: number): void;
  setsid(): void;
  /** Makes `fd` (a terminal) the controlling terminal of the calling session. */
  setControllingTerminal(fd: number): void;
  dup2(oldFd: number, newFd: number): void;
  write(fd: number, text: string): void;
  umask(mask: number): void;
  /**
   * Becomes `user` and applies the plan's capabilities, no_new_privs and seccomp filter — on
   * the calling thread only, irreversibly (see `runtime/security/confine.ts`).
   */
  confine(plan: ConfinementPlanJSON, user: { uid: number; gid: number; groups: number[] }): void;
  resetSignals(): void;
  /** Marks every fd from 3 up close-on-exec. */
  cloexecFrom(fd: number): void;
  execve(path: string, argv: string[], env: string[]): never;
  /** Gives an open file (the exec's pty slave) to `uid`, its group unchanged. */
  chownFd(fd: number, uid: number): void;
}

function kindOf(info: Deno.FileInfo): "file" | "directory" | "symlink" | "other" {
  if (info.isSymlink) return "symlink";
  if (info.isFile) return "file";
  if (info.isDirectory) return "directory";
  return "other";
}

/** The real system calls. */
export const realInitSyscalls: InitSyscalls = {
  unshare: (flags) => libc.unshare(flags),
  setns: (fd, nstype) => libc.setns(fd, nstype),
  openRead: (path) => libc.open(path, O.RDONLY | O.CLOEXEC),
  openWrite: (path) => libc.open(path, O.WRONLY | O.CLOEXEC),
  openPty() {
    const master = libc.open("/dev/pts/ptmx", O.RDWR | O.NOCTTY | O.CLOEXEC);
    const n = new Uint8Array(4);
    libc.ioctl(master, IOCTL.TIOCSPTLCK, n); // 0: unlock the slave
    libc.ioctl(master, IOCTL.TIOCGPTN, n);
    const path = `/dev/pts/${new DataView(n.buffer).getUint32(0, true)}`;
    return { master, slave: libc.open(path, O.RDWR | O.NOCTTY | O.CLOEXEC), path };
  },
  handOverPty() {
    throw new Error("No parent to hand the pty to");
  },
  close: (fd) => libc.close(fd),
  mount: (source, target, fstype, flags, data) => libc.mount(source, target, fstype, flags, data),
  umount: (target, flags) => libc.umount(target, flags),
  pivotRoot: (newRoot, putOld) => libc.pivotRoot(newRoot, putOld),
  chdir: (path) => libc.chdir(path),
  sethostname: (name) => libc.sethostname(name),
  setdomainname: (name) => libc.setdomainname(name),
  lstatKind(path) {
    try {
      return kindOf(Deno.lstatSync(path));
    } catch {
      return null;
    }
  },
  statKind(path) {
    try {
      const k = kindOf(Deno.statSync(path));
      return k === "symlink" ? "other" : k;
    } catch {
      return null;
    }
  },
  executableKind(path) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      return "missing";
    }
    if (info.isDirectory) return "directory";
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0 ? "executable" : "not-executable";
  },
  readlink(path) {
    try {
      return Deno.lstatSync(path).isSymlink ? Deno.readLinkSync(path) : null;
    } catch {
      return null;
    }
  },
  mkdirAll: (path, mode) => Deno.mkdirSync(path, { recursive: true, mode }),
  touch(path) {
    Deno.writeFileSync(path, new Uint8Array(), { append: true, create: true, mode: 0o644 });
  },
  readTextFile(path) {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return null;
    }
  },
  writeTextFile: (path, text) => Deno.writeTextFileSync(path, text),
  mknod: (path, mode, major, minor) => libc.mknod(path, mode, major, minor),
  chmod: (path, mode) => libc.lchmod(path, mode),
  symlink: (target, path) => Deno.symlinkSync(target, path),
  loopbackUp() {
    // struct ifreq: 16-byte name, then the flags as a short.
    const fd = libc.socket(2, /* AF_INET */ 2 /* SOCK_DGRAM */ | O.CLOEXEC, 0);
    try {
      const req = new Uint8Array(40);
      req.set(new TextEncoder().encode("lo"));
      libc.ioctl(fd, IOCTL.SIOCGIFFLAGS, req);
      const view = new DataView(req.buffer);
      view.setUint16(16, view.getUint16(16, true) | 1, /* IFF_UP */ true);
      libc.ioctl(fd, IOCTL.SIOCSIFFLAGS, req);
    } finally {
      libc.close(fd);
    }
  },
  setrlimit: (resource, soft, hard) => libc.setrlimit(0, resource, soft, hard),
  setsid() {
    libc.setsid();
  },
  setControllingTerminal(fd) {
    libc.ioctl(fd, IOCTL.TIOCSCTTY, null);
  },
  dup2: (oldFd, newFd) => {
    if (oldFd !== newFd) libc.dup3(oldFd, newFd, 0);
  },
  write(fd, text) {
    libc.write(fd, new TextEncoder().encode(text));
  },
  umask: (mask) => void libc.umask(mask),
  confine(plan, user) {
    confineCurrentThread({ ...planFromJSON(plan), uid: user.uid, gid: user.gid, groups: user.groups });
  },
  resetSignals: () => libc.resetSignals(),
  cloexecFrom: (fd) => libc.closeRange(fd, true),
  execve: (path, argv, env) => libc.execve(path, argv, env),
  chownFd: (fd, uid) => libc.fchown(fd, uid, -1),
};

/** Namespace types by /proc/PID/ns file name, in the order exec joins them (mnt last: it changes the root). */
export const JOIN_ORDER: [string, number][] = [
  ["cgroup", CLONE.NEWCGROUP],
  ["ipc", CLONE.NEWIPC],
  ["uts", CLONE.NEWUTS],
  ["net", CLONE.NEWNET],
  ["mnt", CLONE.NEWNS],
];

/** File-type bits for device nodes. */
export const NODE = { CHR: S.IFCHR } as const;
