/**
 * The filesystem storage driver: keys are paths under a root directory (see `layout.ts` for
 * the tree). Durability: {@linkcode FileWriter.close} fsyncs the file, and
 * {@linkcode FilesystemDriver.move} renames and then fsyncs the destination directory, so a
 * key that exists after a crash has all its bytes.
 *
 * @module
 */
import { checkKey, type FileInfo, type FileReader, type FileWriter, type StorageDriver } from "./driver.ts";

/** Read size of streams (large chunks keep the per-chunk cost of the HTTP stack low). */
const CHUNK = 256 * 1024;

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

async function syncDir(dir: string): Promise<void> {
  let d: Deno.FsFile | undefined;
  try {
    d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    d?.close();
  }
}

/** Streams `length` bytes of an open file from its current position, then closes it. */
function limitedStream(file: Deno.FsFile, length: number): ReadableStream<Uint8Array> {
  let left = length;
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      file.close();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left <= 0) {
        close();
        controller.close();
        return;
      }
      const buf = new Uint8Array(Math.min(CHUNK, left));
      let off = 0;
      try {
        while (off < buf.length) {
          const n = await file.read(buf.subarray(off));
          if (n === null) break;
          off += n;
        }
      } catch (e) {
        close();
        throw e;
      }
      left -= off;
      if (off > 0) controller.enqueue(off === buf.length ? buf : buf.subarray(0, off));
      if (left <= 0 || off < buf.length) {
        close();
        controller.close();
      }
    },
    cancel() {
      try {
        close();
      } catch { /* the transport closed the file already */ }
    },
  }, { highWaterMark: 0 });
}

/** Size of the write buffer: large writes keep the per-operation cost of Deno's file I/O low. */
const WRITE_BUFFER = 1024 * 1024;
/** Written bytes after which a background flush to disk starts. */
const BACKGROUND_SYNC_BYTES = 16 * 1024 * 1024;

/**
 * Buffers appends into 1 MiB blocks and keeps one block write in flight while the next
 * block fills (double buffering), so receiving, hashing and writing overlap.
 */
class FsWriter implements FileWriter {
  #file: Deno.FsFile;
  #size: number;
  #done = false;
  #buf = new Uint8Array(WRITE_BUFFER);
  #spare = new Uint8Array(WRITE_BUFFER);
  #fill = 0;
  #pending: Promise<void> = Promise.resolve();
  #path: string;
  #unsynced = 0;
  #syncer: Deno.FsFile | undefined;
  #syncing: Promise<void> | undefined;

  constructor(file: Deno.FsFile, size: number, path: string) {
    this.#file = file;
    this.#size = size;
    this.#path = path;
  }

  /**
   * Starts flushing written data to disk in the background (through a second descriptor,
   * so writes go on meanwhile), so the fsync that makes a blob durable at the end of an
   * upload has little left to do.
   */
  #backgroundSync(): void {
    if (this.#syncing || this.#done) return;
    this.#unsynced = 0;
    this.#syncing = (async () => {
      try {
        this.#syncer ??= await Deno.open(this.#path, { read: true });
        await this.#syncer.syncData();
      } catch {
        /* best effort: close() syncs for real */
      } finally {
        this.#syncing = undefined;
      }
    })();
  }

  get size(): number {
    return this.#size;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#file.write(bytes.subarray(off));
  }

  /** Starts writing the filled block (after the previous one finished). */
  async #flush(): Promise<void> {
    await this.#pending;
    if (this.#fill === 0) return;
    const out = this.#buf.subarray(0, this.#fill);
    [this.#buf, this.#spare] = [this.#spare, this.#buf];
    this.#fill = 0;
    this.#pending = this.#writeAll(out);
    this.#unsynced += out.length;
    if (this.#unsynced >= BACKGROUND_SYNC_BYTES) this.#pending.then(() => this.#backgroundSync(), () => {});
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#done) throw new Error("Writer is closed");
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, WRITE_BUFFER - this.#fill);
      this.#buf.set(chunk.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
      if (this.#fill === WRITE_BUFFER) await this.#flush();
    }
    this.#size += chunk.length;
  }

  async truncate(size: number): Promise<void> {
    await this.#flush();
    await this.#pending;
    await this.#file.truncate(size);
    this.#size = size;
  }

  async close(options: { sync?: boolean } = {}): Promise<void> {
    if (this.#done) return;
    try {
      await this.#flush();
      await this.#pending;
      this.#done = true;
      await this.#syncing;
      if (options.sync ?? true) await this.#file.sync();
    } finally {
      this.#done = true;
      this.#file.close();
      this.#syncer?.close();
    }
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#pending.catch(() => {});
    await this.#syncing;
    this.#file.close();
    this.#syncer?.close();
  }
}

/**
 * Keys as files under `root`.
 *
 * @example
 * ```ts
 * const driver = new FilesystemDriver("/var/lib/ctr/registry");
 * await driver.write("tmp/x", new Uint8Array([1, 2, 3]));
 * ```
 */
export class FilesystemDriver implements StorageDriver {
  /** The root directory. */
  readonly root: string;

  constructor(root: string) {
    this.root = root.replace(/\/+$/, "");
  }

  /** The filesystem path of `key`. */
  path(key: string): string {
    return `${this.root}/${checkKey(key)}`;
  }

  async stat(key: string): Promise<FileInfo | undefined> {
    try {
      const st = await Deno.stat(this.path(key));
      return { size: st.size, modified: st.mtime?.getTime() ?? 0, isDirectory: st.isDirectory };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async reader(key: string, offset = 0, length?: number): Promise<FileReader> {
    const file = await Deno.open(this.path(key), { read: true });
    try {
      const { size } = await file.stat();
      if (offset > size) throw new RangeError(`Offset ${offset} is past the end of ${key} (${size} bytes)`);
      if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
      const want = length === undefined ? size - offset : Math.min(length, size - offset);
      // A stream that reads nothing until pulled, so a transport may use the file instead.
      return { size, stream: limitedStream(file, want), file: { handle: file, length: want } };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  read(key: string): Promise<Uint8Array<ArrayBuffer>> {
    return Deno.readFile(this.path(key));
  }

  async write(key: string, data: Uint8Array): Promise<void> {
    const tmp = `tmp/${crypto.randomUUID()}`;
    const w = await this.writer(tmp);
    try {
      await w.write(data);
      await w.close();
    } catch (e) {
      await w.abort();
      await this.delete(tmp);
      throw e;
    }
    await this.move(tmp, key);
  }

  async writer(key: string): Promise<FileWriter> {
    const path = this.path(key);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { append: true, create: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      await Deno.mkdir(dirOf(path), { recursive: true });
      file = await Deno.open(path, { append: true, create: true });
    }
    const { size } = await file.stat();
    return new FsWriter(file, size, path);
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.path(from), dst = this.path(to);
    try {
      await Deno.rename(src, dst);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      await Deno.stat(src); // a missing source is the caller's error: let NotFound through
      await Deno.mkdir(dirOf(dst), { recursive: true });
      await Deno.rename(src, dst);
    }
    await syncDir(dirOf(dst));
  }

  async delete(key: string): Promise<boolean> {
    try {
      await Deno.remove(this.path(key), { recursive: true });
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }

  async list(key: string): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(this.path(key))) out.push(e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return [];
      throw e;
    }
    return out.sort();
  }
}
