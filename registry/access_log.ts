/**
 * Structured logs on stderr: one JSON object per line — an access-log line per request
 * (`"msg":"request"`) and the server's own events. Lines are buffered and written in batches
 * (at most every 50 ms or 64 KiB) so that logging stays cheap at tens of thousands of
 * requests per second.
 *
 * @module
 */

const FLUSH_MS = 50;
const FLUSH_BYTES = 64 * 1024;

/** Something that takes log lines. */
export interface LogSink {
  write(bytes: Uint8Array): void;
}

/**
 * A buffered JSON-lines logger.
 *
 * @example
 * ```ts
 * const log = new JsonLog();
 * log.info("listening", { addr: "127.0.0.1:5000" });
 * log.flush();
 * ```
 */
export class JsonLog {
  #parts: string[] = [];
  #size = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sink: LogSink;
  #enc = new TextEncoder();

  constructor(sink: LogSink = { write: (b) => writeAll(b) }) {
    this.#sink = sink;
  }

  /** Logs an object as one line (a `time` field is added first). */
  line(fields: Record<string, unknown>): void {
    const s = JSON.stringify({ time: new Date().toISOString(), ...fields }) + "\n";
    this.#parts.push(s);
    this.#size += s.length;
    if (this.#size >= FLUSH_BYTES) this.flush();
    else if (this.#timer === undefined) {
      const timer = setTimeout(() => this.flush(), FLUSH_MS);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** An informational event. */
  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.line({ level: "info", msg, ...fields });
  }

  /** An error event. */
  error(msg: string, fields: Record<string, unknown> = {}): void {
    this.line({ level: "error", msg, ...fields });
  }

  /** Writes everything buffered. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (!this.#parts.length) return;
    const text = this.#parts.join("");
    this.#parts = [];
    this.#size = 0;
    try {
      this.#sink.write(this.#enc.encode(text));
    } catch {
      // stderr closed: nothing sensible to do with a log line.
    }
  }
}

function writeAll(bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}
