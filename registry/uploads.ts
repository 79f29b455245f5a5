/**
 * Blob upload sessions: monolithic (`POST ?digest=`, or POST then PUT), chunked (PATCH with
 * `Content-Range`, strictly in order: a gap or overlap is 416) and streamed (PATCH without
 * `Content-Range`). A session is a row in the metadata store plus the bytes received so far
 * under `uploads/<id>`; both survive a restart, and sessions expire after a time-to-live.
 *
 * Bytes are hashed while they stream in. The hash state lives in memory only (node:crypto
 * cannot serialise it), so after a restart — or when another process took the earlier
 * chunks — the closing PUT re-hashes the stored bytes instead. A digest that does not match
 * is DIGEST_INVALID and the session and its bytes are dropped: nothing is kept.
 *
 * @module
 */
import { Hasher, parseDigest } from "../image/digest.ts";
import type { BlobStore } from "./blob_store.ts";
import type { FileWriter, StorageDriver } from "./driver.ts";
import { RegistryError } from "./errors.ts";
import { uploadKey } from "./layout.ts";
import type { MetadataStore } from "./metadata.ts";
import type { UploadChunk, UploadService, UploadStatus } from "./services.ts";

/** Default time-to-live of an upload session. */
export const DEFAULT_UPLOAD_TTL_MS = 24 * 3600_000;

/** Options of {@linkcode Uploads}. */
export interface UploadOptions {
  /** How long a session lives after it started (ms). */
  ttlMs?: number;
}

interface HashState {
  hasher: Hasher;
  /** Bytes hashed; valid only while equal to the stored size. */
  offset: number;
}

/** The `Range` header value of a session at `offset` (distribution's form: `0-<last byte>`). */
export function rangeHeader(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}

function unknownUpload(id: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_UNKNOWN", `Upload session unknown to registry: ${id}`, {
    detail: { id },
  });
}

async function drain(body: ReadableStream<Uint8Array> | null): Promise<void> {
  await body?.cancel().catch(() => {});
}

/**
 * The upload service.
 *
 * @example
 * ```ts
 * const uploads = new Uploads(driver, metadata, blobs);
 * const { id } = await uploads.start("team/app");
 * await uploads.append("team/app", id, { body: req.body });
 * await uploads.complete("team/app", id, digest, { body: null });
 * ```
 */
export class Uploads implements UploadService {
  readonly #driver: StorageDriver;
  readonly #meta: MetadataStore;
  readonly #blobs: BlobStore;
  readonly #ttl: number;
  readonly #hashes = new Map<string, HashState>();
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(driver: StorageDriver, metadata: MetadataStore, blobs: BlobStore, options: UploadOptions = {}) {
    this.#driver = driver;
    this.#meta = metadata;
    this.#blobs = blobs;
    this.#ttl = options.ttlMs ?? DEFAULT_UPLOAD_TTL_MS;
  }

