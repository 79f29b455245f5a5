/**
 * The CLI's side of the supervisor: find or start it, send a request, get the answer or a
 * stream. A missing supervisor is started on demand (the monitor, detached into its own
 * session, which starts the supervisor), once, under a lock, so concurrent commands agree.
 *
 * @module
 */
import { ConflictError, ExitCodeError, NotFoundError } from "../errors.ts";
import { monitorAlive } from "./monitor.ts";
import { ConnReader, reachableSocketPath, socketPath, type WireError, writeAll } from "./protocol.ts";

/** How long a fresh supervisor may take to come up. */
const START_TIMEOUT_MS = 60_000;

function monitorCommand(root: string): { command: string; args: string[] } {
  if (Deno.build.standalone) return { command: Deno.execPath(), args: ["__monitor", root] };
  const main = new URL("./monitor_main.ts", import.meta.url).pathname;
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-all",
      "--unstable-worker-options",
      "--no-config",
      "--no-lock",
      main,
      root,
    ],
  };
}

async function tryConnect(root: string): Promise<Deno.UnixConn | undefined> {
  try {
    return await Deno.connect({ transport: "unix", path: reachableSocketPath(socketPath(root)) });
  } catch {
    return undefined;
  }
}

async function logTail(root: string): Promise<string> {
  try {
    const text = await Deno.readTextFile(`${root}/run/supervisor.log`);
    return text.trim().split("\n").slice(-5).join("\n");
  } catch {
    return "";
  }
}

/**
 * A connection to `root`'s supervisor, starting it when nobody answers.
 *
 * @example
 * ```ts
 * const conn = await connectSupervisor("/var/lib/ctr");
 * ```
 */
export async function connectSupervisor(root: string): Promise<Deno.UnixConn> {
  const direct = await tryConnect(root);
  if (direct) return direct;
  await Deno.mkdir(`${root}/run`, { recursive: true });
  const lockFile = await Deno.open(`${root}/run/start.lock`, { create: true, write: true });
  try {
    await lockFile.lock(true);
    const again = await tryConnect(root);
    if (again) return again;
    if (monitorAlive(root)) {
      // A monitor is (re)starting its supervisor: wait for it rather than start a second one.
      const deadline = Date.now() + START_TIMEOUT_MS;
      for (let delay = 10; Date.now() < deadline; delay = Math.min(delay * 2, 200)) {
        await new Promise((r) => setTimeout(r, delay));
        const conn = await tryConnect(root);
        if (conn) return conn;
        if (!monitorAlive(root)) break;
      }
      if (monitorAlive(root)) {
        throw new Error(`The ctr supervisor does not answer; see ${root}/run/supervisor.log`);
      }
    }
    const { command, args } = monitorCommand(root);
    const child = new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).spawn();
    child.unref();
    let ready = false;
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, START_TIMEOUT_MS);
    try {
      let text = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        if (text.includes("ready\n")) {
          ready = true;
          break;
        }
      }
    } finally {
      clearTimeout(timer);
    }
    if (!ready) {
      const tail = await logTail(root);
      throw new Error(`Cannot start the ctr supervisor${tail ? `:\n${tail}` : ""}`);
    }
    const conn = await tryConnect(root);
    if (!conn) throw new Error("The ctr supervisor started but does not answer");
    return conn;
  } finally {
    try {
      await lockFile.unlock();
    } catch { /* closed */ }
    lockFile.close();
  }
}

/** Turns a wire error into the error class the CLI reports. */
export function errorFrom(e: WireError): Error {
  switch (e.kind) {
    case "NotFound":
      return new NotFoundError(e.message);
    case "Conflict":
      return new ConflictError(e.message);
    case "Usage":
      return new TypeError(e.message);
    case "Start":
      return new ExitCodeError(e.code ?? 125, e.message);
    default:
      return new Error(e.message);
  }
}

/** An open request whose connection continues as a stream. */
export interface StreamSession {
  /** The first answer line. */
  response: Record<string, unknown>;
  conn: Deno.UnixConn;
  reader: ConnReader;
}

/**
 * Sends a request and returns its answer; throws the matching error class on failure.
 *
 * @example
 * ```ts
 * const { containers } = await request(root, { op: "list" });
 * ```
 */
export async function request<T = Record<string, unknown>>(
  root: string,
  body: Record<string, unknown>,
): Promise<T> {
  const s = await openStream(root, body);
  s.conn.close();
  return s.response as T;
}

/**
 * Sends a request whose answer continues as frames (attach, logs, exec).
 *
 * @example
 * ```ts
 * const s = await openStream(root, { op: "logs", ref: "web", follow: true });
 * for await (const f of s.reader.frames()) { … }
 * ```
 */
export async function openStream(root: string, body: Record<string, unknown>): Promise<StreamSession> {
  const conn = await connectSupervisor(root);
  await writeAll(conn, new TextEncoder().encode(JSON.stringify(body) + "\n"));
  const reader = new ConnReader(conn);
  const response = await reader.readJson<Record<string, unknown>>();
  if (!response) {
    conn.close();
    throw new Error("The ctr supervisor closed the connection");
  }
  if (response.ok !== true) {
    conn.close();
    throw errorFrom(response.error as WireError);
  }
  return { response, conn, reader };
}

/** Whether a supervisor answers for `root` (without starting one). */
export async function supervisorRunning(root: string): Promise<boolean> {
  const c = await tryConnect(root);
  c?.close();
  return c !== undefined;
}
