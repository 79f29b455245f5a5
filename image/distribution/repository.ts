/**
 * The registry API of one repository (OCI distribution spec): manifests, blobs, uploads,
 * mounts and tag lists, over a {@linkcode RegistryClient}. Every byte read from the
 * registry is checked against the digest it was asked for; a `Docker-Content-Digest`
 * header is only a hint, never trusted over the computed digest.
 *
 * @module
 */
import { DigestMismatchError, NotFoundError } from "../../errors.ts";
import type { BlobWriter } from "../content_store.ts";
import { Hasher, parseDigest } from "../digest.ts";
import { MANIFEST_ACCEPT } from "../oci.ts";
import { repositoryScope } from "./challenge.ts";
import {
  backoffMs,
  DEFAULT_RETRY,
  errorText,
  IdleTimeoutError,
  isNetworkError,
  type RegistryClient,
  RegistryError,
  Watchdog,
} from "./client.ts";
import { nextLink, parseContentRange, uploadedBytes } from "./headers.ts";

/** Bytes gathered from the network before one write to the content store. */
const WRITE_BATCH = 1 << 20;

/** Largest manifest ctr accepts (the spec's suggested limit is 4 MiB). */

export const MAX_MANIFEST_BYTES = 4 << 20;

/** A manifest as fetched: verified bytes, its digest and media type. */
export interface FetchedManifest {
  bytes: Uint8Array<ArrayBuffer>;
  digest: string;
  mediaType: string;
}

/** An upload session can no longer be used; the caller starts a new one. */
export class UploadSessionLostError extends Error {
  override name = "UploadSessionLostError";
}

/** Where an upload session stands. */
export interface UploadSession {
  location: string;
  /** Bytes the registry holds. */
  offset: number;
}

/** Progress callback: bytes done so far. */
export type OnBytes = (done: number) => void;

