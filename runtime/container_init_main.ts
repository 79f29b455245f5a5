/**
 * Entry point of a container init process (PID 1 of a fresh pid namespace, or an exec helper
 * spawned into a container's pid namespace). Kept to a tiny module graph — ffi and the setup
 * steps — because its start-up is on the path of every `ctr run` that finds no warm init.
 *
 * Protocol with the parent (see `init_process.ts`):
 * - argv[0] is a path (`/proc/<parent>/fd/<n>`) that reopens the parent's status pipe; the
 *   init opens it close-on-exec, runs the setup once without effects (`init_warmup.ts`: V8
 *   then has the code compiled) and writes `R` when it is ready for a spec.
 * - fd 0 carries the spec: a 4-byte big-endian length and JSON. After it, fd 0 is the
 *   container's stdin (or is replaced by /dev/null). End of file instead of a spec means
 *   "not needed": the init exits quietly.
 * - With a terminal, the init writes `pty <fd>` on the status pipe: the parent copies that fd
 *   (the pty master) with pidfd_getfd and writes one byte to fd 0 when it has it.
 * - On success the status pipe closes at `execve` (close-on-exec) without another byte; on
 *   failure the init writes one JSON line `{"code":…,"message":…}` and exits with that code.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { F, O } from "../ffi/constants.ts";
import { InitError, type PreparedExec, setupContainer } from "./container_init.ts";
import type { InitSpec } from "./init_spec.ts";
import { realInitSyscalls } from "./init_syscalls.ts";
import { warmUp } from "./init_warmup.ts";

function readExactly(fd: number, n: number): Uint8Array<ArrayBuffer> | null {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = libc.read(fd, buf.subarray(got) as Uint8Array<ArrayBuffer>);
    if (r === 0) return null;
    got += r;
  }
  return buf;
}

function fail(statusFd: number, code: number, message: string): never {
  try {
    libc.write(statusFd, new TextEncoder().encode(JSON.stringify({ code, message }) + "\n"));
  } catch { /* parent gone */ }
  // Not Deno.exit: an exec helper's thread may be past the point where it can run Deno's
  // exit path (see spawnAndWait).
  return libc.exitGroup(code);
}

/**
 * Exec helper: starts the process (born in the container's pid namespace, with this thread's
 * namespaces, root, credentials and confinement), reports its pid, waits for it and exits
 * with its status. Only synchronous calls from here on: this thread's pid namespace for
 * children is no longer its own, and the kernel refuses it new threads.
 */
function spawnAndWait(exec: PreparedExec, statusFd: number): never {
  let pid: number;
  try {
    pid = libc.posixSpawn(exec.path, exec.argv, exec.env, { terminal: exec.terminal });
  } catch (e) {
    const m = (e as Error).message;
    fail(statusFd, /ENOENT/.test(m) ? 127 : 126, `exec: "${exec.argv[0]}": ${m}`);
  }
  try {
    libc.write(statusFd, new TextEncoder().encode(`pid ${pid}\n`));
    libc.close(statusFd);
  } catch { /* parent gone: the process runs on */ }
  let code = 255;
  for (;;) {
    try {
      const r = libc.waitid(1, /* P_PID */ pid, 4 /* WEXITED */);
      if (r) code = r.code === 1 /* CLD_EXITED */ ? r.status : 128 + r.status;
      break;
    } catch (e) {
      if (!/EINTR/.test((e as Error).message)) break;
    }
  }
  return libc.exitGroup(code);
}

/** Runs the init with the status pipe at `statusPath`. */
export async function initMain(statusPath: string): Promise<void> {
  // `/proc/self/fd/N`: the pipe is already ours (ctr-nsexec left it on fd N). In a user
  // namespace it cannot be reopened (the pipe belongs to the host's root): use it as it is.
  const inherited = /^\/proc\/self\/fd\/(\d+)$/.exec(statusPath);
  let statusFd: number;
  if (inherited) {
    statusFd = Number(inherited[1]);
    libc.fcntl(statusFd, F.SETFD, F.FD_CLOEXEC);
  } else {
    statusFd = libc.open(statusPath, O.WRONLY | O.CLOEXEC);
  }
  warmUp();
  libc.write(statusFd, new TextEncoder().encode("R"));
  const header = readExactly(0, 4);
  if (!header) Deno.exit(0);
  const body = readExactly(0, new DataView(header.buffer).getUint32(0));
  if (!body) Deno.exit(0);
  const spec = JSON.parse(new TextDecoder().decode(body)) as InitSpec;
  const sys = {
    ...realInitSyscalls,
    handOverPty(master: number) {
      // The parent takes a copy of the fd (pidfd_getfd) and answers with one byte.
      libc.write(statusFd, new TextEncoder().encode(`pty ${master}\n`));
      if (!readExactly(0, 1)) throw new Error("The parent did not take the pty");
    },
  };
  let exec;
  try {
    exec = setupContainer(spec, sys);
  } catch (e) {
    const err = e instanceof InitError ? e : new InitError(125, String((e as Error)?.message ?? e));
    fail(statusFd, err.code, err.message);
  }
  if (spec.spawn) spawnAndWait(exec, statusFd);
  if (!spec.process.init) {
    try {
      realInitSyscalls.execve(exec.path, exec.argv, exec.env);
    } catch (e) {
      const m = (e as Error).message;
      fail(statusFd, /EACCES|ENOEXEC|EISDIR/.test(m) ? 126 : 127, `exec: "${exec.argv[0]}": ${m}`);
    }
  }
  const { runReaper } = await import("./init_reaper.ts");
  await runReaper(exec, () => libc.close(statusFd));
}

if (import.meta.main) await initMain(Deno.args[0]);
