/**
 * Garbage collection (`ctr serve gc`): mark and sweep, safe while the registry serves
 * pushes. Mark: everything tags reach — manifests, the children of indexes, referrers of
 * kept manifests (their `subject`), and the blobs those manifests use — plus anything
 * created or linked within the grace period. Sweep: untagged manifests, blob links and
 * blobs outside the mark, and blob files with no record at all (a writer died between
 * moving the bytes and recording them).
 *
 * The decision is one metadata transaction; blobs that are being written are pinned and
 * kept; files are deleted only under a freshly claimed tombstone (the protocol in
 * `metadata.ts`). A blob uploaded but whose manifest is not pushed yet survives through the
 * grace period; a manifest pushed after its blob was collected is refused with
 * MANIFEST_BLOB_UNKNOWN (never stored with a dangling reference), and the client retries.
 *
 * @module
 */
import type { StorageDriver } from "./driver.ts";
import { blobKey, listBlobDigests } from "./layout.ts";
import type { MetadataStore, SweepResult } from "./metadata.ts";

/** Default grace period: anything younger is kept. */
export const DEFAULT_GRACE_MS = 3600_000;

/** Options of {@linkcode collectGarbage}. */
export interface GcOptions {
  /** Report what would go; change nothing. */
  dryRun?: boolean;
  /** Keep anything created or linked this recently (ms). Default 1 h. */
  graceMs?: number;
  /** Keep manifests no tag reaches (only unreferenced blobs go). */
  keepUntagged?: boolean;
}

/** What a collection removed (or would remove). */
export interface GcReport extends SweepResult {
  /** Blob files deleted. */
  filesDeleted: number;
  dryRun: boolean;
}

/**
 * Runs one collection.
 *
 * @example
 * ```ts
 * const report = await collectGarbage(driver, metadata, { dryRun: true });
 * console.log(report.blobs.length, "blobs would be deleted");
 * ```
 */
export async function collectGarbage(
  driver: StorageDriver,
  metadata: MetadataStore,
  options: GcOptions = {},
): Promise<GcReport> {
  const dryRun = options.dryRun ?? false;
  const cutoff = Date.now() - (options.graceMs ?? DEFAULT_GRACE_MS);
  let filesDeleted = 0;
  const deleteUnder = async (digest: string) => {
    if (!await metadata.claimTombstone(digest)) return;
    if (await driver.delete(blobKey(digest))) filesDeleted++;
    await metadata.clearTombstone(digest);
  };
  // Finish what a previous collection left (it died between its sweep and its deletes).
  if (!dryRun) { for (const digest of await metadata.tombstones()) await deleteUnder(digest); }
  const old: string[] = [];
  for (const digest of await listBlobDigests(driver)) {
    const st = await driver.stat(blobKey(digest));
    if (st && st.modified < cutoff) old.push(digest);
  }
  const result = await metadata.sweep({
    cutoff,
    keepUntagged: options.keepUntagged,
    dryRun,
    filesOnDisk: old,
  });
  if (!dryRun) { for (const digest of result.blobs) await deleteUnder(digest); }
  return { ...result, filesDeleted, dryRun };
}