  /** Runs `fn` with the session's lock held (requests on one session run one at a time). */
  async #locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(id) ?? Promise.resolve();
    const run = before.catch(() => {}).then(fn);
    this.#locks.set(id, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(id) === run) this.#locks.delete(id);
    }
  }

  async #session(repository: string, id: string): Promise<void> {
    let upload;
    try {
      upload = await this.#meta.getUpload(id);
    } catch {
      upload = undefined;
    }
    if (!upload || upload.repository !== repository) throw unknownUpload(id);
    if (upload.started < Date.now() - this.#ttl) {
      await this.#drop(id);
      throw unknownUpload(id);
    }
  }

  async #drop(id: string): Promise<void> {
    this.#hashes.delete(id);
    await this.#driver.delete(uploadKey(id));
    await this.#meta.deleteUpload(id);
  }

  async start(repository: string): Promise<UploadStatus> {
    const id = crypto.randomUUID();
    await this.#meta.createUpload({ id, repository, started: Date.now() });
    return { id, offset: 0 };
  }

  async status(repository: string, id: string): Promise<UploadStatus> {
    await this.#session(repository, id);
    const st = await this.#driver.stat(uploadKey(id));
    return { id, offset: st?.size ?? 0 };
  }

  /**
   * Streams a chunk into an open writer, hashing as it goes. Checks the chunk starts at the
   * writer's end (416 otherwise) and has the length it declared.
   */
  async #write(id: string, w: FileWriter, chunk: UploadChunk): Promise<void> {
    const offset = w.size;
    if (chunk.range) {
      const { start, end } = chunk.range;
      if (start !== offset) {
        await drain(chunk.body);
        throw new RegistryError(
          "BLOB_UPLOAD_INVALID",
          `Chunk starts at byte ${start} but the upload has ${offset} bytes; send bytes from ${offset}`,
          { status: 416, detail: { offset }, headers: { Range: rangeHeader(offset) } },
        );
      }
      if (chunk.length !== undefined && chunk.length !== end - start + 1) {
        await drain(chunk.body);
        throw new RegistryError(
          "SIZE_INVALID",
          `Content-Range ${start}-${end} is ${end - start + 1} bytes but Content-Length is ${chunk.length}`,
        );
      }
    }
    if (!chunk.body) return;
    let state = this.#hashes.get(id);
    if (state && state.offset !== offset) state = undefined;
    if (!state && offset === 0) state = { hasher: new Hasher("sha256"), offset: 0 };
    if (state) this.#hashes.set(id, state);
    else this.#hashes.delete(id);
    let received = 0;
    try {
      for await (const bytes of chunk.body) {
        await w.write(bytes);
        received += bytes.length;
        chunk.onBytes?.(bytes.length);
        if (state) {
          state.hasher.update(bytes);
          state.offset += bytes.length;
        }
      }
    } catch (e) {
      // The client went away mid-chunk. Keep what arrived (a client resumes from the
      // session's Range), but the in-memory hash may no longer match the file.
      if (state && state.offset !== w.size) this.#hashes.delete(id);
      throw e;
    }
    const declared = chunk.range ? chunk.range.end - chunk.range.start + 1 : chunk.length;
    if (declared !== undefined && received !== declared) {
      await w.truncate(offset);
      this.#hashes.delete(id);
      throw new RegistryError("SIZE_INVALID", `Chunk declared ${declared} bytes but ${received} arrived`);
    }
  }

  append(repository: string, id: string, chunk: UploadChunk): Promise<UploadStatus> {
    return this.#locked(id, async () => {
      try {
        await this.#session(repository, id);
      } catch (e) {
        await drain(chunk.body);
        throw e;
      }
      const w = await this.#driver.writer(uploadKey(id));
      try {
        await this.#write(id, w, chunk);
      } finally {
        // Whatever arrived stays (a client resumes from the session's Range); durability
        // is only needed at the closing PUT.
        await w.close({ sync: false });
      }
      return { id, offset: w.size };
    });
  }

  /** Verifies the bytes at the upload key against `digest` and stores them as the blob. */
  async #finish(repository: string, id: string, digest: string, w: FileWriter): Promise<{ size: number }> {
    const { algorithm } = parseDigest(digest);
    const size = w.size;
    await w.close(); // written out and fsynced before the bytes can become visible under a digest
    const state = this.#hashes.get(id);
    let actual: string;
    if (state && state.offset === size && algorithm === "sha256") {
      actual = state.hasher.digest();
    } else {
      const h = new Hasher(algorithm);
      for await (const bytes of (await this.#driver.reader(uploadKey(id))).stream) h.update(bytes);
      actual = h.digest();
    }
    this.#hashes.delete(id);
    if (actual !== digest) {
      await this.#drop(id);
      throw new RegistryError("DIGEST_INVALID", `Uploaded content has digest ${actual}, not ${digest}`, {
        detail: { expected: digest, actual },
      });
    }
    await this.#blobs.commit(uploadKey(id), repository, digest, size);
    await this.#meta.deleteUpload(id);
    return { size };
  }

  complete(repository: string, id: string, digest: string, chunk: UploadChunk): Promise<{ size: number }> {
    return this.#locked(id, async () => {
      try {
        await this.#session(repository, id);
        checkDigestParam(digest);
      } catch (e) {
        await drain(chunk.body);
        throw e;
      }
      const w = await this.#driver.writer(uploadKey(id));
      try {
        await this.#write(id, w, chunk);
        return await this.#finish(repository, id, digest, w);
      } finally {
        await w.close({ sync: false }); // no-op once #finish closed it
      }
    });
  }

  async putWhole(repository: string, digest: string, chunk: UploadChunk): Promise<{ size: number }> {
    try {
      checkDigestParam(digest);
    } catch (e) {
      await drain(chunk.body);
      throw e;
    }
    // One request: no session row, only the bytes (an orphan file if we die is purged by age).
    const id = crypto.randomUUID();
    const w = await this.#driver.writer(uploadKey(id));
    try {
      await this.#write(id, w, { ...chunk, range: undefined });
      return await this.#finish(repository, id, digest, w);
    } catch (e) {
      await w.abort();
      this.#hashes.delete(id);
      await this.#driver.delete(uploadKey(id)).catch(() => {});
      throw e;
    }
  }

  cancel(repository: string, id: string): Promise<void> {
    return this.#locked(id, async () => {
      await this.#session(repository, id);
      await this.#drop(id);
    });
  }

  async purgeExpired(): Promise<number> {
    const cutoff = Date.now() - this.#ttl;
    let n = 0;
    for (const u of await this.#meta.uploadsStartedBefore(cutoff)) {
      await this.#drop(u.id);
      n++;
    }
    // Bytes without a session (a single-request upload that died) go by age.
    for (const name of await this.#driver.list("uploads")) {
      const st = await this.#driver.stat(`uploads/${name}`);
      if (!st || st.modified >= cutoff) continue;
      if (await this.#meta.getUpload(name)) continue;
      await this.#driver.delete(`uploads/${name}`);
      n++;
    }
    return n;
  }
}

/**
 * Throws DIGEST_INVALID unless `digest` is a digest ctr can verify.
 *
 * @example
 * ```ts
 * checkDigestParam("sha256:" + "0".repeat(64)); // ok
 * ```
 */
export function checkDigestParam(digest: string | null | undefined): asserts digest is string {
  if (!digest) throw new RegistryError("DIGEST_INVALID", "The digest query parameter is required");
  try {
    parseDigest(digest);
  } catch (e) {
    throw new RegistryError("DIGEST_INVALID", (e as Error).message, { detail: { digest } });
  }
}
