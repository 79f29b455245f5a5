/**
 * The content-addressed blob store (DESIGN.md §6). Every manifest, config and layer is kept
 * once, under its digest:
 *
 * ```text
 * <root>/blobs/
 * ├── sha256/<hex>           committed blobs, never modified after the rename
 * ├── sha512/<hex>
 * └── ingest/                writes in flight
 *     ├── <random>           a plain write
 *     └── sha256-<hex>       a resumable write of a known digest (pull resumes it)
 * ```
 *
 * A write streams into `ingest/`, is hashed while it streams, is fsynced, and only then is
 * renamed to its digest (and the directory fsynced). A write killed half-way leaves at most a
 * file in `ingest/`, never a wrong blob under a digest.
 *
 * @module
 */
import { DigestMismatchError, NotFoundError } from "../errors.ts";
import { Hasher, parseDigest } from "./digest.ts";

/** Result of storing a blob. */
export interface PutResult {
  digest: string;
  size: number;
}

/** Options for {@linkcode ContentStore.writer} and {@linkcode ContentStore.put}. */
export interface WriteOptions {
  /** The digest the content must have; a mismatch aborts the write. */
  expected?: string;
  /** The size the content must have. */
  expectedSize?: number;
  /**
   * Keep partial data under a name derived from `expected` so that a later writer for the same
   * digest continues where this one stopped (requires `expected`).
   */
  resumable?: boolean;
}

/**
 * One blob being written. Call {@linkcode BlobWriter.commit} or {@linkcode BlobWriter.abort}.
 */
export class BlobWriter {
  #file: Deno.FsFile;
  #tmp: string;
  #store: ContentStore;
  #hasher: Hasher;
  #options: WriteOptions;
  #done = false;

  /** @internal Use {@linkcode ContentStore.writer}. */
  constructor(store: ContentStore, file: Deno.FsFile, tmp: string, hasher: Hasher, options: WriteOptions) {
    this.#store = store;
    this.#file = file;
    this.#tmp = tmp;
    this.#hasher = hasher;
    this.#options = options;
  }

  /** Bytes written so far (including bytes recovered from an earlier interrupted write). */
  get offset(): number {
    return this.#hasher.size;
  }

