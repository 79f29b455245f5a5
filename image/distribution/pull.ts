/**
 * `pullImage`: fetch an image from a registry into the local stores, verified.
 *
 * 1. The reference is parsed first, so a malformed name (`Team/App`) fails before any
 *    network traffic.
 * 2. Mirrors are tried before the registry (see `config.ts`); any failure on a mirror falls
 *    through to the next endpoint.
 * 3. By tag: HEAD with the full Accept list; when it names a digest already stored, the
 *    local bytes are used. Otherwise GET by tag, hash the bytes, and refuse them if a
 *    `Docker-Content-Digest` header (on the HEAD or the GET) disagrees. By digest: GET and
 *    refuse unless the bytes hash to the digest asked for.
 * 4. An index is narrowed to one platform (host default, `--platform`), whose manifest is
 *    fetched by digest and verified the same way.
 * 5. The config and the layers not yet in the content store are fetched — layers in
 *    parallel, each hashed while it streams into the store, resumed with `Range` after a
 *    dropped connection, a stalled body or an earlier killed run, and refused (and its
 *    partial data removed) when the bytes do not match.
 * 6. Meanwhile layers are unpacked into snapshots bottom up, each as soon as it and those
 *    below it are stored (a {@linkcode LayerUnpacker}; `unpacker.ts` is the real one).
 * 7. Only when every blob is stored are the manifest (and index) written, the image
 *    recorded and the name tagged — a failure leaves no tag pointing at partial content.
 *    Where each blob came from is remembered for cross-repository mounts (`origins.ts`).

 *
 * @module
 */
import { DigestMismatchError } from "../../errors.ts";
import type { ContentStore } from "../content_store.ts";
import type { ImageRecord, ImageStore, LoadedImage } from "../image_store.ts";
import {
  type Descriptor,
  formatPlatform,
  hostPlatform,
  type Manifest,
  parseImageConfig,
  parseManifestDocument,
  type Platform,
  platformMatches,
  selectPlatform,
} from "../oci.ts";
import {
  familiarName,
  formatReference,
  parseReference,
  type Reference,
  withDefaultTag,
} from "../reference.ts";
import { DEFAULT_RETRY, RegistryClient, type RetryPolicy } from "./client.ts";
import { registryFetch } from "./tls.ts";
import { DEFAULT_REGISTRY_CONFIG, type Endpoint, endpointsFor, type RegistryConfig } from "./config.ts";
import { type Credentials, getCredentials } from "./credentials.ts";
import { recordBlobSources } from "./origins.ts";
import { type Progress, shortId, silentProgress } from "./progress.ts";
import { Limiter } from "./limiter.ts";
import { type FetchedManifest, Repository } from "./repository.ts";

/**
 * Unpacks layers as they arrive. `unpack(image, i)` is called in layer order, once layer
 * `i`'s blob is stored and every layer below it is unpacked; it returns whether it had work
 * to do. {@linkcode snapshotUnpacker} is the real one (the snapshot store).
 */
export interface LayerUnpacker {
  unpack(image: LoadedImage, index: number): Promise<boolean>;
}

/** Options of {@linkcode pullImage}. */
export interface PullOptions {
  /** Platform to select from an index (default: the host's). */
  platform?: Platform;
  /** Whether `platform` was asked for explicitly (then a single-platform image must match). */
  platformExplicit?: boolean;
  config?: RegistryConfig;
  /** Credentials lookup (default: Docker's config file and helpers). */
  credentials?: (registry: string) => Promise<Credentials | undefined>;
  retry?: RetryPolicy;
  progress?: Progress;
  /** Layers fetched at once (default: config's `max-concurrent-downloads`). */
  concurrency?: number;
  unpack?: LayerUnpacker;
  /** `fetch` to use (tests). */
  fetch?: typeof fetch;
  /** certs.d directories with registry CAs and client certificates (see `tls.ts`). */
  certsDirs?: string[];
}