async function readLimited(res: Response, limit: number, what: string): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > limit) {
    await res.body?.cancel();
    throw new RangeError(`${what} is too large: ${declared} bytes (limit ${limit})`);
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  if (res.body) {
    for await (const c of res.body) {
      n += c.length;
      if (n > limit) throw new RangeError(`${what} is too large: more than ${limit} bytes`);
      chunks.push(c);
    }
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function digestBytes(bytes: Uint8Array, algorithm: "sha256" | "sha512"): string {
  const h = new Hasher(algorithm);
  h.update(bytes);
  return h.digest();
}

/**
 * One repository on a registry.
 *
 * @example
 * ```ts
 * const repo = new Repository(client, "team/app", "pull");
 * const m = await repo.getManifest("1");
 * ```
 */
export class Repository {
  readonly client: RegistryClient;
  /** Path inside the registry: `team/app`, `library/busybox`. */
  readonly path: string;
  /** Scopes every request asks for. */
  readonly scopes: string[];

  constructor(client: RegistryClient, path: string, access: "pull" | "push", extraScopes: string[] = []) {
    this.client = client;
    this.path = path;
    this.scopes = [repositoryScope(path, access), ...extraScopes];
  }

  #req(suffix: string, options: Parameters<RegistryClient["request"]>[1] = {}) {
    return this.client.request(`/v2/${this.path}/${suffix}`, { scopes: this.scopes, ...options });
  }

  /**
   * Resolves a tag or digest with HEAD: the digest the registry names in
   * `Docker-Content-Digest`, or undefined when it sends none (then GET the manifest and
   * hash it). Throws {@linkcode NotFoundError} when the manifest does not exist.
   */
  async headManifest(reference: string): Promise<{ digest?: string; mediaType?: string } | undefined> {
    const res = await this.#req(`manifests/${reference}`, {
      method: "HEAD",
      headers: { Accept: MANIFEST_ACCEPT.join(", ") },
      accept: [404, 405, 400, 403],
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) throw this.#notFound(reference);
    if (!res.ok) return undefined;
    const digest = res.headers.get("docker-content-digest") ?? undefined;
    const valid = digest !== undefined && (() => {
      try {
        parseDigest(digest);
        return true;
      } catch {
        return false;
      }
    })();
    return { digest: valid ? digest : undefined, mediaType: res.headers.get("content-type") ?? undefined };
  }

  #notFound(reference: string): NotFoundError {
    return new NotFoundError(
      `manifest for ${this.client.registry}/${this.path}${
        reference.includes(":") ? "@" : ":"
      }${reference} not found: manifest unknown`,
    );
  }

  /**
   * Fetches a manifest by tag or digest and verifies it: by digest, the bytes must hash to
   * it; by tag, to the `Docker-Content-Digest` header when there is one. Throws
   * {@linkcode DigestMismatchError} otherwise.
   */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const res = await this.#req(`manifests/${reference}`, {
      headers: { Accept: MANIFEST_ACCEPT.join(", ") },
      accept: [404],
    });
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      throw this.#notFound(reference);
    }
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, `Manifest ${reference}`);
    const header = res.headers.get("docker-content-digest");
    const byDigest = reference.includes(":");
    const expected = byDigest ? reference : header;
    let digest: string;
    if (expected) {
      let algorithm: "sha256" | "sha512" = "sha256";
      try {
        algorithm = parseDigest(expected).algorithm;
      } catch {
        throw new DigestMismatchError(expected, "(invalid)", `manifest ${reference}`);
      }
      digest = digestBytes(bytes, algorithm);
      if (digest !== expected) {
        throw new DigestMismatchError(
          expected,
          digest,
          byDigest
            ? `manifest ${reference} (verification failed)`
            : `manifest ${reference} (Docker-Content-Digest header)`,
        );
      }
    } else digest = digestBytes(bytes, "sha256");
    if (byDigest && header && header !== reference) {
      throw new DigestMismatchError(
        reference,
        header,
        `manifest ${reference} (Docker-Content-Digest header)`,
      );
    }
    const contentType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    // A static file server sends text/plain or octet-stream: only a manifest type is a hint.
    let mediaType = MANIFEST_ACCEPT.includes(contentType as typeof MANIFEST_ACCEPT[number])
      ? contentType
      : "";
    try {
      const declared = JSON.parse(new TextDecoder().decode(bytes))?.mediaType;
      if (typeof declared === "string" && declared) mediaType = declared;
    } catch { /* parsed (and refused) by the caller */ }
    return { bytes, digest, mediaType };
  }

  /** Whether the registry has a blob in this repository (HEAD). */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.#req(`blobs/${digest}`, { method: "HEAD", accept: [404] });
    await res.body?.cancel().catch(() => {});
    return res.status !== 404;
  }

  /** A small blob (config) fetched whole and verified. */
  async getBlobBytes(digest: string, size: number): Promise<Uint8Array<ArrayBuffer>> {
    const res = await this.#req(`blobs/${digest}`, { accept: [404] });
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      throw new NotFoundError(`blob ${digest} not found in ${this.client.registry}/${this.path}`);
    }
    const bytes = await readLimited(res, Math.max(size, 0) + 1, `Blob ${digest}`).catch((e) => {
      if (e instanceof RangeError) {
        throw new DigestMismatchError(digest, "(more bytes than its size)", `blob ${digest}`);
      }
      throw e;
    });
    const actual = digestBytes(bytes, parseDigest(digest).algorithm);
    if (actual !== digest) throw new DigestMismatchError(digest, actual, `blob ${digest}`);
    return bytes;
  }

  /**
   * Streams a blob into `writer` until it holds `size` bytes, resuming with `Range` after a
   * dropped connection or a short body (and after an earlier interrupted run: the writer may
   * start at a non-zero offset). A registry that ignores `Range` and sends the whole blob is
   * handled by skipping the bytes already held. The caller commits the writer, which checks
   * the digest.
   */
  async fetchBlob(digest: string, size: number, writer: BlobWriter, onBytes?: OnBytes): Promise<void> {
    let failures = 0;
    let lastError: unknown;
    // Network chunks are small (~64 KiB); writing them in batches saves most of the cost
    // of one asynchronous write per chunk.
    const batch = new Uint8Array(Math.min(WRITE_BATCH, size));
    let used = 0;
    const flush = async () => {
      if (!used) return;
      const n = used;
      used = 0;
      await writer.write(batch.subarray(0, n));
    };
    const idleMs = this.client.retry.idleTimeoutMs ?? DEFAULT_RETRY.idleTimeoutMs!;
    while (writer.offset < size) {
      const start = writer.offset;
      // A body that stops flowing without the connection closing is abandoned after the
      // idle timeout and resumed like a dropped one.
      const stalled = new AbortController();
      let dog: Watchdog | undefined;
      try {
        const headers: Record<string, string> = {};
        if (start > 0) headers.Range = `bytes=${start}-`;
        const res = await this.#req(`blobs/${digest}`, {
          headers,
          accept: [404, 416],
          signal: stalled.signal,
        });
        dog = new Watchdog(stalled, idleMs);
        if (res.status === 404) {
          await res.body?.cancel().catch(() => {});
          throw new NotFoundError(`blob ${digest} not found in ${this.client.registry}/${this.path}`);
        }
        if (res.status === 416) {
          // The partial data says more than the registry has: it is not this blob's prefix.
          await res.body?.cancel().catch(() => {});
          throw new DigestMismatchError(digest, "(partial download longer than the blob)", `blob ${digest}`);
        }
        let skip = 0;
        if (start > 0) {
          if (res.status === 206) {
            const range = parseContentRange(res.headers.get("content-range"));
            if (!range || range.first !== start) {
              await res.body?.cancel().catch(() => {});
              throw new RegistryError(
                `GET blob ${digest}: range answer ${
                  res.headers.get("content-range")
                } does not start at ${start}`,
                res.status,
              );
            }
          } else skip = start; // 200: the whole blob again
        }
        if (!res.body) throw new TypeError("error reading body: empty response");
        for await (let chunk of res.body) {
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          dog.kick();
          if (writer.offset + used + chunk.length > size) {
            used = 0;
            throw new DigestMismatchError(digest, `(more than ${size} bytes)`, `blob ${digest}`);
          }
          if (used + chunk.length > batch.length) await flush();
          if (chunk.length >= batch.length) await writer.write(chunk);
          else {
            batch.set(chunk, used);
            used += chunk.length;
          }
          onBytes?.(writer.offset + used);
        }
        dog.stop();
        await flush();
        if (writer.offset < size) {
          throw new TypeError(`error reading body: incomplete (${writer.offset}/${size})`);
        }
      } catch (err) {
        dog?.stop();
        const e = dog?.fired ? new IdleTimeoutError(`Download of ${digest} stalled`) : err;
        // What arrived before the failure is good (the digest decides at the end): keep it.
        await flush();
        if (!isNetworkError(e)) throw e;
        lastError = e;
        if (writer.offset > start) failures = 0;
        if (++failures >= this.client.retry.attempts) break;
        await new Promise((r) => setTimeout(r, backoffMs(failures - 1, this.client.retry)));
      }
    }
    if (writer.offset < size) {
      throw new Error(
        `Download of ${digest} failed after ${failures} attempts: ${
          lastError ? errorText(lastError) : "incomplete"
        }`,
      );
    }
  }

  /**
   * Starts an upload; with `mount`, first asks the registry to mount the blob from another
   * repository. Returns `{ mounted: true }` on 201, else the session to upload into (a 202
   * answer to a mount request is such a session, not a success).
   */
  async startUpload(mount?: { digest: string; from: string }): Promise<{ mounted: true } | UploadSession> {
    const query = mount
      ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}`
      : "";
    const res = await this.#req(`blobs/uploads/${query}`, {
      method: "POST",
      headers: { "Content-Length": "0" },
    });
    await res.body?.cancel().catch(() => {});
    if (mount && res.status === 201) return { mounted: true };
    const location = res.headers.get("location");
    if (res.status !== 202 || !location) {
      throw new RegistryError(
        `POST /v2/${this.path}/blobs/uploads/: unexpected ${res.status} ${res.statusText}${
          location ? "" : " without Location"
        }`,
        res.status,
      );
    }
    return { location: this.client.url(location), offset: 0 };
  }

  /** Where an upload session stands (GET on its location): bytes held and the new location. */
  async uploadStatus(location: string): Promise<UploadSession> {
    const res = await this.client.request(location, { scopes: this.scopes });
    await res.body?.cancel().catch(() => {});
    // `0-0` is what registries send for an empty session too (the spec's range is
    // inclusive, so it cannot say "nothing"): read it as nothing — resending one byte is
    // harmless, skipping one is not.
    const range = res.headers.get("range");
    const held = range !== null && /^\s*(bytes[= ])?0-0\s*$/.test(range) ? 0 : uploadedBytes(range) ?? 0;

    return { location: this.client.url(res.headers.get("location") ?? location), offset: held };
  }

  /**
   * Uploads a blob into a session and completes it. Blobs up to `chunkSize` go in the final
   * PUT (monolithic). Larger ones are streamed in one PATCH when `stream` is given (fastest:
   * no round trip per chunk), else — and after a failed stream — sent as PATCH chunks with
   * `Content-Range`, each followed to the `Location` the registry returns. A failure resumes
   * from the offset the registry reports; a session that cannot say throws
   * {@linkcode UploadSessionLostError}.
   */
  async upload(
    session: UploadSession,
    digest: string,
    size: number,
    read: (offset: number, length: number) => Promise<Uint8Array<ArrayBuffer>>,
    options: {
      chunkSize: number;
      onBytes?: OnBytes;
      stream?: (offset: number) => ReadableStream<Uint8Array>;
    },
  ): Promise<void> {
    let { location, offset } = session;
    const put = async (body: Uint8Array<ArrayBuffer>) => {
      const u = new URL(location);
      u.searchParams.set("digest", digest);
      let res: Response;
      try {
        res = await this.client.request(u.href, {
          method: "PUT",
          scopes: this.scopes,
          headers: { "Content-Type": "application/octet-stream", "Content-Length": String(body.length) },
          body,
        });
      } catch (e) {
        // A PUT retried after its answer was lost finds the session closed: if the blob is
        // there now, the first attempt succeeded.
        if (await this.hasBlob(digest).catch(() => false)) return;
        throw e;
      }
      await res.body?.cancel().catch(() => {});
      if (res.status !== 201 && res.status !== 204) {
        throw new RegistryError(`PUT blob ${digest}: unexpected ${res.status} ${res.statusText}`, res.status);
      }
      const echoed = res.headers.get("docker-content-digest");
      if (echoed && echoed !== digest) {
        throw new DigestMismatchError(digest, echoed, `uploaded blob ${digest} (registry computed)`);
      }
    };
    if (size <= options.chunkSize && offset === 0) {
      await put(await read(0, size));
      options.onBytes?.(size);
      return;
    }
    if (options.stream && offset === 0) {
      // One streamed PATCH (chunked transfer encoding), then the closing PUT.
      let sent = 0;
      const counted = options.stream(0).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, c) {
            sent += chunk.length;
            options.onBytes?.(sent);
            c.enqueue(chunk);
          },
        }),
      );
      try {
        const res = await this.client.request(location, {
          method: "PATCH",
          scopes: this.scopes,
          headers: { "Content-Type": "application/octet-stream" },
          body: counted,
        });
        await res.body?.cancel().catch(() => {});
        location = this.client.url(res.headers.get("location") ?? location);
        offset = uploadedBytes(res.headers.get("range")) ?? size;
      } catch (e) {
        if (!isNetworkError(e) && !(e instanceof RegistryError)) throw e;
        try {
          ({ location, offset } = await this.uploadStatus(location));
        } catch (s) {
          throw new UploadSessionLostError(`Upload session of ${digest} lost: ${errorText(s)}`);
        }
      }
    }

    let failures = 0;
    // The next chunk is read from disk while the current one is on the wire.
    let ahead: { offset: number; bytes: Promise<Uint8Array<ArrayBuffer>> } | undefined;
    const readAt = (o: number) => {
      const bytes = ahead?.offset === o ? ahead.bytes : read(o, Math.min(options.chunkSize, size - o));
      const nextOffset = o + Math.min(options.chunkSize, size - o);
      ahead = nextOffset < size
        ? { offset: nextOffset, bytes: read(nextOffset, Math.min(options.chunkSize, size - nextOffset)) }
        : undefined;
      ahead?.bytes.catch(() => {});
      return bytes;
    };
    while (offset < size) {
      const length = Math.min(options.chunkSize, size - offset);
      const chunk = await readAt(offset);
      try {
        const res = await this.client.request(location, {
          method: "PATCH",
          scopes: this.scopes,
          headers: {
            "Content-Type": "application/octet-stream",
            "Content-Range": `${offset}-${offset + length - 1}`,
            "Content-Length": String(length),
          },
          body: chunk,
          accept: [416],
        });
        await res.body?.cancel().catch(() => {});
        if (res.status === 416) {
          throw new RegistryError(
            `PATCH blob ${digest}: 416 range ${offset}-${offset + length - 1} refused`,
            416,
          );
        }
        location = this.client.url(res.headers.get("location") ?? location);
        const held = uploadedBytes(res.headers.get("range"));
        offset = held !== undefined && held > offset ? held : offset + length;
        failures = 0;
        options.onBytes?.(offset);
      } catch (e) {
        // A retried chunk the registry already took gets 416, or 404 where the session URL
        // carries signed state (distribution's `_state`) that the lost answer advanced.
        const recoverable = isNetworkError(e) ||
          (e instanceof RegistryError && (e.status >= 500 || e.status === 416 || e.status === 404));
        if (!recoverable) throw e;
        if (++failures >= this.client.retry.attempts) throw e;
        await new Promise((r) => setTimeout(r, backoffMs(failures - 1, this.client.retry)));
        // Ask the registry what it kept and continue from there.
        let status: UploadSession;
        try {
          status = await this.uploadStatus(location);
        } catch (s) {
          throw new UploadSessionLostError(`Upload session of ${digest} lost: ${(s as Error).message}`);
        }
        location = status.location;
        offset = status.offset;
      }
    }
    await put(new Uint8Array(0));
  }

  /** Uploads a manifest under a tag or digest; returns the digest the registry reports. */
  async putManifest(
    reference: string,
    bytes: Uint8Array<ArrayBuffer>,
    mediaType: string,
  ): Promise<string | undefined> {
    const res = await this.#req(`manifests/${reference}`, {
      method: "PUT",
      headers: { "Content-Type": mediaType, "Content-Length": String(bytes.length) },
      body: bytes,
    });
    await res.body?.cancel().catch(() => {});
    return res.headers.get("docker-content-digest") ?? undefined;
  }

  /** All tags, following `Link: <…>; rel="next"` pagination. */
  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = this.client.url(`/v2/${this.path}/tags/list`);
    for (let page = 0; url && page < 10_000; page++) {
      const res: Response = await this.client.request(url, { scopes: this.scopes, accept: [404] });
      if (res.status === 404) {
        await res.body?.cancel().catch(() => {});
        throw new NotFoundError(`repository ${this.client.registry}/${this.path} not found`);
      }
      const body = await readLimited(res, 64 << 20, "Tag list");
      const doc = JSON.parse(new TextDecoder().decode(body)) as { tags?: string[] | null };
      for (const t of doc.tags ?? []) if (typeof t === "string" && !tags.includes(t)) tags.push(t);
      url = nextLink(res.headers.get("link"), url);
    }
    return tags;
  }
}
