/**
 * The parent side of a container init: spawning it as PID 1 of a fresh pid namespace (or
 * into a running container's pid namespace, for exec), handing it its spec, and learning
 * whether it reached `execve`.
 *
 * Why the odd dance around the spawn: `unshare(CLONE_NEWPID)` / `setns(…, CLONE_NEWPID)`
 * change only the calling thread's *children's* pid namespace, and Deno panics when it has
 * to create a thread while that differs from its own. So the change, the spawn and the
 * restore (setns back to our own pid namespace, opened once) happen synchronously, back to
 * back, on the main thread.
 *
 * The status pipe: Deno can pass only stdio to a child, so the init reopens our pipe's write
 * end through `/proc/<our pid>/fd/<n>` (close-on-exec on its side), says `R` when it waits
 * for its spec, and the pipe reaches end-of-file without a byte when `execve` succeeds — or
 * carries one JSON line describing the failure.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { CLONE, F, O } from "../ffi/constants.ts";
import { nsexecPath } from "../ffi/native/mod.ts";
import { encodeInitSpec, type InitFailure, type InitSpec } from "./init_spec.ts";
import { formatIdMap, type UsernsMaps } from "./security/userns.ts";

/** A failure of the init before `execve` (exit code 125/126/127 and Docker-like message). */
export class ContainerStartError extends Error {
  override name = "ContainerStartError";
  /** Exit code Docker uses for this failure. */
  readonly code: number;
  constructor(failure: InitFailure) {
    super(failure.message);
    this.code = failure.code;
  }
}

let hostPidNs = -1;

function ownPidNamespace(): number {
  if (hostPidNs < 0) hostPidNs = libc.open("/proc/self/ns/pid", O.RDONLY | O.CLOEXEC);
  return hostPidNs;
}

const INIT_MAIN = new URL("./container_init_main.ts", import.meta.url).pathname;

function initCommand(statusPath: string): { command: string; args: string[] } {
  if (Deno.build.standalone) return { command: Deno.execPath(), args: ["__init", statusPath] };
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-all",
      "--no-config",
      "--no-lock",
      "--v8-flags=--single-threaded",
      INIT_MAIN,
      statusPath,
    ],
  };
}