/** What a pull did. */
export interface PullResult {
  /** Full reference recorded: `127.0.0.1:5000/team/app:1`, `docker.io/library/busybox:latest`. */
  name: string;
  /** Familiar form for messages: `busybox:latest`. */
  familiar: string;
  /** Digest of what the reference names (an index or a manifest). */
  digest: string;
  /** The image manifest recorded. */
  image: ImageRecord;
  /** True when nothing changed locally (the name already pointed here, no blob fetched). */
  upToDate: boolean;
  /** Blobs downloaded. */
  downloaded: number;
}

/**
 * Pulls `reference` into `store`.
 *
 * @example
 * ```ts
 * const store = ImageStore.open(root, [distributionSchema]);
 * const r = await pullImage(store, "127.0.0.1:5000/team/app:1", { progress: createProgress() });
 * console.log(`Digest: ${r.digest}`);
 * ```
 */
export async function pullImage(
  store: ImageStore,
  reference: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const ref = withDefaultTag(parseReference(reference));
  const config = options.config ?? DEFAULT_REGISTRY_CONFIG;
  const endpoints = endpointsFor(ref.domain, config, "pull");
  let lastError: unknown;
  for (const endpoint of endpoints) {
    try {
      return await pullFrom(store, ref, endpoint, options, config);
    } catch (e) {
      lastError = e;
      if (!endpoint.mirror) throw e;
    }
  }
  throw lastError;
}

/** The tags of a repository (for `pull --all-tags`). */
export async function listRemoteTags(reference: string, options: PullOptions = {}): Promise<string[]> {
  const ref = parseReference(reference);
  const config = options.config ?? DEFAULT_REGISTRY_CONFIG;
  const endpoint = endpointsFor(ref.domain, config, "push")[0];
  const client = await RegistryClient.connect(endpoint, {
    credentials: await (options.credentials ?? getCredentials)(ref.domain),
    retry: options.retry ??
      { ...DEFAULT_RETRY, attempts: config.maxAttempts, idleTimeoutMs: config.idleTimeoutMs },
    fetch: options.fetch ?? await registryFetch(ref.domain, options.certsDirs ?? []),
  });
  return await new Repository(client, ref.path, "pull").listTags();
}

async function localBytes(
  content: ContentStore,
  digest: string,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    return await content.has(digest) ? await content.readBytes(digest) : undefined;
  } catch {
    return undefined;
  }
}

