/**
 * Container logs in Docker's json-file format: one JSON object per line,
 * `{"log":"hi\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`, stdout and
 * stderr kept apart, a timestamp per line. The supervisor writes them as output arrives, so
 * a container never waits for a reader; `logs` reads them back with `--since`, `--until`,
 * `--tail`, and `-f` follows the writer's live entries without gaps or repeats (each entry
 * knows its byte offset in the file).
 *
 * With `--log-opt max-size` the file is rotated as Docker's json-file driver does, keeping
 * `max-file` files in all (see `log_options.ts`); `logs` reads across them:
 *
 * ```text
 * containers/<id>/
 * ├── <id>-json.log      the current file
 * ├── <id>-json.log.1    the one before it
 * └── <id>-json.log.2    … up to max-file − 1 of them
 * ```
 *
 * @module
 */
import type { LogRotation } from "./log_options.ts";

/** One log line. */
export interface LogEntry {
  /** The text, with its newline when the line was complete. */
  log: string;
  stream: "stdout" | "stderr";
  /** RFC 3339 with nanoseconds, UTC. */
  time: string;
}

/** A live entry and where it starts in the file. */
export interface LiveEntry {
  entry: LogEntry;
  offset: number;
}

const MAX_LINE = 16 * 1024;
const encoder = new TextEncoder();

let lastNanos = 0n;

/**
 * The current time as RFC 3339 with nanoseconds (strictly increasing within the process, so
 * entries keep their order when sorted by time).
 *
 * @example
 * ```ts
 * nowNano(); // "2024-05-01T10:00:00.123456789Z"
 * ```
 */
export function nowNano(): string {
  let ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  if (ns <= lastNanos) ns = lastNanos + 1n;
  lastNanos = ns;
  return formatNanos(ns);
}

/** Formats nanoseconds since the epoch as RFC 3339 with 9 fraction digits. */
export function formatNanos(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

/**
 * Milliseconds since the epoch of an RFC 3339 time (fraction beyond ms dropped).
 *
 * @example
 * ```ts
 * timeMs("2024-05-01T10:00:00.123456789Z"); // 1714557600123
 * ```
 */
export function timeMs(time: string): number {
  return Date.parse(time.replace(/\.(\d{3})\d*Z$/, ".$1Z"));
}

/**
 * Parses `--since`/`--until`: RFC 3339 / ISO date, Unix seconds (`1714557600.5`), or a
 * duration back from now (`10m`, `1h30m`, `45s`). Returns ms since the epoch.
 *
 * @example
 * ```ts
 * parseSince("10m", Date.now()); // ten minutes ago
 * ```
 */
export function parseSince(value: string, now: number, flag: "since" | "until" = "since"): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };
    let total = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]];
    return now - total;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) {
    throw new TypeError(
      `invalid value for "${flag}": ${JSON.stringify(value)} is neither a time nor a duration`,
    );
  }
  return t;
}

/**
 * Appends a container's output to its log file, line by line.
 *
 * @example
 * ```ts
 * const log = await LogWriter.open(paths.log);
 * log.write("stdout", bytes);
 * await log.close();
 * ```
 */
export class LogWriter {
  #path: string;
  #rotation: LogRotation;
  #file: Deno.FsFile;
  #offset: number;
  #generation = 0;
  #rotated = 0;
  #committed: Promise<void> = Promise.resolve();
  #partial: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  #listeners = new Set<(e: LiveEntry) => void>();

  private constructor(path: string, rotation: LogRotation, file: Deno.FsFile, offset: number) {
    this.#path = path;
    this.#rotation = rotation;
    this.#file = file;
    this.#offset = offset;
  }

  /** Opens (creating) the log file for appending; `rotation` as `--log-opt max-size/max-file` ask. */
  static async open(path: string, rotation: LogRotation = { maxSize: -1, maxFile: 1 }): Promise<LogWriter> {
    const file = await Deno.open(path, { append: true, create: true, mode: 0o640 });
    const size = (await file.stat()).size;
    return new LogWriter(path, rotation, file, size);
  }

  /** Byte offset where the next entry will start (in the current file). */
  get offset(): number {
    return this.#offset;
  }

