/**
 * Garbage collection of blobs and snapshots, and the lease that keeps it from deleting what
 * another process is writing.
 *
 * ```text
 * <root>/gc.lock    flock: writers hold it shared, garbage collection exclusive
 * ```
 *
 * Live blobs: every image's manifest, config and layers, the index it was selected from,
 * and digests pinned in `content_refs` (by a build cache, say). Live snapshots: the chain
 * IDs of every image, and every chain a holder registered with `SnapshotStore.addRef`
 * (containers) with its ancestors. Everything else goes.
 *
 * Whoever writes blobs and then records them (import, load, pull, build) does both inside
 * {@linkcode withLease}, so a concurrent `rmi`/`prune` never sweeps blobs between the write
 * and the record.
 *
 * @module
 */
import { type Database, migrate, type Schema, transaction } from "./db.ts";
import type { ImageStore } from "./image_store.ts";
import { chainIds, type SnapshotRecord, type SnapshotStore } from "./snapshots.ts";
import { parseImageConfig, parseManifestDocument } from "./oci.ts";

/** Tables of this module. */
export const gcSchema: Schema = {
  component: "gc",
  migrations: [
    `CREATE TABLE content_refs (
       holder TEXT NOT NULL,
       digest TEXT NOT NULL,
       created INTEGER NOT NULL,
       PRIMARY KEY (holder, digest)
     );`,
  ],
};

/**
 * Runs `fn` while holding the GC lease of a state root (shared: many writers at once, but
 * no garbage collection meanwhile).
 *
 * @example
 * ```ts
 * await withLease(root, async () => {
 *   await images.content.put(bytes);
 *   await images.addImage(digest);
 * });
 * ```
 */
export async function withLease<T>(root: string, fn: () => Promise<T>): Promise<T> {
  return await withGcLock(root, false, fn);
}

async function withGcLock<T>(root: string, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(root, { recursive: true });
  using lock = await Deno.open(`${root}/gc.lock`, { write: true, create: true });
  await lock.lock(exclusive);
  return await fn();
}

/**
 * Pins blobs for `holder` so garbage collection keeps them.
 *
 * @example
 * ```ts
 * pinContent(images.db, "build-cache", [layerDigest]);
 * ```
 */
export function pinContent(db: Database, holder: string, digests: string[]): void {
  migrate(db, [gcSchema]);
  transaction(db, () => {
    const ins = db.prepare(
      "INSERT INTO content_refs (holder, digest, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    );
    for (const d of digests) ins.run(holder, d, Date.now());
  });
}

/**
 * Drops every pin of `holder`.
 *
 * @example
 * ```ts
 * unpinContent(images.db, "build-cache");
 * ```
 */
export function unpinContent(db: Database, holder: string): void {
  migrate(db, [gcSchema]);
  transaction(db, () => db.prepare("DELETE FROM content_refs WHERE holder = ?").run(holder));
}

/** What a collection removed. */
export interface GcResult {
  blobs: string[];
  snapshots: SnapshotRecord[];
  /** Bytes freed (blob sizes plus snapshot content sizes). */
  reclaimedBytes: number;
}

/** The blobs and chain IDs the images of a store use. */
export async function liveSet(images: ImageStore): Promise<{ blobs: Set<string>; chains: Set<string> }> {
  migrate(images.db, [gcSchema]);
  const blobs = new Set<string>();
  const chains = new Set<string>();
  for (const img of images.list()) {
    blobs.add(img.digest);
    blobs.add(img.configDigest);
    if (img.indexDigest) blobs.add(img.indexDigest);
    try {
      const doc = parseManifestDocument(await images.content.readBytes(img.digest));
      if (doc.kind === "manifest") { for (const l of doc.manifest.layers) blobs.add(l.digest); }
      const config = parseImageConfig(await images.content.readBytes(img.configDigest));
      for (const c of chainIds(config.rootfs.diff_ids)) chains.add(c);
    } catch {
      // A broken image keeps what it names; it is not ours to repair here.
    }
  }
  for (const r of images.db.prepare("SELECT digest FROM content_refs").all() as { digest: string }[]) {
    blobs.add(r.digest);
  }
  return { blobs, chains };
}

/**
 * Removes every blob and snapshot no image, pin or holder uses. Waits for leases to end.
 *
 * @example
 * ```ts
 * const { reclaimedBytes } = await collectGarbage(root, images, snapshots);
 * ```
 */
export async function collectGarbage(
  root: string,
  images: ImageStore,
  snapshots: SnapshotStore,
): Promise<GcResult> {
  return await withGcLock(root, true, async () => {
    const { blobs, chains } = await liveSet(images);
    for (const c of snapshots.referencedChains()) chains.add(c);
    const removedSnapshots = await snapshots.prune(chains);
    const removedBlobs: string[] = [];
    let reclaimed = removedSnapshots.reduce((n, s) => n + s.size, 0);
    for await (const digest of images.content.list()) {
      if (blobs.has(digest)) continue;
      reclaimed += (await images.content.size(digest)) ?? 0;
      if (await images.content.delete(digest)) removedBlobs.push(digest);
    }
    await images.content.cleanIngest(3600_000);
    return { blobs: removedBlobs, snapshots: removedSnapshots, reclaimedBytes: reclaimed };
  });
}
