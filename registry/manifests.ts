/**
 * Manifests by tag or digest, and the referrers API. A manifest's bytes are a blob like any
 * other (stored exactly as pushed, under their digest); the metadata store indexes them per
 * repository with their references, subject and artifact type. Manifests are immutable by
 * digest, so their bytes are cached in memory (bounded) for the GET hot path.
 *
 * @module
 */
import { digestOf, parseDigest } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";
import type { BlobStore } from "./blob_store.ts";
import type { StorageDriver } from "./driver.ts";
import { RegistryError } from "./errors.ts";
import { ByteCache } from "./byte_cache.ts";
import { blobKey } from "./layout.ts";
import { parseManifest } from "./manifest_validation.ts";
import type { ManifestRecord, MetadataStore } from "./metadata.ts";
import { isTag, parseManifestReference, type Reference } from "./names.ts";
import type { ManifestService, StoredManifest } from "./services.ts";

/** Default bound of the manifest byte cache. */
const CACHE_BYTES = 64 * 1024 * 1024;

function manifestUnknown(repository: string, reference: string): RegistryError {
  return new RegistryError("MANIFEST_UNKNOWN", `Manifest unknown to registry: ${repository}:${reference}`, {
    detail: { name: repository, reference },
  });
}

/**
 * The manifest service.
 *
 * @example
 * ```ts
 * const manifests = new Manifests(driver, metadata, blobs);
 * const { digest } = await manifests.put("team/app", "v1", bytes, MediaType.OCI_MANIFEST);
 * ```
 */
export class Manifests implements ManifestService {
  readonly #driver: StorageDriver;
  readonly #meta: MetadataStore;
  readonly #blobs: BlobStore;
  readonly #cache: ByteCache;

  constructor(
    driver: StorageDriver,
    metadata: MetadataStore,
    blobs: BlobStore,
    options: { cacheBytes?: number } = {},
  ) {
    this.#driver = driver;
    this.#meta = metadata;
    this.#blobs = blobs;
    this.#cache = new ByteCache(options.cacheBytes ?? CACHE_BYTES);
  }

  async stat(repository: string, reference: string): Promise<ManifestRecord> {
    const ref = parseManifestReference(reference);
    const record = ref && await this.#meta.getManifest(repository, ref);
    if (!record) throw manifestUnknown(repository, reference);
    return record;
  }

  async get(repository: string, reference: string): Promise<StoredManifest> {
    const record = await this.stat(repository, reference);
    let bytes = this.#cache.get(record.digest);
    if (!bytes) {
      try {
        bytes = await this.#driver.read(blobKey(record.digest));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) throw manifestUnknown(repository, reference);
        throw e;
      }
      this.#cache.set(record.digest, bytes);
    }
    return { record, bytes };
  }

  async put(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    contentType: string | null,
  ): Promise<{ digest: string; subject?: string }> {
    const ref: Reference | undefined = parseManifestReference(reference);
    if (!ref) {
      throw new RegistryError(
        "MANIFEST_INVALID",
        reference.includes(":") || !isTag(reference)
          ? `Invalid reference ${
            JSON.stringify(reference)
          }: a tag matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, a digest is algorithm:hex`
          : `Invalid reference ${JSON.stringify(reference)}`,
        { detail: { reference } },
      );
    }
    const parsed = parseManifest(bytes, contentType);
    const digest = digestOf(bytes, ref.digest ? parseDigest(ref.digest).algorithm : "sha256");
    if (ref.digest && ref.digest !== digest) {
      throw new RegistryError("DIGEST_INVALID", `The manifest's digest is ${digest}, not ${ref.digest}`, {
        detail: { expected: ref.digest, actual: digest },
      });
    }
    const record: ManifestRecord = { digest, mediaType: parsed.mediaType, size: bytes.length };
    if (parsed.subject) record.subject = parsed.subject;
    if (parsed.artifactType) record.artifactType = parsed.artifactType;
    if (parsed.annotations) record.annotations = parsed.annotations;

    const tmp = `tmp/${crypto.randomUUID()}`;
    let pin: string;
    try {
      const w = await this.#driver.writer(tmp);
      try {
        await w.write(bytes);
        await w.close();
      } finally {
        await w.abort();
      }
      pin = await this.#blobs.place(tmp, digest);
    } catch (e) {
      await this.#driver.delete(tmp).catch(() => {});
      throw e;
    }
    let missing;
    try {
      missing = await this.#meta.putManifest(repository, record, parsed.references, { tag: ref.tag, pin });
    } catch (e) {
      await this.#meta.releasePin(pin);
      throw e;
    }
    if (missing.length) {
      await this.#meta.releasePin(pin);
      const sized = missing.filter((m) => m.problem === "size");
      if (sized.length && sized.length === missing.length) {
        const m = sized[0];
        throw new RegistryError(
          "MANIFEST_INVALID",
          `The manifest says ${m.reference.digest} has ${m.reference.size} bytes; the registry has ${m.actualSize}`,
          {
            detail: sized.map((s) => ({
              digest: s.reference.digest,
              size: s.reference.size,
              actual: s.actualSize,
            })),
          },
        );
      }
      const first = missing[0].reference;
      throw new RegistryError(
        "MANIFEST_BLOB_UNKNOWN",
        `The manifest references ${
          first.kind === "manifest" ? "a manifest" : "a blob"
        } unknown to ${repository}: ${first.digest}${
          missing.length > 1 ? ` (and ${missing.length - 1} more)` : ""
        }`,
        { detail: missing.map((m) => ({ digest: m.reference.digest, kind: m.reference.kind })) },
      );
    }
    this.#cache.set(digest, bytes);
    return parsed.subject ? { digest, subject: parsed.subject } : { digest };
  }

  async delete(repository: string, reference: string): Promise<void> {
    const ref = parseManifestReference(reference);
    if (!ref) throw manifestUnknown(repository, reference);
    const deleted = ref.digest !== undefined
      ? await this.#meta.deleteManifest(repository, ref.digest)
      : await this.#meta.deleteTag(repository, ref.tag);
    if (!deleted) throw manifestUnknown(repository, reference);
  }

  async referrers(repository: string, digest: string, artifactType?: string): Promise<Uint8Array> {
    const manifests = (await this.#meta.referrers(repository, digest, artifactType)).map((m) => {
      const d: Record<string, unknown> = { mediaType: m.mediaType, digest: m.digest, size: m.size };
      if (m.artifactType !== undefined) d.artifactType = m.artifactType;
      if (m.annotations) d.annotations = m.annotations;
      return d;
    });
    return new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests }),
    );
  }
}
