/**
 * `pushImage`: send a local image to a registry.
 *
 * 1. The reference is parsed first: a malformed name fails before any network traffic.
 * 2. Each blob (layers, then config) is checked with HEAD and skipped when present.
 * 3. A blob known to exist in another repository of the same registry (`origins.ts`) is
 *    mounted with `POST …/blobs/uploads/?mount=<digest>&from=<repo>`: 201 means mounted; a
 *    202 is an ordinary upload session, and the bytes go into it (no second POST).
 * 4. Uploads are monolithic (one PUT) for blobs up to the chunk size, else PATCH chunks with
 *    `Content-Range`, following each returned `Location`, resuming from the registry's
 *    `Range` after a failed chunk.
 * 5. The manifest goes last, byte for byte as stored, so its digest is unchanged.
 *
 * @module
 */
import { DigestMismatchError, NotFoundError } from "../../errors.ts";
import type { ContentStore } from "../content_store.ts";
import type { ImageStore } from "../image_store.ts";
import { type Descriptor, parseManifestDocument } from "../oci.ts";
import { formatReference, parseReference, repositoryName, withDefaultTag } from "../reference.ts";
import { DEFAULT_RETRY, RegistryClient, type RetryPolicy } from "./client.ts";
import { registryFetch } from "./tls.ts";
import { DEFAULT_REGISTRY_CONFIG, endpointsFor, type RegistryConfig } from "./config.ts";
import { type Credentials, getCredentials } from "./credentials.ts";
import { mountSources, recordBlobSources } from "./origins.ts";
import { type Progress, shortId, silentProgress } from "./progress.ts";
import { Limiter } from "./limiter.ts";
import { Repository, type UploadSession, UploadSessionLostError } from "./repository.ts";

/**
 * Blobs up to this size are uploaded in one PUT; larger ones are streamed in one PATCH, or,
 * after a failure, sent in PATCH chunks of this size.
 */
export const DEFAULT_CHUNK_SIZE = 32 << 20;

/** Options of {@linkcode pushImage}. */
export interface PushOptions {
  config?: RegistryConfig;
  credentials?: (registry: string) => Promise<Credentials | undefined>;
  retry?: RetryPolicy;
  progress?: Progress;
  /** Blobs uploaded at once (default: config's `max-concurrent-uploads`). */
  concurrency?: number;
  chunkSize?: number;
  /**
   * Send blobs larger than the chunk size as one streamed PATCH (default true); after a
   * failure, or with false, the rest goes in chunks.
   */
  stream?: boolean;
  /** Push every local tag of the repository (`-a`). */
  allTags?: boolean;
  fetch?: typeof fetch;
  /** certs.d directories with registry CAs and client certificates (see `tls.ts`). */
  certsDirs?: string[];
}

/** One pushed tag. */
export interface PushedTag {
  /** Full reference: `127.0.0.1:5000/team/app:1`. */
  name: string;
  tag: string;
  digest: string;
  size: number;
}

async function readRange(content: ContentStore, digest: string, offset: number, length: number) {
  const f = await content.open(digest);
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(length);
    let n = 0;
    while (n < length) {
      const r = await f.read(buf.subarray(n));
      if (r === null) throw new RangeError(`Blob ${digest} is shorter than expected`);
      n += r;
    }
    return buf;
  } finally {
    f.close();
  }
}

/** A blob's bytes from `offset` on, as a stream. */
function blobStream(content: ContentStore, digest: string, offset: number): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  return new ReadableStream<Uint8Array>({
    type: "bytes",
    async start() {
      file = await content.open(digest);
      await file.seek(offset, Deno.SeekMode.Start);
    },
    async pull(c) {
      const buf = new Uint8Array(1 << 20);
      const n = await file!.read(buf);
      if (n === null) {
        file!.close();
        c.close();
        return;
      }
      c.enqueue(buf.subarray(0, n));
    },
    cancel() {
      file?.close();
    },
  });
}

/**
 * Pushes `reference` (or, with `allTags`, every local tag of its repository).
 *
 * @example
 * ```ts
 * const pushed = await pushImage(store, "127.0.0.1:5000/team/app:1", { progress: createProgress() });
 * ```
 */
