/**
 * Layer compression: detection by magic bytes, and streaming gzip/zstd (de)compression on
 * `node:zlib`, which measured faster here than `DecompressionStream` (Debian rootfs, 121 MB:
 * node:zlib gunzip ≈ 0.41 s, DecompressionStream ≈ 0.58 s, `zcat` ≈ 0.8 s; zstd decompress
 * ≈ 0.25 s). gzip level 1 compresses this data ≈ 2× faster than level 3 and 3× faster than the
 * default 6, for 20 % more bytes, so it is the default for writing.
 *
 * @module
 */
import zlib from "node:zlib";

/** Compression of a layer or archive. */
export type Compression = "gzip" | "zstd" | "none";

/**
 * Compression of a byte stream, from its first bytes. Throws for formats ctr does not read
 * (xz, bzip2), naming them.
 *
 * @example
 * ```ts
 * detectCompression(new Uint8Array([0x1f, 0x8b, 8])); // "gzip"
 * ```
 */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    return "zstd";
  }
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58) {
    throw new TypeError("xz-compressed archives are not supported (use gzip, zstd or plain tar)");
  }
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) {
    throw new TypeError("bzip2-compressed archives are not supported (use gzip, zstd or plain tar)");
  }
  return "none";
}

/** Output chunk size of the (de)compressors: large chunks mean fewer calls downstream. */
const CHUNK = 256 * 1024;

/**
 * A node:zlib decompressor for `compression`, or undefined for `none`.
 *
 * @example
 * ```ts
 * const z = createDecompressor("gzip");
 * ```
 */
export function createDecompressor(compression: Compression): zlib.Gunzip | zlib.ZstdDecompress | undefined {
  if (compression === "gzip") return zlib.createGunzip({ chunkSize: CHUNK });
  if (compression === "zstd") return zlib.createZstdDecompress({ chunkSize: CHUNK });
  return undefined;
}

/** Options for {@linkcode compressStream}. */
export interface CompressOptions {
  /** gzip 1–9 (default 1: fastest), zstd 1–19 (default 3). */
  level?: number;
}

/**
 * Pipes a web stream through a node:zlib transform, with back-pressure both ways.
 */
function throughNode(
  source: ReadableStream<Uint8Array>,
  z: zlib.Gunzip | zlib.Gzip | zlib.ZstdCompress | zlib.ZstdDecompress,
  what: string,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let controllerRef: ReadableStreamDefaultController<Uint8Array>;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controllerRef = controller;
      z.on("data", (c: Uint8Array) => {
        controller.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) z.pause();
      });
      z.on("end", () => controller.close());
      z.on("error", (e: Error) => {
        controller.error(new TypeError(`Invalid ${what} data: ${e.message}`));
        reader.cancel().catch(() => {});
      });
      z.pause();
      (async () => {
        try {
          for (;;) {
            const r = await reader.read();
            if (r.done) break;
            if (!z.write(r.value)) await new Promise((resolve) => z.once("drain", resolve));
          }
          z.end();
        } catch (e) {
          z.destroy();
          try {
            controllerRef.error(e);
          } catch { /* already closed */ }
        }
      })();
    },
    pull() {
      z.resume();
    },
    cancel(reason) {
      z.destroy();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 4 });
}

/**
 * Reads the first bytes of `source` to detect its compression, and returns the decompressed
 * stream with the detected compression.
 *
 * @example
 * ```ts
 * const { stream, compression } = await decompressStream(file.readable);
 * ```
 */
export async function decompressStream(
  source: ReadableStream<Uint8Array>,
): Promise<{ stream: ReadableStream<Uint8Array>; compression: Compression }> {
  const reader = source.getReader();
  const head: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < 6) {
    const r = await reader.read();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    have += r.value.length;
  }
  const first = head.length === 1 ? head[0] : concat(head);
  let compression: Compression;
  try {
    compression = detectCompression(first);
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
  // Re-assemble: the bytes already read, then the rest of the source.
  let replayed = false;
  const rest = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!replayed) {
        replayed = true;
        if (first.length) controller.enqueue(first);
        if (done) controller.close();
        return;
      }
      const r = await reader.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  const z = createDecompressor(compression);
  return { stream: z ? throughNode(rest, z, compression) : rest, compression };
}

/**
 * Compresses a stream with gzip or zstd (`none` returns it unchanged).
 *
 * @example
 * ```ts
 * const gz = compressStream(tar.readable, "gzip");
 * ```
 */
export function compressStream(
  source: ReadableStream<Uint8Array>,
  compression: Compression,
  options: CompressOptions = {},
): ReadableStream<Uint8Array> {
  if (compression === "none") return source;
  const z = compression === "gzip"
    ? zlib.createGzip({ level: options.level ?? 1, chunkSize: CHUNK })
    : zlib.createZstdCompress({
      chunkSize: CHUNK,
      params: { [zlib.constants.ZSTD_c_compressionLevel]: options.level ?? 3 },
    });
  return throughNode(source, z, compression);
}

function concat(parts: Uint8Array[]): Uint8Array {
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