async function pullFrom(
  store: ImageStore,
  ref: Reference,
  endpoint: Endpoint,
  options: PullOptions,
  config: RegistryConfig,
): Promise<PullResult> {
  const progress = options.progress ?? silentProgress;
  const content = store.content;
  const client = await RegistryClient.connect(endpoint, {
    credentials: await (options.credentials ?? getCredentials)(ref.domain),
    retry: options.retry ??
      { ...DEFAULT_RETRY, attempts: config.maxAttempts, idleTimeoutMs: config.idleTimeoutMs },
    fetch: options.fetch ?? await registryFetch(ref.domain, options.certsDirs ?? []),
  });
  const repo = new Repository(client, ref.path, "pull");
  const name = formatReference(ref);
  const refText = ref.digest ?? ref.tag!;

  // --- resolve the reference to verified manifest bytes
  let top: FetchedManifest;
  let downloaded = 0;
  const fetched: { digest: string; bytes: Uint8Array<ArrayBuffer> }[] = [];
  if (ref.digest) {
    const local = await localBytes(content, ref.digest);
    top = local ? { bytes: local, digest: ref.digest, mediaType: "" } : await repo.getManifest(ref.digest);
    if (!local) fetched.push(top);
  } else {
    const head = await repo.headManifest(ref.tag!);
    const local = head?.digest ? await localBytes(content, head.digest) : undefined;
    if (local && head?.digest) top = { bytes: local, digest: head.digest, mediaType: head.mediaType ?? "" };
    else {
      top = await repo.getManifest(ref.tag!);
      if (head?.digest && head.digest !== top.digest) {
        throw new DigestMismatchError(
          head.digest,
          top.digest,
          `manifest ${ref.tag} (Docker-Content-Digest of HEAD)`,
        );
      }
      fetched.push(top);
    }
  }
  progress.message(`${refText}: Pulling from ${ref.path}`);

  let doc = parseManifestDocument(top.bytes, top.mediaType || undefined);
  let manifestBytes = top.bytes;
  let manifestDigest = top.digest;
  let indexDigest: string | undefined;
  const want = options.platform ?? hostPlatform();
  if (doc.kind === "index") {
    indexDigest = top.digest;
    const chosen = selectPlatform(doc.index, want);
    const local = await localBytes(content, chosen.digest);
    const child = local
      ? { bytes: local, digest: chosen.digest, mediaType: chosen.mediaType }
      : await repo.getManifest(chosen.digest);
    if (!local) fetched.push(child);
    doc = parseManifestDocument(child.bytes, chosen.mediaType);
    if (doc.kind !== "manifest") throw new TypeError(`Index entry ${chosen.digest} is not an image manifest`);
    manifestBytes = child.bytes;
    manifestDigest = child.digest;
  }
  const manifest: Manifest = doc.manifest;

  // --- config and layers, side by side (the config is checked first only when the
  // platform was named and there was no index to choose by)
  let configFetched = 0;
  const configTask = (async () => {
    if (!(await content.has(manifest.config.digest))) {
      const bytes = await repo.getBlobBytes(manifest.config.digest, manifest.config.size);
      if (bytes.length !== manifest.config.size) {
        throw new DigestMismatchError(manifest.config.digest, `(${bytes.length} bytes)`, "config");
      }
      parseImageConfig(bytes);
      await content.put(bytes, { expected: manifest.config.digest });
      configFetched = 1;
    }
    return parseImageConfig(await content.readBytes(manifest.config.digest));
  })();
  configTask.catch(() => {}); // awaited below; a failure must not count as unhandled meanwhile

  if (options.platformExplicit && !indexDigest) {
    const imageConfig = await configTask;
    const have: Platform = { os: imageConfig.os, architecture: imageConfig.architecture };
    if (imageConfig.variant) have.variant = imageConfig.variant;
    if (!platformMatches(have, want)) {
      throw new TypeError(
        `image with reference ${name} was found but its platform (${
          formatPlatform(have)
        }) does not match the specified platform (${formatPlatform(want)})`,
      );
    }
  }
  const fetching = await startLayerFetch(repo, content, manifest.layers, progress, {
    concurrency: options.concurrency ?? config.maxConcurrentDownloads,
  });
  // Unpack bottom up, each layer as soon as it and those below it are in: extraction of
  // early layers overlaps the download of later ones.
  const unpacking = (async () => {
    const imageConfig = await configTask;
    if (!options.unpack) return;
    const image: LoadedImage = {
      digest: manifestDigest,
      configDigest: manifest.config.digest,
      mediaType: doc.mediaType,
      size: manifestBytes.length,
      created: Date.now(),
      names: [],
      manifest,
      config: imageConfig,
    };
    for (let i = 0; i < manifest.layers.length; i++) {
      const l = manifest.layers[i];
      const fresh = fetching.downloads.has(l.digest);
      await (fetching.downloads.get(l.digest) ?? Promise.resolve());
      if (fresh) progress.update(shortId(l.digest), "Extracting");
      await options.unpack.unpack(image, i);
      if (fresh) progress.update(shortId(l.digest), "Pull complete");
    }
  })();
  // The manifest (and index) are stored once every blob they name is, while the last
  // layers may still be unpacking: their fsyncs overlap the extraction.
  const manifestsStored = Promise.all([configTask, fetching.all]).then(async () => {
    for (const f of fetched) await content.put(f.bytes, { expected: f.digest });
    if (!(await content.has(manifestDigest))) await content.put(manifestBytes, { expected: manifestDigest });
  });
  const settled = await Promise.allSettled([configTask, fetching.all, unpacking, manifestsStored]);
  const failure = settled.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  if (failure) throw fetching.firstError() ?? failure.reason;
  const fetchedLayers = (settled[1] as PromiseFulfilledResult<Descriptor[]>).value;
  downloaded += fetchedLayers.length + configFetched + fetched.length;

  // --- record, tag

  const before = (() => {
    try {
      return store.find(name).digest;
    } catch {
      return undefined;
    }
  })();
  await store.addImage(manifestDigest, indexDigest ? { indexDigest } : {});
  if (!options.unpack) { for (const l of fetchedLayers) progress.update(shortId(l.digest), "Pull complete"); }
  store.tag(name, manifestDigest);
  recordBlobSources(store.db, ref.domain, ref.path, [
    manifest.config.digest,
    ...manifest.layers.map((l) => l.digest),
  ]);
  progress.close();
  return {
    name,
    familiar: familiarName(ref),
    digest: top.digest,
    image: store.get(manifestDigest)!,
    upToDate: downloaded === 0 && before === manifestDigest,
    downloaded,
  };
}

