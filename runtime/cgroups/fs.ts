/**
 * The file operations the cgroup backends perform, behind one small interface so that the
 * same backend code runs against the kernel's cgroupfs and against a fake tree of plain files
 * in a temp dir (the shared test suite). Every failure becomes a {@linkcode SyscallError}
 * naming the operation, the errno and the path.
 *
 * Why the fake needs its own `rmdir`: on cgroupfs a cgroup directory is removed with rmdir(2)
 * even though it "contains" control files; a plain directory holding files cannot be.
 *
 * @module
 */
import { ERRNO, SyscallError } from "../../ffi/errno.ts";

/** File operations on a cgroup hierarchy. Paths are absolute. */
export interface CgroupFs {
  /** Whole content of a control file. */
  read(path: string): string;
  /** Writes `value` to a control file in one write(2), as the kernel parses each write whole. */
  write(path: string, value: string): void;
  /** Whether a file or directory exists. */
  exists(path: string): boolean;
  /** Creates one directory; false when it existed already. */
  mkdir(path: string): boolean;
  /** Removes one cgroup directory (rmdir on cgroupfs). */
  rmdir(path: string): void;
  /** Names of the sub-directories (child cgroups) of a directory. */
  subdirs(path: string): string[];
}

/**
 * Turns an error thrown by a `Deno.*` file call into a {@linkcode SyscallError}.
 *
 * @example
 * ```ts
 * try { Deno.readTextFileSync(p); } catch (e) { throw toSyscallError(e, "read", p); }
 * ```
 */
export function toSyscallError(e: unknown, op: string, path: string): Error {
  if (e instanceof SyscallError) return e;
  const code = (e as { code?: string })?.code;
  if (typeof code === "string" && code in ERRNO) return new SyscallError(op, ERRNO[code], path);
  if (e instanceof Deno.errors.NotFound) return new SyscallError(op, 2, path);
  if (e instanceof Deno.errors.PermissionDenied) return new SyscallError(op, 13, path);
  return e instanceof Error ? e : new Error(String(e));
}

/** The kernel's cgroupfs. */
export const kernelCgroupFs: CgroupFs = {
  read(path) {
    try {
      return Deno.readTextFileSync(path);
    } catch (e) {
      throw toSyscallError(e, "read", path);
    }
  },
  write(path, value) {
    try {
      // create:false: a missing control file means a missing controller, not a file to make.
      Deno.writeTextFileSync(path, value, { create: false });
    } catch (e) {
      throw toSyscallError(e, `write ${JSON.stringify(value.trim())} to`, path);
    }
  },
  exists(path) {
    try {
      Deno.lstatSync(path);
      return true;
    } catch {
      return false;
    }
  },
  mkdir(path) {
    try {
      Deno.mkdirSync(path);
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return false;
      throw toSyscallError(e, "mkdir", path);
    }
  },
  rmdir(path) {
    try {
      Deno.removeSync(path);
    } catch (e) {
      throw toSyscallError(e, "rmdir", path);
    }
  },
  subdirs(path) {
    try {
      return [...Deno.readDirSync(path)].filter((e) => e.isDirectory).map((e) => e.name);
    } catch (e) {
      throw toSyscallError(e, "readdir", path);
    }
  },
};

/** How a fake tree imitates the kernel: files a new cgroup gets, and how a write is stored. */
export interface FakeKernel {
  /** Called after a directory is made: create its control files. */
  onMkdir?(dir: string): void;
  /** Returns what a write leaves in the file (default: the value written). */
  onWrite?(path: string, value: string, previous: string | null): string;
}

/**
 * A fake hierarchy of plain files (for tests): writes go to files (through `kernel.onWrite`),
 * new directories get their control files from `kernel.onMkdir`, writing a control file that
 * does not exist fails with ENOENT as on cgroupfs, and rmdir removes a directory with its
 * control files but, like the kernel, refuses one that still has child cgroups or processes
 * listed in its `cgroup.procs` (EBUSY).
 *
 * @example
 * ```ts
 * const fs = fakeTreeFs({ onMkdir: (d) => Deno.writeTextFileSync(`${d}/cgroup.procs`, "") });
 * ```
 */
export function fakeTreeFs(kernel: FakeKernel = {}): CgroupFs {
  return {
    ...kernelCgroupFs,
    write(path, value) {
      const op = `write ${JSON.stringify(value.trim())} to`;
      if (!kernelCgroupFs.exists(path)) throw new SyscallError(op, 2, path);
      const previous = kernelCgroupFs.read(path);
      try {
        Deno.writeTextFileSync(path, kernel.onWrite ? kernel.onWrite(path, value, previous) : value);
      } catch (e) {
        throw toSyscallError(e, op, path);
      }
    },
    mkdir(path) {
      const made = kernelCgroupFs.mkdir(path);
      if (made) kernel.onMkdir?.(path);
      return made;
    },
    rmdir(path) {
      if (!kernelCgroupFs.exists(path)) throw new SyscallError("rmdir", 2, path);
      if (kernelCgroupFs.subdirs(path).length > 0) throw new SyscallError("rmdir", 16, path);
      let procs = "";
      try {
        procs = Deno.readTextFileSync(`${path}/cgroup.procs`);
      } catch { /* none */ }
      if (procs.trim() !== "") throw new SyscallError("rmdir", 16, path);
      Deno.removeSync(path, { recursive: true });
    },
  };
}