  /** Where the next entry will start: the file (counted in rotations since open) and the offset in it. */
  get position(): { generation: number; offset: number } {
    return { generation: this.#generation, offset: this.#offset };
  }

  /** Rotations carried out on disk since open (queued ones not yet). */
  get rotated(): number {
    return this.#rotated;
  }

  /** Calls `fn` with every entry from now on. Returns the unsubscribe function. */
  subscribe(fn: (e: LiveEntry) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Records a chunk of output. Complete lines are written now; a partial line waits for its end. */
  write(stream: "stdout" | "stderr", chunk: Uint8Array): void {
    let text = this.#partial[stream] + this.#decoders[stream].decode(chunk, { stream: true });
    const lines: string[] = [];
    for (;;) {
      const nl = text.indexOf("\n");
      if (nl === -1) break;
      lines.push(text.slice(0, nl + 1));
      text = text.slice(nl + 1);
    }
    while (text.length >= MAX_LINE) {
      lines.push(text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    this.#partial[stream] = text;
    for (const l of lines) this.#append({ log: l, stream, time: nowNano() });
  }

  /** Writes out partial lines (at the end of a stream). */
  flushPartial(stream?: "stdout" | "stderr"): void {
    for (const s of stream ? [stream] : (["stdout", "stderr"] as const)) {
      const rest = this.#partial[s] + this.#decoders[s].decode();
      this.#partial[s] = "";
      if (rest) this.#append({ log: rest, stream: s, time: nowNano() });
    }
  }

  #append(entry: LogEntry): void {
    const bytes = encoder.encode(JSON.stringify(entry) + "\n");
    // As Docker's json-file: a full file is rotated before the next entry goes in.
    if (this.#rotation.maxSize > 0 && this.#offset >= this.#rotation.maxSize) this.#rotate();
    const offset = this.#offset;
    this.#offset += bytes.length;
    this.#committed = this.#committed.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await this.#file.write(bytes.subarray(off));
    }).catch(() => {});
    for (const l of this.#listeners) l({ entry, offset });
  }

  /**
   * Starts a new file: `LOG.N-1` → `LOG.N` … `LOG` → `LOG.1`, the oldest beyond `max-file`
   * dropped (with `max-file=1` the file just starts afresh). Runs in the write queue, so
   * entries land in the file they were counted for.
   */
  #rotate(): void {
    this.#generation++;
    this.#offset = 0;
    const { maxFile } = this.#rotation;
    const path = this.#path;
    this.#committed = this.#committed.then(async () => {
      try {
        this.#file.close();
      } catch { /* closed */ }
      if (maxFile <= 1) await Deno.remove(path).catch(() => {});
      for (let i = maxFile - 1; i >= 1; i--) {
        await Deno.rename(i === 1 ? path : `${path}.${i - 1}`, `${path}.${i}`).catch(() => {});
      }
      this.#file = await Deno.open(path, { append: true, create: true, mode: 0o640 });
      this.#rotated++;
    }).catch(() => {});
  }

  /** Resolves when everything written so far is in the file. */
  flushed(): Promise<void> {
    return this.#committed;
  }

  /** Flushes partial lines and closes the file. */
  async close(): Promise<void> {
    this.flushPartial();
    await this.#committed;
    try {
      this.#file.close();
    } catch { /* closed */ }
  }
}

/** Filters for {@linkcode readLogs}. */
export interface LogReadOptions {
  /** Only entries at or after this time (ms since epoch). */
  since?: number;
  /** Only entries before this time (ms since epoch). */
  until?: number;
  /** Only the last N entries (after time filters). */
  tail?: number;
  /** Stop reading at this byte offset (used by follow, to hand over to live entries). */
  endOffset?: number;
  /**
   * With `endOffset`: the file it is an offset in, counted back from the current one (0: the
   * current file, 1: `LOG.1`, …) — the writer may have rotated since the offset was taken.
   * Newer files are not read.
   */
  endFile?: number;
}

/**
 * Reads the entries of a log file.
 *
 * @example
 * ```ts
 * for (const e of await readLogs(paths.log, { tail: 10 })) console.log(e.log);
 * ```
 */
export async function readLogs(path: string, options: LogReadOptions = {}): Promise<LogEntry[]> {
  // Rotated files first, oldest (highest number) first, then the current one.
  const last = options.endFile ?? 0;
  let count = 1;
  while (await Deno.lstat(`${path}.${count}`).then(() => true, () => false)) count++;
  const out: LogEntry[] = [];
  for (let i = count - 1; i >= last; i--) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(i === 0 ? path : `${path}.${i}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // rotated away meanwhile
      throw e;
    }
    if (i === last && options.endOffset !== undefined) bytes = bytes.subarray(0, options.endOffset);
    for (const line of new TextDecoder().decode(bytes).split("\n")) {
      if (!line) continue;
      let e: LogEntry;
      try {
        e = JSON.parse(line);
      } catch {
        continue; // a torn last line after a crash
      }
      if (!passes(e, options)) continue;
      out.push(e);
    }
  }
  return options.tail !== undefined && options.tail >= 0
    ? out.slice(Math.max(0, out.length - options.tail))
    : out;
}

/** Whether an entry passes the time filters. */
export function passes(e: LogEntry, options: LogReadOptions): boolean {
  if (options.since === undefined && options.until === undefined) return true;
  const t = timeMs(e.time);
  if (options.since !== undefined && t < options.since) return false;
  if (options.until !== undefined && t >= options.until) return false;
  return true;
}
