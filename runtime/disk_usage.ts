/**
 * `ctr system df`: what the bytes of a state root are, by kind — images, containers, local
 * volumes, build cache, the registry `ctr serve` keeps there, and ctr's own files.
 *
 * Definition (so that the total agrees with `du -sb ROOT`): every file, directory and
 * symlink under the root counts its apparent size (`st_size`), a file with several hard
 * links counts once, and nothing on another filesystem mounted below the root counts (like
 * `du -x`; when nothing runs, nothing is mounted there). Each byte is attributed to exactly
 * one row, so the rows add up to the root's size:
 *
 * ```text
 * <root>/
 * ├── blobs/sha256/<hex>   Images (manifests, configs, layers of images; blobs nothing names)
 * │                        Build Cache (layer blobs only the build cache keeps)
 * ├── snapshots/<id>/      Images (layers of images, and layers nothing uses),
 * │                        Containers (layers only a container holds: its image was removed),
 * │                        Build Cache (layers of cached build steps no image has)
 * ├── containers/<id>/     Containers (upper dir, logs, hosts files)
 * ├── volumes/<name>/      Local Volumes
 * ├── build/               Build Cache (RUN cache mounts, temporary build files)
 * ├── registry/            Registry (storage of `ctr serve` without --root)
 * └── everything else      Other: ctr.db, run/, locks, empty directories, ingest/, userns/…
 * ```
 *
 * A layer shared by several images counts once in the Images row (Docker's "shared size");
 * the per-image sizes of `-v` count it for each image. Reclaimable is what `ctr system prune
 * -a --volumes` would free: images no container uses (and dangling blobs and layers),
 * containers not running, volumes no container uses, all of the build cache.
 *
 * @module
 */
import { chainIds, type SnapshotStore } from "../image/snapshots.ts";
import type { ImageStore } from "../image/image_store.ts";
import type { Container } from "./container_store.ts";
import type { VolumeInfo } from "./volume_store.ts";

/** One row of `system df`. */
export interface UsageRow {
  type: "Images" | "Containers" | "Local Volumes" | "Build Cache" | "Registry" | "Other";
  total: number;
  active: number;
  bytes: number;
  reclaimable: number;
}

/** One image (for `system df -v`). */
export interface ImageUsage {
  names: string[];
  id: string;
  created: string | undefined;
  /** All its blobs and layers. */
  bytes: number;
  /** The part it shares with other images. */
  sharedBytes: number;
  containers: number;
}

/** One container (for `system df -v`). */
export interface ContainerUsage {
  id: string;
  name: string;
  image: string;
  command: string;
  created: number;
  status: string;
  volumes: number;
  bytes: number;
}

/** One volume (for `system df -v`). */
export interface VolumeUsage {
  name: string;
  links: number;
  bytes: number;
}

/** One build cache record or cache mount (for `system df -v`). */
export interface BuildCacheUsage {
  id: string;
  type: "regular" | "exec.cachemount";
  bytes: number;
  shared: boolean;
  lastUsed: number | undefined;
}

/** Everything `system df` reports. */
export interface DiskUsage {
  root: string;
  /** Sum of the rows: the root's size as `du -sb` measures it. */
  totalBytes: number;
  rows: UsageRow[];
  images: ImageUsage[];
  containers: ContainerUsage[];
  volumes: VolumeUsage[];
  buildCache: BuildCacheUsage[];
  /** Top-level paths (relative to the root) of the Other row, with their sizes. */
  other: { path: string; bytes: number }[];
}

/**
 * Measures trees the way `du -sb -x` does: apparent sizes, each inode once, one filesystem.
 * Synchronous on purpose: a walk of tens of thousands of entries is several times faster
 * with `lstatSync` than with a promise per entry.
 */
export class TreeSizer {
  #seen = new Set<string>();
  #counted = new Set<string>();
  #dev: number | undefined;

