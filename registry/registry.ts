/**
 * Opens a registry's storage: the filesystem driver and the SQLite metadata store under one
 * root (layout in `layout.ts`), and the domain services over them.
 *
 * @module
 */
import { BlobStore } from "./blob_store.ts";
import { FilesystemDriver } from "./driver_fs.ts";
import type { StorageDriver } from "./driver.ts";
import { DATABASE_FILE } from "./layout.ts";
import { Manifests } from "./manifests.ts";
import type { MetadataStore } from "./metadata.ts";
import { SqliteMetadataStore } from "./metadata_sqlite.ts";
import type { RegistryServices } from "./services.ts";
import { Tags } from "./tags.ts";
import { Uploads } from "./uploads.ts";

/** Options of {@linkcode openRegistry}. */
export interface OpenOptions {
  /** Upload session time-to-live (ms). */
  uploadTtlMs?: number;
  /** Use this driver instead of the filesystem under the root. */
  driver?: StorageDriver;
  /** Use this metadata store instead of `<root>/registry.db`. */
  metadata?: MetadataStore;
}

/**
 * The services of the registry stored under `root`.
 *
 * @example
 * ```ts
 * const services = openRegistry("/var/lib/ctr/registry");
 * const { tags } = await services.tags.list("team/app", {});
 * services.metadata.close();
 * ```
 */
export function openRegistry(root: string, options: OpenOptions = {}): RegistryServices {
  const driver = options.driver ?? new FilesystemDriver(root);
  if (!options.metadata) Deno.mkdirSync(root, { recursive: true });
  const metadata = options.metadata ?? SqliteMetadataStore.open(`${root}/${DATABASE_FILE}`);
  const blobs = new BlobStore(driver, metadata);
  return {
    driver,
    metadata,
    blobs,
    uploads: new Uploads(driver, metadata, blobs, { ttlMs: options.uploadTtlMs }),
    manifests: new Manifests(driver, metadata, blobs),
    tags: new Tags(metadata),
  };
}
