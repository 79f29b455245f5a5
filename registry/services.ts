/**
 * The registry's domain vocabulary, as small interfaces. The HTTP layer (`handler.ts`)
 * speaks only these; `blob_store.ts`, `uploads.ts`, `manifests.ts` and `tags.ts` implement
 * them over a {@linkcode StorageDriver} (bytes) and a {@linkcode MetadataStore} (what the
 * bytes are). Every method throws {@linkcode RegistryError} with the spec's code when the
 * client is at fault.
 *
 * ```text
 *            handler.ts (routes, headers, auth)
 *                 │
 *   BlobService  UploadService  ManifestService  TagService
 *         └──────────┴──────┬───────┴──────────────┘
 *              StorageDriver + MetadataStore
 * ```
 *
 * @module
 */
import type { StorageDriver } from "./driver.ts";
import type { ManifestRecord, MetadataStore, PageQuery } from "./metadata.ts";

/** A byte range, inclusive on both ends. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A blob opened for reading. */
export interface BlobContent {
  /** Total size of the blob. */
  size: number;
  /** The bytes of `range` (or all of them). */
  stream: ReadableStream<Uint8Array>;
  /** The range served, when the request asked for one. */
  range?: ByteRange;
  /** The open file behind the stream, when storage is local (see `FileReader.file`). */
  file?: { handle: Deno.FsFile; length: number };
  /** The bytes themselves, when the blob is small and held in memory. */
  bytes?: Uint8Array;
}

/** Blobs as a repository sees them: only those linked into it. */
export interface BlobService {
  /** Size of a blob linked into `repository`; throws BLOB_UNKNOWN. */
  stat(repository: string, digest: string): Promise<number>;
  /** Opens a linked blob, optionally one range of it; throws BLOB_UNKNOWN. */
  open(repository: string, digest: string, range?: ByteRange): Promise<BlobContent>;
  /** Unlinks a blob from `repository` (bytes go at the next GC); throws BLOB_UNKNOWN. */
  delete(repository: string, digest: string): Promise<void>;
  /** Links a blob of `from` into `repository`; undefined when `from` does not have it. */
  mount(repository: string, from: string, digest: string): Promise<number | undefined>;
}

/** Where an upload session stands. */
export interface UploadStatus {
  id: string;
  /** Bytes received so far. */
  offset: number;
}

/** The body of an upload request. */
export interface UploadChunk {
  body: ReadableStream<Uint8Array> | null;
  /** `Content-Range` of the chunk, when the client sent one. */
  range?: ByteRange;
  /** `Content-Length`, when the client sent one. */
  length?: number;
  /** Told how many bytes arrived, chunk by chunk (for metrics). */
  onBytes?: (n: number) => void;
}

/** Blob upload sessions (POST, PATCH, PUT, GET, DELETE on `…/blobs/uploads/`). */
export interface UploadService {
  /** Opens a session. */
  start(repository: string): Promise<UploadStatus>;
  /** A session's state; throws BLOB_UPLOAD_UNKNOWN. */
  status(repository: string, id: string): Promise<UploadStatus>;
  /** Appends a chunk; 416 when it does not start where the session stands. */
  append(repository: string, id: string, chunk: UploadChunk): Promise<UploadStatus>;
  /** Appends an optional last chunk, verifies `digest`, and stores the blob. */
  complete(repository: string, id: string, digest: string, chunk: UploadChunk): Promise<{ size: number }>;
  /** Stores a whole blob sent in one request (`POST …/uploads/?digest=`). */
  putWhole(repository: string, digest: string, chunk: UploadChunk): Promise<{ size: number }>;
  /** Abandons a session; throws BLOB_UPLOAD_UNKNOWN. */
  cancel(repository: string, id: string): Promise<void>;
  /** Removes sessions older than the time-to-live; returns how many. */
  purgeExpired(): Promise<number>;
}

/** A manifest with its bytes. */
export interface StoredManifest {
  record: ManifestRecord;
  bytes: Uint8Array;
}

/** Manifests, by tag or digest, and the referrers index. */
export interface ManifestService {
  /** Metadata only (HEAD); throws MANIFEST_UNKNOWN. */
  stat(repository: string, reference: string): Promise<ManifestRecord>;
  /** Metadata and bytes (GET); throws MANIFEST_UNKNOWN. */
  get(repository: string, reference: string): Promise<StoredManifest>;
  /** Validates and stores a manifest, tagging it when `reference` is a tag. */
  put(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    contentType: string | null,
  ): Promise<{ digest: string; subject?: string }>;
  /** Deletes a manifest (by digest) or a tag (by tag); throws MANIFEST_UNKNOWN. */
  delete(repository: string, reference: string): Promise<void>;
  /** The referrers of `digest` as an OCI image index body. */
  referrers(repository: string, digest: string, artifactType?: string): Promise<Uint8Array>;
}

/** Tag and repository listing. */
export interface TagService {
  /** Tags in byte order; throws NAME_UNKNOWN. `more` is true when a next page exists. */
  list(repository: string, page: PageQuery): Promise<{ tags: string[]; more: boolean }>;
  /** Repository names in byte order. */
  catalog(page: PageQuery): Promise<{ repositories: string[]; more: boolean }>;
}

/** Everything one registry serves. */
export interface RegistryServices {
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  tags: TagService;
  driver: StorageDriver;
  metadata: MetadataStore;
}
