/**
 * `ctr system prune`: the prunes of every kind, in Docker's order — stopped containers,
 * unused networks, (with `volumes`) unused volumes, images (dangling, or with `all` every
 * image no container uses), build cache (dangling, or all) — then garbage collection of
 * blobs and layers nothing names, and a compaction of the metadata database (SQLite keeps
 * freed pages and its write-ahead log otherwise), so that a pruned root with nothing in it
 * is as small as a fresh one.
 *
 * Removal is the existing code of each part (the supervisor's container and volume prunes,
 * `pruneNetworks`, `pruneImages`, `pruneBuildCache`, `collectGarbage`); with `--filter`
 * the candidates are chosen here and each is removed through the same code (`rm`,
 * `removeNetwork`, `volume.rm`, `removeImage`). The build cache has neither labels nor a
 * creation time to filter on: with a filter it is left alone.
 *
 * Volumes: `--volumes` removes unused anonymous volumes; with `--all` too, unused named
 * volumes go as well (Docker's `volume prune --all`).
 *
 * @module
 */
import { isFiltered, matchesPruneFilter, parsePruneFilters } from "./prune_filter.ts";
import { TreeSizer } from "./disk_usage.ts";
import type { Container } from "./container_store.ts";
import type { VolumeInfo } from "./volume_store.ts";

/** What to prune. */
export interface SystemPruneOptions {
  /** Every unused image and all build cache, not only dangling ones. */
  all?: boolean;
  /** Unused volumes too. */
  volumes?: boolean;
  /** `until=…`, `label=…`, `label!=…`. */
  filters?: string[];
}

/** What a prune removed. */
export interface SystemPruneResult {
  containers: string[];
  networks: string[];
  volumes: string[];
  images: { untagged: string[]; deleted: string[] };
  buildCache: string[];
  /** Bytes the state root shrank by (measured as `du -sb` would). */
  reclaimedBytes: number;
}

/**
 * Prunes a state root.
 *
 * @example
 * ```ts
 * const r = await systemPrune("/var/lib/ctr", { all: true, volumes: true });
 * console.log(r.reclaimedBytes);
 * ```
 */
export async function systemPrune(
  root: string,
  options: SystemPruneOptions = {},
): Promise<SystemPruneResult> {
  const filter = parsePruneFilters(options.filters ?? []);
  const filtered = isFiltered(filter);
  const before = new TreeSizer().size(root);
  const result: SystemPruneResult = {
    containers: [],
    networks: [],
    volumes: [],
    images: { untagged: [], deleted: [] },
    buildCache: [],
    reclaimedBytes: 0,
  };
  const { request } = await import("./client.ts");

  // Containers (the supervisor owns them).
  if (!filtered) {
    result.containers = (await request<{ deleted: string[] }>(root, { op: "prune" })).deleted;
  } else {
    const { containers } = await request<{ containers: Container[] }>(root, { op: "list" });
    for (const c of containers) {
      if (!["exited", "created", "dead"].includes(c.State.Status)) continue;
      if (!matchesPruneFilter(filter, c.Created, c.Config?.Labels ?? {})) continue;
      try {
        await request(root, { op: "rm", ref: c.Id });
        result.containers.push(c.Id);
      } catch { /* started or removed meanwhile */ }
    }
  }

  // Networks.
  result.networks = await pruneNetworksOf(root, filter, filtered);

  // Volumes.
  if (options.volumes) {
    if (!filtered) {
      result.volumes =
        (await request<{ deleted: string[] }>(root, { op: "volume.prune", all: options.all === true }))
          .deleted;
    } else {
      const { volumes } = await request<{ volumes: (VolumeInfo & { InUse?: boolean })[] }>(root, {
        op: "volume.list",
      });
      for (const v of volumes) {
        if (v.InUse || (!v.Anonymous && !options.all)) continue;
        if (!matchesPruneFilter(filter, v.CreatedAt, v.Labels)) continue;
        try {
          await request(root, { op: "volume.rm", name: v.Name });
          result.volumes.push(v.Name);
        } catch { /* in use or removed meanwhile */ }
      }
    }
  }

  // Images, build cache, then whatever nothing names any more.
  const [{ ImageStore }, { SnapshotStore }, { pruneImages, removeImage }, { collectGarbage }] = await Promise
    .all([
      import("../image/image_store.ts"),
      import("../image/snapshots.ts"),
      import("../image/image_remove.ts"),
      import("../image/gc.ts"),
    ]);
  const images = ImageStore.open(root);
  try {
    const snapshots = SnapshotStore.open(root, images);
    if (!filtered) {
      const r = await pruneImages(root, images, snapshots, { all: options.all === true });
      result.images = { untagged: r.untagged, deleted: r.deleted };
    } else {
      const held = new Set(snapshots.refs().map((r) => r.image).filter((d): d is string => !!d));
      for (const rec of images.list()) {
        if (held.has(rec.digest) || (rec.names.length && !options.all)) continue;
        const img = await images.load(rec.digest).catch(() => undefined);
        if (
          !matchesPruneFilter(filter, img?.config.created ?? rec.created, img?.config.config?.Labels ?? {})
        ) {
          continue;
        }
        try {
          const r = await removeImage(root, images, snapshots, rec.digest, { force: true, prune: true });
          result.images.untagged.push(...r.untagged);
          result.images.deleted.push(...r.deleted);
        } catch { /* taken by a container meanwhile */ }
      }
    }
  } finally {
    images.close();
  }
  if (!filtered) {
    const { pruneBuildCache } = await import("../build/prune.ts");
    result.buildCache = (await pruneBuildCache(root, { all: options.all === true })).ids;
  } else {
    const again = ImageStore.open(root);
    try {
      await collectGarbage(root, again, SnapshotStore.open(root, again));
    } finally {
      again.close();
    }
  }

  await removeEmptySkeleton(root);
  await compactDatabase(root);
  result.reclaimedBytes = Math.max(0, before - new TreeSizer().size(root));
  return result;
}