function initEnv(): Record<string, string> {
  const env: Record<string, string> = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
  for (const k of ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "PATH"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  return env;
}

/** Options of {@linkcode InitProcess.spawn}. */
export interface SpawnInitOptions {
  /** Spawn into the pid namespace of this (host) pid instead of a new one (exec). */
  joinPid?: number;
  /**
   * With `joinPid`: the container runs in its own user namespace, so the init goes in
   * through `ctr-nsexec join` (a multithreaded process cannot enter a user namespace).
   */
  joinUserns?: { root: string };
  /**
   * An exec helper: stays in our pid namespace, to be handed a `spawn` spec for any running
   * container later (it joins that container's namespaces itself, and spawns the process).
   */
  execHelper?: boolean;
}

/** How a process ended, as Deno reports it (code 128+signal when killed). */
export interface InitStatus {
  success: boolean;
  code: number;
  signal: Deno.Signal | null;
}

/** Options of {@linkcode InitProcess.spawnInUserns}. */
export interface SpawnUsernsOptions {
  /** State root (where the compiled ctr unpacks ctr-nsexec). */
  root: string;
  maps: UsernsMaps;
  /** A network namespace (path) to join before the user namespace is made. */
  netns?: string;
}

const P_PID = 1, WEXITED = 4, CLD_EXITED = 1;

/**
 * One init process, from spawn to `execve`.
 *
 * @example
 * ```ts
 * const init = InitProcess.spawn();
 * await init.ready;
 * await init.start(spec); // throws ContainerStartError (code 125/126/127) on failure
 * const status = await init.child.status;
 * ```
 */
export class InitProcess {
  /** The process; its stdout/stderr become the container's, stdin carries the spec first. */
  readonly child: Deno.ChildProcess;
  /** Host pid (the container's PID 1 once it execs). */
  readonly pid: number;
  /** Resolves when the init waits for its spec; rejects when it died first. */
  readonly ready: Promise<void>;
  /** Resolves when the init (then the container's PID 1) ends. */
  readonly status: Promise<InitStatus>;
  /** An exec helper's process, once started (host pid); signals for the exec go there. */
  spawnedPid?: number;
  #statusRead: number;
  #statusWrite: number;
  #started = false;

  private constructor(
    child: Deno.ChildProcess,
    statusRead: number,
    statusWrite: number,
    reparented?: { pid: number },
  ) {
    this.child = child;
    this.pid = reparented?.pid ?? child.pid;
    this.status = reparented ? waitForPid(reparented.pid) : child.status;
    this.#statusRead = statusRead;
    this.#statusWrite = statusWrite;
    this.ready = this.#awaitReady();
    this.ready.catch(() => {});
  }

  /** Sends a signal to the init (the container's PID 1 once it execs). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.pid === this.child.pid) this.child.kill(signal);
    else Deno.kill(this.pid, signal);
  }

  /**
   * Spawns an init in a new user namespace with `maps`, through `ctr-nsexec create`: it
   * joins `netns` (while still privileged on the host), unshares the user namespace, waits
   * while we write its maps, then makes the pid namespace — owned by the new user
   * namespace, so that root inside may mount its /proc — and clones the init into it as
   * our child (CLONE_PARENT). The Deno child object is ctr-nsexec, which exits at once; its
   * pipes are the init's stdio, and the init's status comes from waitid on its pid.
   */
  static async spawnInUserns(options: SpawnUsernsOptions): Promise<InitProcess> {
    const [r, w] = libc.pipe(O.CLOEXEC);
    const { command, args } = initCommand("/proc/self/fd/3");
    const helperArgs = ["create"];
    if (options.netns) helperArgs.push("--netns", options.netns);
    helperArgs.push(`/proc/${Deno.pid}/fd/${w}`, "--", command, ...args);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(nsexecPath(options.root), {
        args: helperArgs,
        env: initEnv(),
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      libc.close(r);
      libc.close(w);
      throw e;
    }
    const fail = async (message: string): Promise<never> => {
      libc.close(r);
      libc.close(w);
      await child.stdin.close().catch(() => {});
      await child.status;
      throw new ContainerStartError({ code: 125, message });
    };
    const helperDied = child.status.then(() => null);
    const first = await Promise.race([readLine(r), helperDied]);
    if (first !== "U") return await fail(`ctr-nsexec: ${first?.replace(/^E /, "") ?? "exited early"}`);
    try {
      // setgroups stays allowed: the maps are written by a process privileged on the host.
      Deno.writeTextFileSync(`/proc/${child.pid}/uid_map`, formatIdMap(options.maps.uidMap));
      Deno.writeTextFileSync(`/proc/${child.pid}/gid_map`, formatIdMap(options.maps.gidMap));
    } catch (e) {
      child.kill("SIGKILL");
      return await fail(`Cannot write the user namespace maps: ${(e as Error).message}`);
    }
    const writer = child.stdin.getWriter();
    await writer.write(new Uint8Array([0x4d /* M */]));
    writer.releaseLock();
    const second = await readLine(r);
    const m = /^P (\d+)$/.exec(second ?? "");
    if (!m) return await fail(`ctr-nsexec: ${second?.replace(/^E /, "") ?? "exited early"}`);
    await child.status;
    return new InitProcess(child, r, w, { pid: Number(m[1]) });
  }

  /** Spawns an init (a new pid namespace unless `joinPid`). */
  static spawn(options: SpawnInitOptions = {}): InitProcess {
    const [r, w] = libc.pipe(O.CLOEXEC);
    let { command, args } = initCommand(`/proc/${Deno.pid}/fd/${w}`);
    if (options.joinPid && options.joinUserns) {
      // ctr-nsexec enters the container's network and user namespaces, then execs the init,
      // which finds the status pipe on fd 3 (it could not open our /proc entries in there).
      const inner = initCommand("/proc/self/fd/3");
      const ns = `/proc/${options.joinPid}/ns`;
      args = [
        "join",
        `${ns}/user`,
        `${ns}/net`,
        `/proc/${Deno.pid}/fd/${w}`,
        "--",
        inner.command,
        ...inner.args,
      ];
      command = nsexecPath(options.joinUserns.root);
    }
    const cmd = new Deno.Command(command, {
      args,
      env: initEnv(),
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
    const restore = ownPidNamespace();
    let child: Deno.ChildProcess;
    let joinFd = -1;
    if (options.execHelper) {
      try {
        return new InitProcess(cmd.spawn(), r, w);
      } catch (e) {
        libc.close(r);
        libc.close(w);
        throw e;
      }
    }
    try {
      if (options.joinPid) {
        joinFd = libc.open(`/proc/${options.joinPid}/ns/pid`, O.RDONLY | O.CLOEXEC);
        libc.setns(joinFd, CLONE.NEWPID);
      } else {
        libc.unshare(CLONE.NEWPID);
      }
      try {
        child = cmd.spawn();
      } finally {
        libc.setns(restore, CLONE.NEWPID);
      }
    } catch (e) {
      libc.close(r);
      libc.close(w);
      throw e;
    } finally {
      if (joinFd >= 0) libc.close(joinFd);
    }
    return new InitProcess(child, r, w);
  }

  async #awaitReady(): Promise<void> {
    const died = this.status.then(() => {
      // Our own write end keeps the pending read blocked: close it so the read returns.
      this.#closeWrite();
      return -1;
    });
    const buf = new Uint8Array(1);
    const n = await Promise.race([libc.readAsync(this.#statusRead, buf), died]);
    if (n !== 1 || buf[0] !== 82 /* R */) {
      this.#closeWrite();
      const status = await this.status;
      throw new ContainerStartError({
        code: 125,
        message: `Container init exited before setup (code ${status.code})`,
      });
    }
    this.#closeWrite();
  }

  #closeWrite(): void {
    if (this.#statusWrite >= 0) {
      libc.close(this.#statusWrite);
      this.#statusWrite = -1;
    }
  }

  /**
   * Sends the spec and resolves once the command has been exec'd (or, with `--init`,
   * spawned). Rejects with {@linkcode ContainerStartError} when setup fails. With
   * `keepStdin`, the stdin writer stays open as the container's stdin. With a terminal,
   * `onPty` receives the pty master (an fd of this process) before the command starts.
   */
  async start(
    spec: InitSpec,
    options: { keepStdin?: boolean; onPty?: (master: number) => void } = {},
  ): Promise<void> {
    if (this.#started) throw new Error("Init already started");
    this.#started = true;
    await this.ready;
    const writer = this.child.stdin.getWriter();
    try {
      await writer.write(encodeInitSpec(spec));
    } catch {
      // The init died; its status tells why.
    }
    let text = "";
    let failure = "";
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const buf = new Uint8Array(4096);
        const n = await libc.readAsync(this.#statusRead, buf);
        if (n <= 0) break;
        text += decoder.decode(buf.subarray(0, n), { stream: true });
        let nl;
        while ((nl = text.indexOf("\n")) !== -1) {
          const line = text.slice(0, nl);
          text = text.slice(nl + 1);
          const pty = /^pty (\d+)$/.exec(line);
          const spawned = /^pid (\d+)$/.exec(line);
          if (pty) await this.#takePty(Number(pty[1]), writer, options.onPty);
          else if (spawned) this.spawnedPid = Number(spawned[1]);
          else failure += line;
        }
      }
    } finally {
      libc.close(this.#statusRead);
      this.#statusRead = -1;
      writer.releaseLock();
      if (!options.keepStdin) await this.child.stdin.close().catch(() => {});
    }
    failure = (failure + text).trim();
    if (!failure) return;
    let parsed: InitFailure;
    try {
      parsed = JSON.parse(failure);
    } catch {
      parsed = { code: 125, message: `Container init failed: ${failure}` };
    }
    throw new ContainerStartError(parsed);
  }

  /** Copies the init's pty master into this process and lets the init go on. */
  async #takePty(
    fd: number,
    writer: WritableStreamDefaultWriter<Uint8Array>,
    onPty: ((master: number) => void) | undefined,
  ): Promise<void> {
    const pidfd = libc.pidfdOpen(this.pid);
    try {
      const master = libc.pidfdGetfd(pidfd, fd);
      libc.fcntl(master, F.SETFD, F.FD_CLOEXEC);
      if (onPty) onPty(master);
      else libc.close(master);
    } finally {
      libc.close(pidfd);
    }
    await writer.write(new Uint8Array([1])).catch(() => {});
  }

  /** Ends an unused init (it exits on end-of-file instead of a spec). */
  async discard(): Promise<void> {
    await this.child.stdin.close().catch(() => {});
    this.#closeWrite();
    await this.status;
    await this.ready.catch(() => {});
    if (this.#statusRead >= 0) {
      libc.close(this.#statusRead);
      this.#statusRead = -1;
    }
  }
}

/** One line from the status pipe, read a byte at a time (the init's `R` may follow it). */
async function readLine(fd: number): Promise<string | null> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  for (;;) {
    const n = await libc.readAsync(fd, one);
    if (n <= 0) return bytes.length ? new TextDecoder().decode(new Uint8Array(bytes)) : null;
    if (one[0] === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
    bytes.push(one[0]);
  }
}

const SIGNAL_NAMES: Record<number, Deno.Signal> = { 1: "SIGHUP", 2: "SIGINT", 9: "SIGKILL", 15: "SIGTERM" };

/** The end of a child that is ours but not Deno's (cloned by ctr-nsexec with CLONE_PARENT). */
async function waitForPid(pid: number): Promise<InitStatus> {
  for (;;) {
    const r = await libc.waitidAsync(P_PID, pid, WEXITED);
    if (!r) continue;
    if (r.code === CLD_EXITED) return { success: r.status === 0, code: r.status, signal: null };
    return { success: false, code: 128 + r.status, signal: SIGNAL_NAMES[r.status] ?? null };
  }
}
