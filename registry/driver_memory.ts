/**
 * An in-memory storage driver: the second implementation the shared driver suite runs
 * against, and a fast backend for tests of the services above the driver. Not durable.
 *
 * @module
 */
import { checkKey, type FileInfo, type FileReader, type FileWriter, type StorageDriver } from "./driver.ts";

interface Entry {
  chunks: Uint8Array[];
  size: number;
  modified: number;
}

function flatten(e: Entry): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(e.size);
  let off = 0;
  for (const c of e.chunks) {
    out.set(c, off);
    off += c.length;
  }
  e.chunks = [out];
  return out;
}

function notFound(key: string): never {
  throw new Deno.errors.NotFound(`No such key: ${key}`);
}

/**
 * Keys in a Map.
 *
 * @example
 * ```ts
 * const driver = new MemoryDriver();
 * await driver.write("a/b", new Uint8Array([1]));
 * await driver.list("a"); // ["b"]
 * ```
 */
export class MemoryDriver implements StorageDriver {
  #files = new Map<string, Entry>();

  stat(key: string): Promise<FileInfo | undefined> {
    checkKey(key);
    const e = this.#files.get(key);
    if (e) return Promise.resolve({ size: e.size, modified: e.modified, isDirectory: false });
    const prefix = key + "/";
    for (const [k, v] of this.#files) {
      if (k.startsWith(prefix)) return Promise.resolve({ size: 0, modified: v.modified, isDirectory: true });
    }
    return Promise.resolve(undefined);
  }

  reader(key: string, offset = 0, length?: number): Promise<FileReader> {
    const e = this.#files.get(checkKey(key)) ?? notFound(key);
    if (offset > e.size) throw new RangeError(`Offset ${offset} is past the end of ${key} (${e.size} bytes)`);
    const bytes = flatten(e);
    const end = length === undefined ? e.size : Math.min(e.size, offset + length);
    const part = bytes.slice(offset, end);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        if (part.length) c.enqueue(part);
        c.close();
      },
    });
    return Promise.resolve({ size: e.size, stream });
  }

  read(key: string): Promise<Uint8Array<ArrayBuffer>> {
    const e = this.#files.get(checkKey(key)) ?? notFound(key);
    return Promise.resolve(flatten(e).slice());
  }

  write(key: string, data: Uint8Array): Promise<void> {
    this.#files.set(checkKey(key), { chunks: [data.slice()], size: data.length, modified: Date.now() });
    return Promise.resolve();
  }

  writer(key: string): Promise<FileWriter> {
    checkKey(key);
    let e = this.#files.get(key);
    if (!e) {
      e = { chunks: [], size: 0, modified: Date.now() };
      this.#files.set(key, e);
    }
    const entry = e;
    const files = this.#files;
    return Promise.resolve({
      get size() {
        return entry.size;
      },
      write(chunk: Uint8Array) {
        if (files.get(key) !== entry) throw new Deno.errors.NotFound(`Key was removed: ${key}`);
        entry.chunks.push(chunk.slice());
        entry.size += chunk.length;
        entry.modified = Date.now();
        return Promise.resolve();
      },
      truncate(size: number) {
        entry.chunks = [flatten(entry).slice(0, size)];
        entry.size = Math.min(size, entry.size);
        return Promise.resolve();
      },
      close: (_options?: { sync?: boolean }) => Promise.resolve(),
      abort: () => Promise.resolve(),
    });
  }

  move(from: string, to: string): Promise<void> {
    const e = this.#files.get(checkKey(from)) ?? notFound(from);
    this.#files.delete(from);
    this.#files.set(checkKey(to), e);
    return Promise.resolve();
  }

  delete(key: string): Promise<boolean> {
    checkKey(key);
    let found = this.#files.delete(key);
    const prefix = key + "/";
    for (const k of [...this.#files.keys()]) {
      if (k.startsWith(prefix)) found = this.#files.delete(k) || found;
    }
    return Promise.resolve(found);
  }

  list(key: string): Promise<string[]> {
    const prefix = checkKey(key) === "" ? "" : key + "/";
    const names = new Set<string>();
    for (const k of this.#files.keys()) {
      if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split("/")[0]);
    }
    return Promise.resolve([...names].sort());
  }
}
