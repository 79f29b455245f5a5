/**
 * The wire protocol between the CLI and the supervisor, over a unix socket.
 *
 * A connection carries one request: a JSON line (`{"op": …}`), answered by one JSON line
 * (`{"ok": true, …}` or `{"ok": false, "error": {…}}`). Streaming operations (attach, run,
 * exec, logs -f) then switch the connection to frames:
 *
 * ```text
 * [type: u8][length: u32 big-endian][payload]
 * ```
 *
 * with the types of {@linkcode Frame}. The socket path is `<root>/run/ctr.sock`; when that is
 * longer than a unix socket path may be (108 bytes), it is reached through
 * `/proc/self/fd/<dir fd>/ctr.sock`.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { O } from "../ffi/constants.ts";

/** Frame types. */
export const Frame = {
  /** Client → server: bytes for the container's stdin. */
  STDIN: 0,
  /** Server → client: the container's stdout (or tty output). */
  STDOUT: 1,
  /** Server → client: the container's stderr. */
  STDERR: 2,
  /** Server → client: the process ended; JSON `{ "code": n }`. Last frame. */
  EXIT: 3,
  /** Client → server: terminal size, JSON `{ "rows": n, "cols": n }`. */
  RESIZE: 4,
  /** Client → server: end of stdin. */
  STDIN_EOF: 5,
  /** Server → client: the process started (after an attached run/start/exec); JSON `{ "id": … }`. */
  STARTED: 6,
  /** Server → client: failure; JSON `{ "code": n, "message": … }`. Last frame. */
  ERROR: 7,
  /** Client → server: forward a signal (sig-proxy), JSON `{ "signal": n }`. */
  SIGNAL: 8,
} as const;

/** The error shape in a failed response. */
export interface WireError {
  /** `NotFound`, `Conflict`, `Usage`, `Start` (with `code`) or `Internal`. */
  kind: string;
  message: string;
  /** Exit code for `Start` failures (125/126/127). */
  code?: number;
}

/** Where a state root's supervisor listens. */
export function socketPath(root: string): string {
  return `${root}/run/ctr.sock`;
}

const MAX_SUN_PATH = 107;

/**
 * A path for bind/connect that fits in sun_path: the real one when short enough, else one
 * through a directory fd (kept open for the process's life).
 *
 * @example
 * ```ts
 * const conn = await Deno.connect({ transport: "unix", path: reachableSocketPath(socketPath(root)) });
 * ```
 */
export function reachableSocketPath(path: string): string {
  if (new TextEncoder().encode(path).length <= MAX_SUN_PATH) return path;
  const dir = path.slice(0, path.lastIndexOf("/"));
  const fd = dirFds.get(dir) ?? libc.open(dir, O.RDONLY | O.DIRECTORY | O.CLOEXEC);
  dirFds.set(dir, fd);
  return `/proc/self/fd/${fd}/${path.slice(path.lastIndexOf("/") + 1)}`;
}

const dirFds = new Map<string, number>();

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes one frame.
 *
 * @example
 * ```ts
 * await conn.write(encodeFrame(Frame.STDOUT, bytes));
 * ```
 */
export function encodeFrame(
  type: number,
  payload: Uint8Array | string | object = new Uint8Array(),
): Uint8Array<ArrayBuffer> {
  const body = payload instanceof Uint8Array
    ? payload
    : encoder.encode(typeof payload === "string" ? payload : JSON.stringify(payload));
  const out = new Uint8Array(5 + body.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

/**
 * Buffered reading of a connection: JSON lines first, then frames.
 *
 * @example
 * ```ts
 * const reader = new ConnReader(conn);
 * const req = await reader.readJson();
 * for await (const f of reader.frames()) { … }
 * ```
 */
export class ConnReader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #eof = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.#conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const merged = new Uint8Array(this.#buf.length + n);
    merged.set(this.#buf);
    merged.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = merged;
    return true;
  }

  /** The next JSON line, or null at end of stream. */
  async readJson<T = Record<string, unknown>>(): Promise<T | null> {
    for (;;) {
      const nl = this.#buf.indexOf(10);
      if (nl !== -1) {
        const line = decoder.decode(this.#buf.subarray(0, nl));
        this.#buf = this.#buf.slice(nl + 1);
        return JSON.parse(line) as T;
      }
      if (!(await this.#fill())) return null;
    }
  }

  /** The next frame, or null at end of stream. */
  async readFrame(): Promise<{ type: number; payload: Uint8Array } | null> {
    while (this.#buf.length < 5) if (!(await this.#fill())) return null;
    const len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(1);
    while (this.#buf.length < 5 + len) if (!(await this.#fill())) return null;
    const type = this.#buf[0];
    const payload = this.#buf.slice(5, 5 + len);
    this.#buf = this.#buf.slice(5 + len);
    return { type, payload };
  }

  /** Frames until end of stream. */
  async *frames(): AsyncGenerator<{ type: number; payload: Uint8Array }> {
    for (;;) {
      const f = await this.readFrame();
      if (!f) return;
      yield f;
    }
  }
}

/** Parses a JSON frame payload. */
export function framePayload<T>(payload: Uint8Array): T {
  return JSON.parse(decoder.decode(payload)) as T;
}

/** Writes all of `data` to `conn`. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}