async function pruneNetworksOf(
  root: string,
  filter: ReturnType<typeof parsePruneFilters>,
  filtered: boolean,
): Promise<string[]> {
  const [{ openDatabase }, { networkSchema }, { NetworkService }, { pruneNetworks, removeNetwork }] =
    await Promise
      .all([
        import("../image/db.ts"),
        import("./network/store.ts"),
        import("./network/service.ts"),
        import("./network/manage.ts"),
      ]);
  const db = openDatabase(`${root}/ctr.db`, [networkSchema]);
  const svc = new NetworkService({ root, db });
  try {
    if (!filtered) return pruneNetworks(svc);
    const removed: string[] = [];
    for (const n of svc.store.listNetworks()) {
      if (n.builtin || svc.store.attachmentsOn(n.id).length || svc.store.endpointsOn(n.id).length) continue;
      if (!matchesPruneFilter(filter, n.created, n.labels)) continue;
      try {
        removeNetwork(svc, n.id);
        removed.push(n.name);
      } catch { /* a container connected meanwhile */ }
    }
    return removed;
  } finally {
    await svc.close();
    db.close();
  }
}

/**
 * Directories the stores make on first use (`mkdir -p` before each write), removed again
 * when empty so that a pruned root is the size of a fresh one — a directory keeps the size
 * it grew to while it held many entries. Deepest first.
 */
const SKELETON = [
  "blobs/ingest",
  "blobs/sha256",
  "blobs/sha512",
  "blobs",
  "snapshots/tmp",
  "snapshots/locks",
  "snapshots/empty",
  "snapshots",
  "containers",
  "volumes",
  "build/tmp",
  "build/cache-mounts",
  "build",
];

/**
 * Removes the empty directories of {@linkcode SKELETON} and the unpack lock files of layers
 * that no longer exist, holding the garbage-collection lock (writers that record blobs hold
 * it shared, so none is between its `mkdir` and its write).
 */
async function removeEmptySkeleton(root: string): Promise<void> {
  using gcLock = await Deno.open(`${root}/gc.lock`, { write: true, create: true });
  await gcLock.lock(true);
  const live = new Set<string>();
  try {
    const { openDatabase } = await import("../image/db.ts");
    const { snapshotSchema } = await import("../image/snapshots.ts");
    const db = openDatabase(`${root}/ctr.db`, [snapshotSchema]);
    try {
      for (const r of db.prepare("SELECT chain_id FROM snapshots").all() as { chain_id: string }[]) {
        live.add(r.chain_id.replace(/^sha256:/, ""));
      }
    } finally {
      db.close();
    }
  } catch { /* no database: no layers */ }
  // Lock files of what is gone: unpack locks of layers, locks of RUN cache mounts.
  const stale: string[] = [];
  for (const name of fileNames(`${root}/snapshots/locks`)) {
    if (!live.has(name)) stale.push(`${root}/snapshots/locks/${name}`);
  }
  const mounts = `${root}/build/cache-mounts`;
  for (const name of fileNames(mounts)) {
    if (!name.endsWith(".lock")) continue;
    try {
      Deno.statSync(`${mounts}/${name.slice(0, -5)}`);
    } catch {
      stale.push(`${mounts}/${name}`);
    }
  }
  for (const path of stale) {
    try {
      using f = await Deno.open(path, { read: true });
      // Held: an unpack of that layer, or a build using that mount, is under way; leave it.
      if (!(await f.tryLock(true))) continue;
      await Deno.remove(path);
    } catch { /* gone meanwhile */ }
  }
  for (const dir of SKELETON) {
    try {
      await Deno.remove(`${root}/${dir}`); // only succeeds when empty
    } catch { /* not empty, or absent */ }
  }
}

function fileNames(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Gives SQLite's free pages back and empties its write-ahead log. Best effort: another
 * process in a transaction (the supervisor writing a state) makes it a no-op this time.
 */
async function compactDatabase(root: string): Promise<void> {
  try {
    await Deno.stat(`${root}/ctr.db`);
  } catch {
    return;
  }
  const { openDatabase } = await import("../image/db.ts");
  const db = openDatabase(`${root}/ctr.db`, []);
  try {
    for (const sql of ["VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"]) {
      try {
        db.exec(sql);
      } catch { /* busy: leave it for next time */ }
    }
  } finally {
    db.close();
  }
}
