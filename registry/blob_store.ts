/**
 * Blobs: stored once for all repositories under `blobs/<algorithm>/<hex>` (see `layout.ts`),
 * served to a repository only when linked into it. Also the one way bytes become a blob
 * ({@linkcode BlobStore.place}): pin the digest against GC, move the verified bytes into
 * place atomically, then record and link them — the protocol described in `metadata.ts`.
 *
 * @module
 */
import type { StorageDriver } from "./driver.ts";
import { RegistryError } from "./errors.ts";
import { blobKey } from "./layout.ts";
import type { MetadataStore } from "./metadata.ts";
import type { BlobContent, BlobService, ByteRange } from "./services.ts";
import { ByteCache } from "./byte_cache.ts";

/** How long a writer waits for GC to finish deleting a blob it wants to store again. */
const TOMBSTONE_WAIT_MS = 60_000;
/** Blobs up to this size are served from memory once read (configs, small layers). */
export const CACHED_BLOB_MAX = 2 * 1024 * 1024;
/** Memory the small-blob cache may hold. */
const BLOB_CACHE_BYTES = 128 * 1024 * 1024;

function unknown(digest: string): RegistryError {
  return new RegistryError("BLOB_UNKNOWN", `Blob unknown to registry: ${digest}`, { detail: { digest } });
}

/**
 * The blob service over a driver and a metadata store.
 *
 * @example
 * ```ts
 * const blobs = new BlobStore(driver, metadata);
 * const { stream } = await blobs.open("team/app", digest, { start: 0, end: 99 });
 * ```
 */
export class BlobStore implements BlobService {
  readonly #driver: StorageDriver;
  readonly #meta: MetadataStore;
  // Blobs are immutable under their digest, and a repository sees one only through its
  // link (checked first, every time), so cached bytes can never be served stale.
  readonly #cache: ByteCache;

  constructor(driver: StorageDriver, metadata: MetadataStore, options: { cacheBytes?: number } = {}) {
    this.#driver = driver;
    this.#meta = metadata;
    this.#cache = new ByteCache(options.cacheBytes ?? BLOB_CACHE_BYTES);
  }

  async stat(repository: string, digest: string): Promise<number> {
    const size = await this.#meta.linkedBlobSize(repository, digest);
    if (size === undefined) throw unknown(digest);
    return size;
  }

  async open(repository: string, digest: string, range?: ByteRange): Promise<BlobContent> {
    const size = await this.stat(repository, digest);
    if (size <= CACHED_BLOB_MAX) {
      let bytes = this.#cache.get(digest);
      if (!bytes) {
        try {
          bytes = await this.#driver.read(blobKey(digest));
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) throw unknown(digest);
          throw e;
        }
        this.#cache.set(digest, bytes);
      }
      const part = range ? bytes.subarray(range.start, range.end + 1) : bytes;
      return { size, stream: ReadableStream.from([part]), range, bytes: part };
    }
    try {
      if (!range) {
        const r = await this.#driver.reader(blobKey(digest));
        return { size, stream: r.stream, file: r.file };
      }
      const r = await this.#driver.reader(blobKey(digest), range.start, range.end - range.start + 1);
      return { size, stream: r.stream, range, file: r.file };
    } catch (e) {
      // The row says linked but the bytes are gone: GC got there between the two reads.
      if (e instanceof Deno.errors.NotFound) throw unknown(digest);
      throw e;
    }
  }

  async delete(repository: string, digest: string): Promise<void> {
    if (!await this.#meta.unlinkBlob(repository, digest)) throw unknown(digest);
  }

  mount(repository: string, from: string, digest: string): Promise<number | undefined> {
    return this.#meta.mountBlob(repository, from, digest);
  }

  /**
   * Pins `digest` (waiting while GC deletes an earlier copy) and moves the verified, durable
   * bytes at storage key `from` under the blob's key. Returns the pin, which the caller
   * releases by committing (`commitBlob` / `putManifest`) or {@linkcode MetadataStore.releasePin}.
   */
  async place(from: string, digest: string): Promise<string> {
    const deadline = Date.now() + TOMBSTONE_WAIT_MS;
    let pin: string | undefined;
    while ((pin = await this.#meta.pinBlob(digest)) === undefined) {
      if (Date.now() > deadline) {
        throw new RegistryError("TOOMANYREQUESTS", `Blob ${digest} is being garbage-collected; retry later`, {
          status: 503,
        });
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    try {
      await this.#driver.move(from, blobKey(digest));
    } catch (e) {
      await this.#meta.releasePin(pin);
      throw e;
    }
    return pin;
  }

  /** Places the bytes at `from` as blob `digest` and links it into `repository`. */
  async commit(from: string, repository: string, digest: string, size: number): Promise<void> {
    const pin = await this.place(from, digest);
    await this.#meta.commitBlob(pin, repository, digest, size);
  }
}