  /** Appends a chunk. */
  async write(chunk: Uint8Array): Promise<void> {
    this.#hasher.update(chunk);
    let off = 0;
    try {
      while (off < chunk.length) off += await this.#file.write(chunk.subarray(off));
    } catch (e) {
      // Deno's message (e.g. ENOSPC) does not say which file: name where the blob was going.
      throw new Error(`Cannot write blob to "${this.#tmp}": ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Verifies, fsyncs and moves the blob under its digest. Throws
   * {@linkcode DigestMismatchError} (and removes the data) when it does not match `expected`.
   */
  async commit(): Promise<PutResult> {
    if (this.#done) throw new Error("Blob writer already closed");
    this.#done = true;
    const size = this.#hasher.size;
    const digest = this.#hasher.digest();
    const { expected, expectedSize } = this.#options;
    try {
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new RangeError(
          `Size mismatch for ${expected ?? digest}: expected ${expectedSize} bytes, got ${size}`,
        );
      }
      if (expected !== undefined && expected !== digest) throw new DigestMismatchError(expected, digest);
      await this.#file.sync();
    } catch (e) {
      this.#file.close();
      await Deno.remove(this.#tmp).catch(() => {});
      throw e;
    }
    const final = this.#store.path(digest);
    try {
      try {
        await Deno.rename(this.#tmp, final);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        await Deno.mkdir(final.slice(0, final.lastIndexOf("/")), { recursive: true });
        await Deno.rename(this.#tmp, final);
      }
    } finally {
      // Closing releases a resumable write's lock: only after the rename, so that a writer
      // waiting for the same digest then finds the blob committed — not a complete ingest
      // file that it would commit a second time, racing this rename.
      this.#file.close();
    }
    await syncDir(final.slice(0, final.lastIndexOf("/")));

    return { digest, size };
  }

  /** Discards the write. A resumable write keeps its partial data unless `discard` is set. */
  async abort(discard = !this.#options.resumable): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#file.close();
    if (discard) await Deno.remove(this.#tmp).catch(() => {});
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    d.close();
  }
}

/**
 * Blobs by digest under `<root>/blobs`.
 *
 * @example
 * ```ts
 * const store = new ContentStore("/var/lib/ctr");
 * const { digest } = await store.put(new TextEncoder().encode("hello"));
 * const bytes = await store.readBytes(digest);
 * ```
 */
export class ContentStore {
  /** The `blobs` directory. */
  readonly dir: string;

  constructor(root: string) {
    this.dir = `${root}/blobs`;
  }

  /** Where the blob with `digest` lives (whether or not it exists). Validates the digest. */
  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return `${this.dir}/${algorithm}/${hex}`;
  }

  /** Whether the blob is present. */
  async has(digest: string): Promise<boolean> {
    try {
      await Deno.lstat(this.path(digest));
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }

  /** Size of the blob in bytes, or undefined if absent. */
  async size(digest: string): Promise<number | undefined> {
    try {
      return (await Deno.lstat(this.path(digest))).size;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  /**
   * Starts writing a blob. With `resumable` and `expected`, continues an earlier interrupted
   * write of the same digest (its bytes are re-hashed; see {@linkcode BlobWriter.offset}).
   */
  async writer(options: WriteOptions = {}): Promise<BlobWriter> {
    const ingest = `${this.dir}/ingest`;
    await Deno.mkdir(ingest, { recursive: true });
    const algorithm = options.expected ? parseDigest(options.expected).algorithm : "sha256";
    const hasher = new Hasher(algorithm);
    if (options.resumable && options.expected) {
      const { hex } = parseDigest(options.expected);
      const tmp = `${ingest}/${algorithm}-${hex}`;
      const file = await Deno.open(tmp, { read: true, write: true, create: true });
      // One writer per digest at a time: a second process waits here, and then usually
      // finds the blob committed.
      await file.lock(true);
      const buf = new Uint8Array(1 << 20);
      for (;;) {
        const n = await file.read(buf);
        if (n === null) break;
        hasher.update(buf.subarray(0, n));
      }
      return new BlobWriter(this, file, tmp, hasher, options);
    }
    for (;;) {
      const tmp = `${ingest}/${crypto.randomUUID()}`;
      const file = await Deno.open(tmp, { write: true, createNew: true });
      // Held until commit or abort: an unlocked plain write belongs to a dead process, and
      // cleanIngest removes it. It may have done so between the open and the lock; then the
      // file is unlinked (no links left) and we start again under a new name.
      await file.lock(true);
      if (((await file.stat()).nlink ?? 1) > 0) return new BlobWriter(this, file, tmp, hasher, options);
      file.close();
    }
  }

  /**
   * Stores bytes or a stream. Returns the digest and size. With `expected`, a mismatch throws
   * {@linkcode DigestMismatchError} and nothing is kept.
   */
  async put(
    source: Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<PutResult> {
    if (options.expected && !options.resumable && await this.has(options.expected)) {
      // Already stored: drain nothing, trust the committed blob (it was verified on commit).
      if (source instanceof ReadableStream) await source.cancel().catch(() => {});
      return { digest: options.expected, size: (await this.size(options.expected))! };
    }
    const w = await this.writer(options);
    try {
      if (source instanceof Uint8Array) await w.write(source);
      else for await (const chunk of source) await w.write(chunk);
      return await w.commit();
    } catch (e) {
      await w.abort(true);
      throw e;
    }
  }

  /** Opens a blob for reading. Throws {@linkcode NotFoundError} when absent. */
  async open(digest: string): Promise<Deno.FsFile> {
    try {
      return await Deno.open(this.path(digest), { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new NotFoundError(`Blob not found: ${digest}`);
      throw e;
    }
  }

  /** The whole blob; with `verify`, re-hashes it and throws on mismatch. */
  async readBytes(digest: string, options: { verify?: boolean } = {}): Promise<Uint8Array<ArrayBuffer>> {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await Deno.readFile(this.path(digest));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new NotFoundError(`Blob not found: ${digest}`);
      throw e;
    }
    if (options.verify) {
      const h = new Hasher(parseDigest(digest).algorithm);
      h.update(bytes);
      const actual = h.digest();
      if (actual !== digest) throw new DigestMismatchError(digest, actual, "stored blob");
    }
    return bytes;
  }

  /** A blob parsed as JSON. */
  async readJson<T = unknown>(digest: string, options: { verify?: boolean } = {}): Promise<T> {
    return JSON.parse(new TextDecoder().decode(await this.readBytes(digest, options))) as T;
  }

  /** Re-hashes a stored blob; true when it matches its name. */
  async verify(digest: string): Promise<boolean> {
    const file = await this.open(digest);
    const h = new Hasher(parseDigest(digest).algorithm);
    for await (const chunk of file.readable) h.update(chunk);
    return h.digest() === digest;
  }

  /** Removes a blob. Returns false if it was not there. */
  async delete(digest: string): Promise<boolean> {
    try {
      await Deno.remove(this.path(digest));
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }

  /** Every committed blob's digest. */
  async *list(): AsyncGenerator<string> {
    for (const algorithm of ["sha256", "sha512"]) {
      try {
        for await (const e of Deno.readDir(`${this.dir}/${algorithm}`)) {
          if (e.isFile) yield `${algorithm}:${e.name}`;
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }

  /**
   * Removes what killed processes left in `ingest/`: every plain write no live writer holds
   * (it can never be resumed), and resumable writes (`sha256-<hex>`, kept so that the next pull
   * continues them) older than `maxAgeMs` that no writer holds either.
   */
  async cleanIngest(maxAgeMs = 24 * 3600_000): Promise<number> {
    let removed = 0;
    const cutoff = Date.now() - maxAgeMs;
    try {
      for await (const e of Deno.readDir(`${this.dir}/ingest`)) {
        const p = `${this.dir}/ingest/${e.name}`;
        const st = await Deno.lstat(p).catch(() => null);
        if (!st) continue;
        const resumable = /^[a-z0-9]+-[a-f0-9]+$/.test(e.name);
        if (resumable && (st.mtime?.getTime() ?? 0) >= cutoff) continue;
        let file: Deno.FsFile | undefined;
        try {
          file = await Deno.open(p, { write: true });
          // A live writer holds its file locked; only dead ones are removed.
          if (!await file.tryLock(true)) continue;
          await Deno.remove(p);
          removed++;
        } catch {
          // Gone meanwhile, or not ours to open: leave it.
        } finally {
          file?.close();
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return removed;
  }
}