export async function pushImage(
  store: ImageStore,
  reference: string,
  options: PushOptions = {},
): Promise<PushedTag[]> {
  const parsed = parseReference(reference);
  if (parsed.digest && options.allTags) {
    throw new TypeError(`Cannot push all tags of a digest reference: ${reference}`);
  }
  const ref = options.allTags || parsed.digest ? parsed : withDefaultTag(parsed);
  const repoName = repositoryName(ref);
  let tags: string[];
  if (ref.digest) {
    // Pinned: the manifest goes to the repository under its digest, with no tag.
    const record = store.find(reference);
    if (record.digest !== ref.digest) {
      throw new TypeError(
        `Cannot push ${reference}: the digest names the index the local image came from; push ${repoName}@${record.digest}`,
      );
    }
    tags = [ref.digest];
  } else if (options.allTags && ref.tag === undefined) {
    const prefix = `${repoName}:`;
    tags = store.list().flatMap((img) =>
      img.names.filter((n) => n.startsWith(prefix) && !n.includes("@")).map((n) => n.slice(prefix.length))
    ).sort();
    if (!tags.length) throw new NotFoundError(`An image does not exist locally with the name: ${repoName}`);
  } else tags = [ref.tag!];
  const images = tags.map((tag) => {
    const full = tag.includes(":")
      ? formatReference({ ...ref, tag: undefined, digest: tag })
      : formatReference({ ...ref, tag, digest: undefined });
    try {
      return { tag, full, record: store.find(full) };
    } catch (e) {
      if (e instanceof NotFoundError) {
        throw new NotFoundError(
          `An image does not exist locally with the tag: ${repoName}${tag === "latest" ? "" : `:${tag}`}`,
        );
      }
      throw e;
    }
  });

  const config = options.config ?? DEFAULT_REGISTRY_CONFIG;
  const progress = options.progress ?? silentProgress;
  const endpoint = endpointsFor(ref.domain, config, "push")[0];
  const client = await RegistryClient.connect(endpoint, {
    credentials: await (options.credentials ?? getCredentials)(ref.domain),
    retry: options.retry ??
      { ...DEFAULT_RETRY, attempts: config.maxAttempts, idleTimeoutMs: config.idleTimeoutMs },
    fetch: options.fetch ?? await registryFetch(ref.domain, options.certsDirs ?? []),
  });
  progress.message(`The push refers to repository [${repoName}]`);

  // Mount sources decide the scopes: one token covers the push and the mounts.
  const plans = [];
  for (const img of images) {
    const bytes = await store.content.readBytes(img.record.digest);
    const doc = parseManifestDocument(bytes);
    if (doc.kind !== "manifest") throw new TypeError(`Not an image manifest: ${img.record.digest}`);
    plans.push({ ...img, bytes, mediaType: doc.mediaType, manifest: doc.manifest });
  }
  const sources = new Map<string, string>();
  for (const p of plans) {
    for (const d of [...p.manifest.layers, p.manifest.config]) {
      const from = mountSources(store.db, d.digest, ref.domain, ref.path)[0];
      if (from) sources.set(d.digest, from);
    }
  }
  const extra = [...new Set(sources.values())].map((r) => `repository:${r}:pull`);
  const repo = new Repository(client, ref.path, "push", extra);
  const pushed: PushedTag[] = [];
  const done = new Set<string>();
  for (const p of plans) {
    const blobs = [...new Map([...p.manifest.layers, p.manifest.config].map((d) => [d.digest, d])).values()]
      .filter((d) => !done.has(d.digest));
    await pushBlobs(repo, store, blobs, p.manifest.config.digest, sources, progress, {
      concurrency: options.concurrency ?? config.maxConcurrentUploads,
      chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      stream: options.stream ?? true,
    });
    for (const b of blobs) done.add(b.digest);
    const echoed = await repo.putManifest(p.tag, p.bytes, p.mediaType);
    if (echoed && echoed !== p.record.digest) {
      throw new DigestMismatchError(
        p.record.digest,
        echoed,
        `manifest pushed as ${p.full} (registry computed)`,
      );
    }
    recordBlobSources(
      store.db,
      ref.domain,
      ref.path,
      [...p.manifest.layers, p.manifest.config].map((d) => d.digest),
    );
    progress.close();
    progress.message(`${p.tag}: digest: ${p.record.digest} size: ${p.bytes.length}`);
    pushed.push({ name: p.full, tag: p.tag, digest: p.record.digest, size: p.bytes.length });
  }
  return pushed;
}

async function pushBlobs(
  repo: Repository,
  store: ImageStore,
  blobs: Descriptor[],
  configDigest: string,
  sources: Map<string, string>,
  progress: Progress,
  options: { concurrency: number; chunkSize: number; stream: boolean },
): Promise<void> {
  const shown = (d: Descriptor) => d.digest !== configDigest;
  for (const d of blobs) if (shown(d)) progress.update(shortId(d.digest), "Preparing");
  blobs.filter(shown).slice(options.concurrency).forEach((d) =>
    progress.update(shortId(d.digest), "Waiting")
  );
  const limiter = new Limiter(options.concurrency);
  let failure: unknown;
  await Promise.all(blobs.map((d) =>
    limiter.run(async () => {
      if (failure) return;
      try {
        await pushBlob(repo, store, d, sources.get(d.digest), shown(d) ? progress : silentProgress, options);
      } catch (e) {
        failure ??= e;
      }
    })
  ));
  if (failure) throw failure;
}

async function pushBlob(
  repo: Repository,
  store: ImageStore,
  d: Descriptor,
  from: string | undefined,
  progress: Progress,
  options: { chunkSize: number; stream: boolean },
): Promise<void> {
  const id = shortId(d.digest);
  if (await repo.hasBlob(d.digest)) {
    progress.update(id, "Layer already exists");
    return;
  }
  const size = await store.content.size(d.digest);
  if (size === undefined) {
    throw new NotFoundError(`Blob ${d.digest} is not in the local content store and not on the registry`);
  }
  if (size !== d.size) {
    throw new DigestMismatchError(
      d.digest,
      `(${size} bytes stored, ${d.size} in the manifest)`,
      `blob ${d.digest}`,
    );
  }
  const started = await repo.startUpload(from ? { digest: d.digest, from } : undefined);
  if ("mounted" in started) {
    progress.update(id, `Mounted from ${from}`);
    return;
  }
  let session: UploadSession = started;
  for (let attempt = 1;; attempt++) {
    progress.update(id, "Pushing", { current: 0, total: size });
    try {
      await repo.upload(session, d.digest, size, (o, n) => readRange(store.content, d.digest, o, n), {
        chunkSize: options.chunkSize,
        stream: options.stream ? (o) => blobStream(store.content, d.digest, o) : undefined,

        onBytes: (n) => progress.update(id, "Pushing", { current: n, total: size }),
      });
      break;
    } catch (e) {
      // The registry cannot say where a broken session stands: start over in a new one.
      if (!(e instanceof UploadSessionLostError) || attempt >= 3) throw e;
      const fresh = await repo.startUpload();
      if ("mounted" in fresh) return;
      session = fresh;
    }
  }
  progress.update(id, "Pushed");
}