  /** Bytes under `path` (itself included) not counted before; 0 if it does not exist. */
  size(path: string, skip?: Set<string>): number {
    if (this.#counted.has(path) || skip?.has(path)) return 0;
    let st: Deno.FileInfo;
    try {
      st = Deno.lstatSync(path);
    } catch {
      return 0;
    }
    this.#dev ??= st.dev;
    if (st.dev !== this.#dev) return 0; // a mount below the root
    this.#counted.add(path);
    let n = 0;
    if (st.nlink !== null && st.nlink > 1 && !st.isDirectory) {
      const key = `${st.dev}:${st.ino}`;
      if (!this.#seen.has(key)) {
        this.#seen.add(key);
        n += st.size;
      }
    } else n += st.size;
    if (st.isDirectory) {
      let entries: Deno.DirEntry[] = [];
      try {
        entries = [...Deno.readDirSync(path)];
      } catch { /* vanished or unreadable */ }
      for (const e of entries) n += this.size(`${path}/${e.name}`, skip);
    }
    return n;
  }
}

/** What {@linkcode diskUsage} reads: the stores of the root, opened by the caller. */
export interface DiskUsageSources {
  images?: ImageStore;
  snapshots?: SnapshotStore;
  containers?: Container[];
  volumes?: VolumeInfo[];
  /** Build cache records: key, layer digest, diff id, last use. */
  buildCache?: { key: string; digest: string | null; diffId: string | null; lastUsed: number }[];
}

const ACTIVE_STATES = new Set(["running", "paused", "restarting"]);

/**
 * Attributes every byte of a state root to one row of `system df`.
 *
 * @example
 * ```ts
 * const images = ImageStore.open(root);
 * const usage = await diskUsage(root, { images, snapshots: SnapshotStore.open(root, images) });
 * console.log(usage.totalBytes); // what `du -sb root` says
 * ```
 */
export async function diskUsage(root: string, sources: DiskUsageSources = {}): Promise<DiskUsage> {
  const sizer = new TreeSizer();
  const claimed = new Set<string>();
  const claim = (path: string) => {
    const n = sizer.size(path);
    claimed.add(path);
    return n;
  };
  const { images, snapshots } = sources;
  const containers = sources.containers ?? [];
  const volumes = sources.volumes ?? [];
  const cacheRecords = sources.buildCache ?? [];

  // ---- images: each blob and snapshot ("part") once, then shared among images
  const partBytes = new Map<string, number>();
  const partOf = (kind: "blob" | "snap", key: string, path: string) => {
    const id = `${kind}:${key}`;
    if (!partBytes.has(id)) partBytes.set(id, claim(path));
    return id;
  };
  const snapshotById = new Map((snapshots?.list() ?? []).map((s) => [s.chainId, s]));
  const imageParts: { rec: ImageUsage; parts: Set<string>; digest: string }[] = [];
  const usedImages = new Map<string, number>();
  for (const c of containers) {
    for (const d of [c.ImageId, c.ImageDigest]) usedImages.set(d, (usedImages.get(d) ?? 0) + 1);
  }
  for (const rec of images?.list() ?? []) {
    const parts = new Set<string>();
    let created: string | undefined;
    const blobs = [rec.digest, rec.configDigest, ...(rec.indexDigest ? [rec.indexDigest] : [])];
    try {
      const img = await images!.load(rec.digest);
      created = img.config.created;
      for (const l of img.manifest.layers) blobs.push(l.digest);
      for (const chain of chainIds(img.config.rootfs.diff_ids)) {
        const s = snapshotById.get(chain);
        if (s) parts.add(partOf("snap", chain, snapshots!.path(s.id)));
      }
    } catch { /* a broken image: what it names still counts */ }
    for (const d of blobs) parts.add(partOf("blob", d, images!.content.path(d)));
    imageParts.push({
      digest: rec.digest,
      parts,
      rec: {
        names: rec.names,
        id: rec.configDigest,
        created,
        bytes: 0,
        sharedBytes: 0,
        containers: Math.max(usedImages.get(rec.configDigest) ?? 0, usedImages.get(rec.digest) ?? 0),
      },
    });
  }
  const users = new Map<string, number>();
  for (const i of imageParts) for (const p of i.parts) users.set(p, (users.get(p) ?? 0) + 1);
  for (const i of imageParts) {
    for (const p of i.parts) {
      const n = partBytes.get(p) ?? 0;
      i.rec.bytes += n;
      if ((users.get(p) ?? 0) > 1) i.rec.sharedBytes += n;
    }
  }
  const activeParts = new Set(imageParts.filter((i) => i.rec.containers > 0).flatMap((i) => [...i.parts]));
  let imageBytes = [...partBytes.values()].reduce((a, b) => a + b, 0);
  let imageReclaimable = [...partBytes].filter(([p]) => !activeParts.has(p)).reduce((a, [, n]) => a + n, 0);

  // ---- snapshots no image uses: a container's, the build cache's, or nobody's
  const containerSnapshotBytes = new Map<string, number>();
  let cacheBytes = 0;
  const cacheDiffIds = new Set(cacheRecords.map((r) => r.diffId).filter((d): d is string => !!d));
  const holders = new Map<string, string>(); // chain → container id
  if (snapshots) {
    for (const ref of snapshots.refs()) {
      if (!ref.holder.startsWith("container:")) continue;
      let chain: string | undefined = ref.chainId;
      while (chain && !holders.has(chain)) {
        holders.set(chain, ref.holder.slice("container:".length));
        chain = snapshotById.get(chain)?.parent;
      }
    }
  }
  for (const s of snapshotById.values()) {
    const path = snapshots!.path(s.id);
    if (claimed.has(path)) continue;
    const n = claim(path);
    const holder = holders.get(s.chainId);
    if (holder) containerSnapshotBytes.set(holder, (containerSnapshotBytes.get(holder) ?? 0) + n);
    else if (cacheDiffIds.has(s.diffId)) cacheBytes += n;
    else {
      imageBytes += n;
      imageReclaimable += n;
    }
  }

  // ---- blobs no image names: the build cache's, or dangling
  const cacheDigests = new Set(cacheRecords.map((r) => r.digest).filter((d): d is string => !!d));
  const cacheBlobBytes = new Map<string, number>();
  if (images) {
    for await (const digest of images.content.list()) {
      const path = images.content.path(digest);
      if (claimed.has(path)) continue;
      const n = claim(path);
      if (cacheDigests.has(digest)) {
        cacheBytes += n;
        cacheBlobBytes.set(digest, n);
      } else {
        imageBytes += n;
        imageReclaimable += n;
      }
    }
  }

  // ---- containers, volumes, build directory, registry
  const containerRows: ContainerUsage[] = containers.map((c) => ({
    id: c.Id,
    name: c.Name,
    image: c.Config?.Image ?? c.ImageId,
    command: [...(c.Config?.Entrypoint ?? []), ...(c.Config?.Cmd ?? [])].join(" "),
    created: c.Created,
    status: c.State.Status,
    volumes: new Set(Object.values(c.VolumeMap ?? {})).size,
    bytes: claim(`${root}/containers/${c.Id}`) + (containerSnapshotBytes.get(c.Id) ?? 0),
  }));
  // Container directories the database does not know (a crash between the two) count too.
  let strayContainerBytes = 0;
  for (const e of readDir(`${root}/containers`)) {
    const path = `${root}/containers/${e}`;
    if (!claimed.has(path)) strayContainerBytes += claim(path);
  }
  const volumeUsers = new Map<string, number>();
  for (const c of containers) {
    for (const v of new Set(Object.values(c.VolumeMap ?? {}))) {
      volumeUsers.set(v, (volumeUsers.get(v) ?? 0) + 1);
    }
  }
  const volumeRows: VolumeUsage[] = volumes.map((v) => ({
    name: v.Name,
    links: volumeUsers.get(v.Name) ?? 0,
    bytes: claim(`${root}/volumes/${v.Name}`),
  }));
  let strayVolumeBytes = 0;
  for (const e of readDir(`${root}/volumes`)) {
    const path = `${root}/volumes/${e}`;
    if (!claimed.has(path)) strayVolumeBytes += claim(path);
  }
  const mounts = readDir(`${root}/build/cache-mounts`).filter((n) => !n.endsWith(".lock"));
  const cacheRows: BuildCacheUsage[] = [
    ...cacheRecords.map((r) => ({
      id: r.key.slice(r.key.indexOf(":") + 1, r.key.indexOf(":") + 26),
      type: "regular" as const,
      bytes: r.digest ? cacheBlobBytes.get(r.digest) ?? 0 : 0,
      shared: r.digest ? !cacheBlobBytes.has(r.digest) : false,
      lastUsed: r.lastUsed,
    })),
    ...mounts.map((name) => ({
      id: name.slice(0, 25),
      type: "exec.cachemount" as const,
      bytes: sizer.size(`${root}/build/cache-mounts/${name}`),
      shared: false,
      lastUsed: undefined,
    })),
  ];
  cacheBytes += cacheRows.filter((r) => r.type === "exec.cachemount").reduce((a, r) => a + r.bytes, 0);
  cacheBytes += claim(`${root}/build`);
  const registryBytes = claim(`${root}/registry`);

  // ---- everything else
  const other: { path: string; bytes: number }[] = [];
  let otherBytes = sizer.size(root, new Set([...readDir(root).map((e) => `${root}/${e}`)]));
  for (const e of readDir(root)) {
    const path = `${root}/${e}`;
    const n = sizer.size(path, claimed);
    if (n) other.push({ path: e, bytes: n });
    otherBytes += n;
  }

  const containerBytes = containerRows.reduce((a, c) => a + c.bytes, 0) + strayContainerBytes;
  const volumeBytes = volumeRows.reduce((a, v) => a + v.bytes, 0) + strayVolumeBytes;
  const rows: UsageRow[] = [
    {
      type: "Images",
      total: imageParts.length,
      active: imageParts.filter((i) => i.rec.containers > 0).length,
      bytes: imageBytes,
      reclaimable: imageReclaimable,
    },
    {
      type: "Containers",
      total: containerRows.length,
      active: containerRows.filter((c) => ACTIVE_STATES.has(c.status)).length,
      bytes: containerBytes,
      reclaimable:
        containerRows.filter((c) => !ACTIVE_STATES.has(c.status)).reduce((a, c) => a + c.bytes, 0) +
        strayContainerBytes,
    },
    {
      type: "Local Volumes",
      total: volumeRows.length,
      active: volumeRows.filter((v) => v.links > 0).length,
      bytes: volumeBytes,
      reclaimable: volumeRows.filter((v) => v.links === 0).reduce((a, v) => a + v.bytes, 0) +
        strayVolumeBytes,
    },
    { type: "Build Cache", total: cacheRows.length, active: 0, bytes: cacheBytes, reclaimable: cacheBytes },
    { type: "Registry", total: registryBytes ? 1 : 0, active: 0, bytes: registryBytes, reclaimable: 0 },
    { type: "Other", total: other.length, active: 0, bytes: otherBytes, reclaimable: 0 },
  ];
  return {
    root,
    totalBytes: rows.reduce((a, r) => a + r.bytes, 0),
    rows,
    images: imageParts.map((i) => i.rec),
    containers: containerRows,
    volumes: volumeRows,
    buildCache: cacheRows,
    other: other.sort((a, b) => b.bytes - a.bytes),
  };
}

function readDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * Opens the stores of `root` (read-only use; nothing is created where there is no
 * database yet) and measures it with {@linkcode diskUsage}.
 *
 * @example
 * ```ts
 * const { rows, totalBytes } = await collectDiskUsage("/var/lib/ctr");
 * ```
 */
export async function collectDiskUsage(root: string): Promise<DiskUsage> {
  try {
    Deno.statSync(`${root}/ctr.db`);
  } catch {
    return await diskUsage(root);
  }
  const [
    { ImageStore },
    { SnapshotStore },
    { migrate },
    { containerSchema, ContainerStore },
    { VolumeStore },
    {
      BuildCache,
    },
  ] = await Promise.all([
    import("../image/image_store.ts"),
    import("../image/snapshots.ts"),
    import("../image/db.ts"),
    import("./container_store.ts"),
    import("./volume_store.ts"),
    import("../build/build_cache.ts"),
  ]);
  const images = ImageStore.open(root);
  try {
    migrate(images.db, [containerSchema]);
    return await diskUsage(root, {
      images,
      snapshots: SnapshotStore.open(root, images),
      containers: new ContainerStore(images.db).list(),
      volumes: new VolumeStore(root, images.db).list(),
      buildCache: new BuildCache(images.db, images.content).entries(),
    });
  } finally {
    images.close();
  }
}
