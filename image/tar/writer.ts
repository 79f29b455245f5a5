/**
 * Streaming tar writing onto a web `ReadableStream`. The output is deterministic: the same
 * entries in the same order always give the same bytes (PAX records sorted, fixed PAX header
 * names, no timestamps of the writing itself).
 *
 * @module
 */
import { BLOCK, encodeHeader, type EncodeOptions, type TarHeader } from "./header.ts";

/** Data for an entry: bytes, a stream, or any async iterable of chunks. */
export type TarBody = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Options for {@linkcode TarWriter}. */
export interface TarWriterOptions extends EncodeOptions {
  /** Bytes to buffer before `add` waits for the reader (default 1 MiB). */
  highWaterMark?: number;
}

const ZEROS = new Uint8Array(BLOCK * 2);

/**
 * Writes entries into {@linkcode TarWriter.readable}. Call `add` for each entry (awaiting
 * each), then `close`.
 *
 * @example
 * ```ts
 * const tar = new TarWriter();
 * const done = Deno.writeFile("out.tar", tar.readable);
 * await tar.add({ name: "hello.txt", type: "file", mode: 0o644, uid: 0, gid: 0, size: 5, mtime: 0 },
 *   new TextEncoder().encode("hello"));
 * await tar.close();
 * await done;
 * ```
 */
export class TarWriter {
  /** The archive bytes. */
  readonly readable: ReadableStream<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #options: EncodeOptions;
  #bytes = 0;

  constructor(options: TarWriterOptions = {}) {
    const hwm = options.highWaterMark ?? 1 << 20;
    const ts = new TransformStream<Uint8Array, Uint8Array>(
      undefined,
      { highWaterMark: hwm, size: (c) => c.length },
      { highWaterMark: 0, size: (c) => c.length },
    );
    this.readable = ts.readable;
    this.#writer = ts.writable.getWriter();
    this.#options = options;
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.#bytes;
  }

  async #write(chunk: Uint8Array): Promise<void> {
    this.#bytes += chunk.length;
    await this.#writer.write(chunk);
  }

  /**
   * Adds one entry. For regular files `body` must hold exactly `header.size` bytes; other
   * types take no body.
   */
  async add(header: TarHeader, body?: TarBody): Promise<void> {
    await this.#write(encodeHeader(header, this.#options));
    if (header.type !== "file") return;
    let written = 0;
    if (body instanceof Uint8Array) {
      if (body.length) await this.#write(body);
      written = body.length;
    } else if (body) {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        if (written + chunk.length > header.size) {
          throw new RangeError(`Tar entry ${header.name} has more data than its size ${header.size}`);
        }
        if (chunk.length) await this.#write(chunk);
        written += chunk.length;
      }
    }
    if (written !== header.size) {
      throw new RangeError(
        `Tar entry ${header.name} has ${written} bytes of data, header says ${header.size}`,
      );
    }
    const pad = (BLOCK - (written % BLOCK)) % BLOCK;
    if (pad) await this.#write(ZEROS.subarray(0, pad));
  }

  /** Writes the end-of-archive marker and closes the stream. */
  async close(): Promise<void> {
    await this.#write(ZEROS);
    await this.#writer.close();
  }

  /** Aborts the stream with an error (the reader sees it). */
  async abort(reason?: unknown): Promise<void> {
    await this.#writer.abort(reason);
  }
}

/**
 * Encodes a small archive in memory.
 *
 * @example
 * ```ts
 * const bytes = encodeTar([
 *   { header: { name: "d/", type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 } },
 *   { header: { name: "d/f", type: "file", mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 0 },
 *     data: new Uint8Array([65]) },
 * ]);
 * ```
 */
export function encodeTar(
  entries: { header: TarHeader; data?: Uint8Array }[],
  options: EncodeOptions = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { header, data } of entries) {
    const size = header.type === "file" ? (data?.length ?? 0) : 0;
    if (header.type === "file" && size !== header.size) {
      throw new RangeError(`Tar entry ${header.name} has ${size} bytes of data, header says ${header.size}`);
    }
    parts.push(encodeHeader(header, options));
    if (size) {
      parts.push(data!);
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad) parts.push(ZEROS.subarray(0, pad));
    }
  }
  parts.push(ZEROS);
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
