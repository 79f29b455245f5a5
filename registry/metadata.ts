/**
 * The metadata-store interface: what the registry knows ABOUT the bytes — which
 * repositories exist, which blobs each repository may serve (links), manifests with their
 * references, tags, upload sessions, and the pins and tombstones that let garbage
 * collection run while pushes are in flight. SQLite implements it now
 * ({@linkcode ./metadata_sqlite.ts}); PostgreSQL can later. Methods are async so that a
 * networked database fits the same interface.
 *
 * The GC protocol (why pins and tombstones exist):
 * 1. A writer that is about to move bytes under a blob key first {@linkcode MetadataStore.pinBlob}s
 *    the digest. Pinning fails while GC holds a tombstone for that digest (GC is deleting the
 *    file), and the writer retries after the tombstone is gone.
 * 2. GC decides what to delete in ONE transaction ({@linkcode MetadataStore.sweep}): it never
 *    picks a pinned digest or a link younger than the grace period, and it replaces every
 *    chosen blob row with a tombstone in the same transaction, so a manifest that commits
 *    later cannot refer to it (its link is gone), and a writer that commits earlier has kept
 *    it (its link or pin is there).
 * 3. GC deletes the tombstoned files, then clears the tombstones. Right before deleting a
 *    file it claims the tombstone again ({@linkcode MetadataStore.claimTombstone}), because a
 *    writer may have taken over a tombstone left stale by a GC that died.
 *
 * @module
 */

/** A stored manifest as the registry indexes it. */
export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  /** Digest of the manifest's `subject`, if any. */
  subject?: string;
  /** The artifact type the referrers API reports (`artifactType`, else the config's media type). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Something a manifest refers to and that must exist in the repository first. */
export interface ManifestReference {
  digest: string;
  /** `blob` for config and layers, `manifest` for the children of an index. */
  kind: "blob" | "manifest";
  /** The size the manifest declares (checked against the stored blob). */
  size: number;
}

/** Why a manifest reference is not satisfied. */
export interface MissingReference {
  reference: ManifestReference;
  /** `unknown` when absent; `size` when present with another size (then `actualSize` is set). */
  problem: "unknown" | "size";
  actualSize?: number;
}

/** A page request: entries strictly after `last` in byte order, at most `n` of them. */
export interface PageQuery {
  last?: string;
  n?: number;
}

/** An open upload session. */
export interface UploadRecord {
  id: string;
  repository: string;
  /** ms since epoch. */
  started: number;
}

/** Options of {@linkcode MetadataStore.sweep}. */
export interface SweepOptions {
  /** Anything created or touched at or after this time (ms) is kept (the grace period). */
  cutoff: number;
  /** Keep manifests that no tag reaches. */
  keepUntagged?: boolean;
  /** Decide but change nothing. */
  dryRun?: boolean;
  /** Blob digests found in storage and older than the cutoff, to collect files that have no row. */
  filesOnDisk?: string[];
}

/** What a sweep removed (or would remove, on a dry run). */
export interface SweepResult {
  /** `repository@digest` of each manifest removed. */
  manifests: string[];
  /** `repository@digest` of each blob link removed. */
  links: string[];
  /** Blob digests now tombstoned: their files are to be deleted. */
  blobs: string[];
  /** Bytes of the tombstoned blobs that had rows. */
  bytes: number;
}

/**
 * The registry's metadata.
 *
 * @example
 * ```ts
 * const meta: MetadataStore = SqliteMetadataStore.open("/var/lib/ctr/registry/registry.db");
 * await meta.listTags("library/busybox", { n: 10 });
 * ```
 */
export interface MetadataStore {
  /** Whether the repository exists (has had a blob or manifest). */
  repositoryExists(name: string): Promise<boolean>;
  /** Repository names in byte order, paginated. */
  listRepositories(page: PageQuery): Promise<string[]>;

  /** Size of a blob linked into `repository`, or undefined. */
  linkedBlobSize(repository: string, digest: string): Promise<number | undefined>;
  /** Removes a blob link; false when it was not linked. */
  unlinkBlob(repository: string, digest: string): Promise<boolean>;
  /** Links a blob from `from` into `repository` if `from` has it; returns its size. */
  mountBlob(repository: string, from: string, digest: string): Promise<number | undefined>;
  /**
   * Pins `digest` for a writer about to move bytes under its key. Returns the pin id, or
   * undefined while GC holds a tombstone for the digest (retry shortly).
   */
  pinBlob(digest: string): Promise<string | undefined>;
  /** Records the blob (size) and links it into `repository`, releasing the pin. */
  commitBlob(pin: string, repository: string, digest: string, size: number): Promise<void>;
  /** Releases a pin without recording anything (the write failed). */
  releasePin(pin: string): Promise<void>;

  /** A manifest by tag or digest. */
  getManifest(
    repository: string,
    reference: { tag?: string; digest?: string },
  ): Promise<ManifestRecord | undefined>;
  /**
   * Records a manifest whose bytes are stored (under the blob key of its digest, pinned by
   * `pin`), its references and optionally a tag. Checks in the same transaction that every
   * reference exists in the repository; when some do not, records nothing and returns them.
   */
  putManifest(
    repository: string,
    manifest: ManifestRecord,
    references: ManifestReference[],
    options: { tag?: string; pin: string },
  ): Promise<MissingReference[]>;
  /** Removes a manifest and the tags that point to it; false when absent. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  /** Removes a tag; false when absent. */
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** Tags in byte order, paginated; undefined when the repository does not exist. */
  listTags(repository: string, page: PageQuery): Promise<string[] | undefined>;
  /** Manifests of `repository` whose subject is `digest`, optionally of one artifact type. */
  referrers(repository: string, digest: string, artifactType?: string): Promise<ManifestRecord[]>;

  /** Records a new upload session. */
  createUpload(upload: UploadRecord): Promise<void>;
  /** An upload session, or undefined. */
  getUpload(id: string): Promise<UploadRecord | undefined>;
  /** Forgets an upload session. */
  deleteUpload(id: string): Promise<void>;
  /** Sessions started before `time` (ms). */
  uploadsStartedBefore(time: number): Promise<UploadRecord[]>;

  /** Decides what GC removes and tombstones the blobs (see the module doc). */
  sweep(options: SweepOptions): Promise<SweepResult>;
  /** Digests currently tombstoned (files GC still has to delete). */
  tombstones(): Promise<string[]>;
  /**
   * Refreshes a tombstone right before its file is deleted; false when it is gone (a writer
   * took over a stale one, and the file is the writer's now).
   */
  claimTombstone(digest: string): Promise<boolean>;
  /** Clears a tombstone after its file is gone. */
  clearTombstone(digest: string): Promise<void>;

  /** Number of blobs and their total size, for metrics. */
  storageStats(): Promise<{ blobs: number; bytes: number; repositories: number; uploads: number }>;
  /** Releases the store. */
  close(): void;
}
