/**
 * `ctr builder prune`: forgets build cache entries and deletes what only they kept — layer
 * blobs and snapshots no image uses, and `RUN --mount=type=cache` directories not in use.
 *
 * Without `all`, only dangling entries go: those whose layer no image in the store holds
 * (an image's layers stay cached, as BuildKit keeps records an image refers to). With
 * `all`, every entry goes.
 *
 * @module
 */
import { collectGarbage, pinContent, unpinContent } from "../image/gc.ts";
import { ImageStore } from "../image/image_store.ts";
import { SnapshotStore } from "../image/snapshots.ts";
import { BUILD_CACHE_HOLDER, BuildCache } from "./build_cache.ts";

/** What a prune removed. */
export interface BuilderPruneResult {
  /** Short ids of the removed cache entries and cache mounts. */
  ids: string[];
  reclaimedBytes: number;
}

async function treeSize(path: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(path)) {
    const p = `${path}/${e.name}`;
    if (e.isDirectory) n += await treeSize(p);
    else if (e.isFile) n += (await Deno.lstat(p)).size;
  }
  return n;
}

/**
 * Prunes the build cache of a state root.
 *
 * @example
 * ```ts
 * const { ids, reclaimedBytes } = await pruneBuildCache(root, { all: true });
 * ```
 */
export async function pruneBuildCache(
  root: string,
  options: { all?: boolean } = {},
): Promise<BuilderPruneResult> {
  const images = ImageStore.open(root);
  const ids: string[] = [];
  let reclaimed = 0;
  try {
    const cache = new BuildCache(images.db, images.content);
    const used = new Set<string>();
    for (const img of images.list()) {
      try {
        for (const l of (await images.load(img.digest)).manifest.layers) used.add(l.digest);
      } catch { /* a broken image keeps nothing */ }
    }
    const gone = cache.entries().filter((e) => options.all || e.digest === null || !used.has(e.digest));
    cache.remove(gone.map((e) => e.key));
    ids.push(...gone.map((e) => e.key.slice(e.key.indexOf(":") + 1, e.key.indexOf(":") + 26)));
    unpinContent(images.db, BUILD_CACHE_HOLDER);
    pinContent(images.db, BUILD_CACHE_HOLDER, cache.digests());

    const mounts = `${root}/build/cache-mounts`;
    let names: string[] = [];
    try {
      names = (await Array.fromAsync(Deno.readDir(mounts))).filter((e) => e.isDirectory).map((e) => e.name);
    } catch { /* none */ }
    for (const name of names) {
      using lock = await Deno.open(`${mounts}/${name.replace(/\.new$/, "")}.lock`, {
        write: true,
        create: true,
      });
      if (!(await lock.tryLock(true))) continue; // in use by a running build
      reclaimed += await treeSize(`${mounts}/${name}`).catch(() => 0);
      await Deno.remove(`${mounts}/${name}`, { recursive: true });
      ids.push(name.slice(0, 25));
    }

    const gc = await collectGarbage(root, images, SnapshotStore.open(root, images));
    reclaimed += gc.reclaimedBytes;
  } finally {
    images.close();
  }
  return { ids, reclaimedBytes: reclaimed };
}
