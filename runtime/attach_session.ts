/**
 * The terminal side of an attached container or exec: copies frames to stdout/stderr,
 * stdin to the container, and — with a tty — raw mode, window size (initial and on
 * SIGWINCH), and the detach keys (default Ctrl-P Ctrl-Q) that leave the container running.
 * Without a tty, the signals the CLI receives are forwarded to the container (Docker's
 * `--sig-proxy`, on by default; with a tty, Ctrl-C and friends travel through the terminal).
 *
 * @module
 */
import { ExitCodeError } from "../errors.ts";
import { libc } from "../ffi/libc.ts";
import { SIGNALS } from "../ffi/constants.ts";
import { type ConnReader, encodeFrame, Frame, framePayload, writeAll } from "./protocol.ts";

/**
 * What `--sig-proxy` forwards: every signal a process can catch, as Docker's CLI does, but
 * those about the CLI's own plumbing (SIGCHLD, SIGPIPE, SIGURG, SIGWINCH — the terminal size
 * goes as a resize) and those no one can catch (SIGKILL, SIGSTOP) or that mean a crash.
 */
export const PROXIED_SIGNALS: Deno.Signal[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGTRAP",
  "SIGABRT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCONT",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/** The open connection of an attach, run, start -a or exec request. */
export interface StreamSessionLike {
  conn: Deno.Conn;
  reader: ConnReader;
}

/**
 * Parses `--detach-keys` ("ctrl-p,ctrl-q", "a", "ctrl-@") into bytes.
 *
 * @example
 * ```ts
 * parseDetachKeys("ctrl-p,ctrl-q"); // Uint8Array [16, 17]
 * ```
 */
export function parseDetachKeys(spec: string): Uint8Array {
  if (spec === "") return new Uint8Array();
  const out: number[] = [];
  for (const k of spec.split(",")) {
    if (k.length === 1) out.push(k.charCodeAt(0));
    else if (/^ctrl-[a-z@\[\\\]^_]$/.test(k)) {
      const c = k.slice(5);
      out.push(c >= "a" && c <= "z" ? c.charCodeAt(0) - 96 : [0, 27, 28, 29, 30, 31]["@[\\]^_".indexOf(c)]);
    } else throw new TypeError(`Invalid detach keys (${k}) provided`);
  }
  return new Uint8Array(out);
}

/** Options of {@linkcode runAttachSession}. */
export interface AttachSessionOptions {
  /** Forward our stdin. */
  stdin: boolean;
  /** The container has a tty: raw mode, resize, detach keys. */
  tty: boolean;
  detachKeys: Uint8Array;
  /** Forward the signals we receive to the container (`--sig-proxy`), when there is no tty. */
  sigProxy: boolean;
  /** Start forwarding stdin only after the STARTED frame (run / start -a). */
  waitForStart: boolean;
}

/**
 * Runs an attach session to its end; returns the exit code (the container's, or 0 when
 * detached). Throws `ExitCodeError` for an ERROR frame (a failed start: 125/126/127).
 *
 * @example
 * ```ts
 * const code = await runAttachSession(session, { stdin: true, tty: true, … });
 * ```
 */
export async function runAttachSession(s: StreamSessionLike, o: AttachSessionOptions): Promise<number> {
  const stdinIsTty = Deno.stdin.isTerminal();
  const raw = o.tty && o.stdin && stdinIsTty;
  let detached = false;
  let savedTerminal: Uint8Array<ArrayBuffer> | undefined;
  const send = (type: number, payload: Uint8Array | object = new Uint8Array()) =>
    writeAll(s.conn, encodeFrame(type, payload)).catch(() => {});

  // Docker's raw mode (cfmakeraw: output processing off too, unlike Deno's setRaw), before
  // any of the container's output arrives.
  if (raw) savedTerminal = libc.makeRawTerminal(0);
  const cleanups: (() => void)[] = [];
  if (o.tty && Deno.stdout.isTerminal()) {
    const resize = () => {
      try {
        const { rows, columns } = Deno.consoleSize();
        send(Frame.RESIZE, { rows, cols: columns });
      } catch { /* not a terminal */ }
    };
    resize();
    Deno.addSignalListener("SIGWINCH", resize);
    cleanups.push(() => Deno.removeSignalListener("SIGWINCH", resize));
  }
  if (!o.tty && o.sigProxy) {
    for (const sig of PROXIED_SIGNALS) {
      const fwd = () => send(Frame.SIGNAL, { signal: SIGNALS[sig] });
      try {
        Deno.addSignalListener(sig, fwd);
      } catch {
        continue; // a signal this platform does not let us catch
      }
      cleanups.push(() => Deno.removeSignalListener(sig, fwd));
    }
  }

  let started!: () => void;
  const startedP = new Promise<void>((r) => started = r);
  if (!o.waitForStart) started();

  let stopInput = () => {};
  if (o.stdin) {
    const pumpStdin = async () => {
      await startedP;
      const reader = Deno.stdin.readable.getReader();
      stopInput = () => {
        reader.cancel().catch(() => {});
      };
      let matched = 0;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done || !value) break;
          if (o.tty && o.detachKeys.length) {
            // Look for the detach sequence; bytes of a partial match are held back.
            let out: number[] = [];
            for (const b of value) {
              if (b === o.detachKeys[matched]) {
                matched++;
                if (matched === o.detachKeys.length) {
                  detached = true;
                  break;
                }
              } else {
                out.push(...o.detachKeys.subarray(0, matched));
                matched = 0;
                if (b === o.detachKeys[0]) matched = 1;
                else out.push(b);
              }
            }
            if (out.length) await send(Frame.STDIN, new Uint8Array(out));
            out = [];
            if (detached) {
              s.conn.close();
              break;
            }
          } else {
            await send(Frame.STDIN, value);
          }
        }
      } catch { /* cancelled */ }
      if (!detached) await send(Frame.STDIN_EOF);
    };
    pumpStdin();
  }

  let code = 0;
  let error: { code: number; message: string } | undefined;
  try {
    for await (const f of s.reader.frames()) {
      if (f.type === Frame.STDOUT) await Deno.stdout.write(f.payload).catch(() => 0);
      else if (f.type === Frame.STDERR) await Deno.stderr.write(f.payload).catch(() => 0);
      else if (f.type === Frame.STARTED) started();
      else if (f.type === Frame.EXIT) {
        code = framePayload<{ code: number }>(f.payload).code;
        break;
      } else if (f.type === Frame.ERROR) {
        error = framePayload(f.payload);
        break;
      }
    }
  } finally {
    for (const c of cleanups) c();
    if (savedTerminal) {
      try {
        libc.restoreTerminal(0, savedTerminal);
      } catch { /* not a tty any more */ }
    }
    stopInput();
    try {
      s.conn.close();
    } catch { /* closed */ }
  }
  if (error) throw new ExitCodeError(error.code, error.message);
  if (detached) return 0;
  return code;
}