/** Layer downloads in flight. */
interface LayerFetch {
  /** Digest → its download, for the layers that were missing. */
  downloads: Map<string, Promise<void>>;
  /** Every download; resolves to the layers downloaded. */
  all: Promise<Descriptor[]>;
  /** The first failure (the cause; later failures are often its consequence). */
  firstError(): unknown;
}

/** Finds the layers missing from the content store and starts fetching them. */
async function startLayerFetch(
  repo: Repository,
  content: ContentStore,
  layers: Descriptor[],
  progress: Progress,
  options: { concurrency: number },
): Promise<LayerFetch> {
  const unique = [...new Map(layers.map((l) => [l.digest, l])).values()];
  const missing: Descriptor[] = [];
  const present: Descriptor[] = [];
  for (const l of unique) (await content.has(l.digest) ? present : missing).push(l);
  if (missing.length) {
    // Docker lists the layers it already has only when it has to fetch others.
    for (const l of present) progress.update(shortId(l.digest), "Already exists");
    for (const l of missing) progress.update(shortId(l.digest), "Pulling fs layer");
    missing.slice(options.concurrency).forEach((l) => progress.update(shortId(l.digest), "Waiting"));
  }
  const abort = new AbortController();
  const limiter = new Limiter(options.concurrency);
  const downloads = new Map<string, Promise<void>>();
  for (const l of missing) {
    const p = limiter.run(async () => {
      if (abort.signal.aborted) throw abort.signal.reason;
      try {
        await downloadLayer(repo, content, l, progress);
      } catch (e) {
        if (!abort.signal.aborted) abort.abort(e);
        throw e;
      }
    });
    p.catch(() => {}); // reported through `all`
    downloads.set(l.digest, p);
  }
  const all = Promise.allSettled(downloads.values()).then((results) => {
    if (results.some((r) => r.status === "rejected")) throw abort.signal.reason;
    return missing;
  });
  return { downloads, all, firstError: () => abort.signal.aborted ? abort.signal.reason : undefined };
}

/** Downloads one layer into the content store, verified; resumes an earlier partial write. */
async function downloadLayer(repo: Repository, content: ContentStore, layer: Descriptor, progress: Progress) {
  const id = shortId(layer.digest);
  for (let fresh = false;; fresh = true) {
    const w = await content.writer({ expected: layer.digest, expectedSize: layer.size, resumable: true });
    if (await content.has(layer.digest)) {
      // Another process finished it while this one waited for the lock.
      await w.abort(false);
      progress.update(id, "Download complete");
      return;
    }
    const resumedFrom = w.offset;
    try {
      progress.update(id, "Downloading", { current: w.offset, total: layer.size });
      await repo.fetchBlob(layer.digest, layer.size, w, (done) => {
        progress.update(id, "Downloading", { current: done, total: layer.size });
      });
      progress.update(id, "Verifying Checksum");
      await w.commit();
      progress.update(id, "Download complete");
      return;
    } catch (e) {
      if (e instanceof DigestMismatchError || e instanceof RangeError) {
        // Corrupt bytes are never kept, not even for resuming.
        await w.abort(true);
        if (resumedFrom > 0 && !fresh) continue; // the earlier partial may be the bad part
        throw new DigestMismatchError(
          layer.digest,
          e instanceof DigestMismatchError ? e.actual : "(wrong size)",
          `layer ${layer.digest} (verification failed, the downloaded data was removed)`,
        );
      }
      await w.abort(false); // keep what arrived: the next pull resumes it
      throw e;
    }
  }
}
