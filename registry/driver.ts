/**
 * The storage-driver interface: the few operations the registry needs from a place that
 * keeps bytes under slash-separated keys (`blobs/sha256/<hex>`, `uploads/<id>/data`). The
 * filesystem implements it now ({@linkcode ./driver_fs.ts}); an object store (S3) can later,
 * because nothing above this interface assumes a POSIX file. Keys never start with `/` and
 * never contain `..`; drivers refuse such keys.
 *
 * Contract (checked by the shared suite in `driver_suite.ts`, run against every driver):
 * - {@linkcode StorageDriver.writer} appends to a key (creating it), and the bytes become
 *   durable at {@linkcode FileWriter.close}; a killed writer leaves a shorter file, never
 *   garbage.
 * - {@linkcode StorageDriver.move} is atomic: readers see the old key or the new one, never a
 *   partial file; the destination is replaced.
 * - Readers may run while a key is being replaced; they keep reading what they opened.
 *
 * @module
 */

/** Metadata of a stored key. */
export interface FileInfo {
  /** Size in bytes. */
  size: number;
  /** Last modification time (ms since epoch). */
  modified: number;
  /** True for a "directory" (a prefix with children). */
  isDirectory: boolean;
}

/** An open reader over a key. */
export interface FileReader {
  /** Total size of the key. */
  size: number;
  /**
   * The requested bytes, as a stream that reads nothing until pulled. Cancel it (or read it
   * to the end) to release the handle.
   */
  stream: ReadableStream<Uint8Array>;
  /**
   * Local-file drivers only: the open file, positioned at the first requested byte, and how
   * many bytes to send — so an HTTP transport can write them with large reads instead of
   * pulling the stream (then it closes the file and cancels the stream).
   */
  file?: { handle: Deno.FsFile; length: number };
}

/**
 * An append-only writer. It may buffer: bytes reach the key at the latest when
 * {@linkcode FileWriter.close} returns (the caller may reuse a chunk after `write` returns).
 */
export interface FileWriter {
  /** Bytes in the key so far, counting accepted but buffered ones (and what was there before). */
  readonly size: number;
  /** Appends bytes. */
  write(chunk: Uint8Array): Promise<void>;
  /** Cuts the key back to `size` bytes (to undo a partial chunk). */
  truncate(size: number): Promise<void>;
  /**
   * Writes out everything accepted and releases the writer; with `sync` (the default) the
   * bytes are durable when it returns.
   */
  close(options?: { sync?: boolean }): Promise<void>;
  /** Releases the writer, dropping bytes still buffered. A no-op after close. */
  abort(): Promise<void>;
}

/**
 * Where the registry keeps bytes.
 *
 * @example
 * ```ts
 * const driver: StorageDriver = new FilesystemDriver("/var/lib/ctr/registry");
 * const w = await driver.writer("uploads/x/data");
 * await w.write(new TextEncoder().encode("hi"));
 * await w.close();
 * await driver.move("uploads/x/data", "blobs/sha256/…");
 * ```
 */
export interface StorageDriver {
  /** Metadata of `key`, or undefined when absent. */
  stat(key: string): Promise<FileInfo | undefined>;
  /** Opens `key` for reading `length` bytes (default: to the end) from `offset`. */
  reader(key: string, offset?: number, length?: number): Promise<FileReader>;
  /** Reads a whole (small) key. */
  read(key: string): Promise<Uint8Array<ArrayBuffer>>;
  /** Writes a whole (small) key atomically (temp key + move). */
  write(key: string, data: Uint8Array): Promise<void>;
  /** Opens `key` for appending, creating it (and its parents) if needed. */
  writer(key: string): Promise<FileWriter>;
  /** Atomically renames `from` to `to`, replacing `to`. */
  move(from: string, to: string): Promise<void>;
  /** Removes `key` and everything under it. Returns false if it was absent. */
  delete(key: string): Promise<boolean>;
  /** Names of the direct children of the prefix `key` (empty when absent). */
  list(key: string): Promise<string[]>;
}

/**
 * Refuses keys that could escape the driver's root; returns the key unchanged.
 *
 * @example
 * ```ts
 * checkKey("blobs/sha256/ab"); // "blobs/sha256/ab"
 * checkKey("../etc/passwd");   // throws RangeError
 * ```
 */
export function checkKey(key: string): string {
  if (key.startsWith("/") || key.split("/").some((p) => p === ".." || p === ".") || key.includes("\0")) {
    throw new RangeError(`Invalid storage key: ${JSON.stringify(key)}`);
  }
  return key;
}
