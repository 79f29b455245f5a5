/**
 * What `ctr inspect`, `ctr history` and `ctr images` show about an image, in Docker's
 * shapes: the inspect document (`Id`, `RepoTags`, `RepoDigests`, `Config`, `RootFS`, …),
 * history rows (newest first, layer sizes, `<missing>` IDs below the top), and sizes (the
 * unpacked content of the layers, or the compressed blobs while not unpacked).
 *
 * @module
 */
import type { ImageRecord, ImageStore, LoadedImage } from "./image_store.ts";
import { chainIds, type SnapshotStore } from "./snapshots.ts";
import type { ContainerConfig } from "./oci.ts";
import { familiarName, familiarRepository, parseReference } from "./reference.ts";

/** Sizes of each layer (bottom first) and the total. */
export interface ImageSizes {
  layers: number[];
  total: number;
  /** Whether every layer is unpacked (sizes are content sizes). */
  unpacked: boolean;
}

/**
 * Layer sizes of an image: unpacked content size per layer where unpacked, else the blob size.
 *
 * @example
 * ```ts
 * imageSizes(image, snapshots).total;
 * ```
 */
export function imageSizes(image: LoadedImage, snapshots: SnapshotStore): ImageSizes {
  const chains = chainIds(image.config.rootfs.diff_ids);
  let unpacked = true;
  const layers = image.manifest.layers.map((l, i) => {
    const snap = chains[i] ? snapshots.get(chains[i]) : undefined;
    if (!snap) unpacked = false;
    return snap ? snap.size : l.size;
  });
  return { layers, total: layers.reduce((a, b) => a + b, 0), unpacked };
}

/** Docker's full container-config shape (every key present, as `docker inspect` prints). */
function dockerConfig(c: ContainerConfig | undefined): Record<string, unknown> {
  const cfg = c ?? {};
  const out: Record<string, unknown> = {
    Hostname: "",
    Domainname: "",
    User: cfg.User ?? "",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
  };
  if (cfg.ExposedPorts) out.ExposedPorts = cfg.ExposedPorts;
  Object.assign(out, {
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: cfg.Env ?? null,
    Cmd: cfg.Cmd ?? null,
  });
  if (cfg.Healthcheck) out.Healthcheck = cfg.Healthcheck;
  if (cfg.ArgsEscaped) out.ArgsEscaped = cfg.ArgsEscaped;
  Object.assign(out, {
    Image: "",
    Volumes: cfg.Volumes ?? null,
    WorkingDir: cfg.WorkingDir ?? "",
    Entrypoint: cfg.Entrypoint ?? null,
    OnBuild: cfg.OnBuild ?? null,
    Labels: cfg.Labels ?? null,
  });
  if (cfg.StopSignal) out.StopSignal = cfg.StopSignal;
  if (cfg.Shell) out.Shell = cfg.Shell;
  return out;
}

/** `RepoTags` (familiar `repo:tag`) and `RepoDigests` (familiar `repo@digest`) of an image. */
export function repoNames(rec: ImageRecord): { tags: string[]; digests: string[] } {
  const tags: string[] = [];
  const repos = new Set<string>();
  const digests: string[] = [];
  for (const n of rec.names) {
    const ref = parseReference(n);
    if (ref.tag) tags.push(familiarName({ domain: ref.domain, path: ref.path, tag: ref.tag }));
    if (ref.digest) digests.push(familiarName({ domain: ref.domain, path: ref.path, digest: ref.digest }));
    repos.add(familiarRepository(ref));
  }
  const repoDigest = rec.indexDigest ?? rec.digest;
  for (const r of repos) {
    const d = `${r}@${repoDigest}`;
    if (!digests.includes(d)) digests.push(d);
  }
  return { tags, digests };
}

/**
 * The `docker image inspect` document of an image.
 *
 * @example
 * ```ts
 * console.log(JSON.stringify([inspectImage(image, snapshots)], null, 4));
 * ```
 */
export function inspectImage(
  image: LoadedImage,
  snapshots: SnapshotStore,
  images?: ImageStore,
): Record<string, unknown> {
  const { tags, digests } = repoNames(image);
  const cfg = image.config as LoadedImage["config"] & { comment?: string; docker_version?: string };
  const sizes = imageSizes(image, snapshots);
  const chains = chainIds(cfg.rootfs.diff_ids);
  const lowerDirs = chains.map((c) => snapshots.get(c)).filter((s) => s).map((s) => snapshots.path(s!.id))
    .reverse();
  let lastTag = 0;
  if (images) {
    for (
      const row of images.db.prepare("SELECT created FROM image_names WHERE digest = ?").all(
        image.digest,
      ) as {
        created: number;
      }[]
    ) lastTag = Math.max(lastTag, Number(row.created));
  }
  return {
    Id: image.configDigest,
    RepoTags: tags,
    RepoDigests: digests,
    Parent: "",
    Comment: cfg.comment ?? "",
    Created: cfg.created ?? "0001-01-01T00:00:00Z",
    DockerVersion: cfg.docker_version ?? "",
    Author: cfg.author ?? "",
    Config: dockerConfig(cfg.config),
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    ...(cfg["os.version"] ? { OsVersion: cfg["os.version"] } : {}),
    Size: sizes.total,
    GraphDriver: {
      Data: lowerDirs.length === chains.length && lowerDirs.length ? { LowerDir: lowerDirs.join(":") } : null,
      Name: "overlay",
    },
    RootFS: { Type: "layers", Layers: cfg.rootfs.diff_ids },
    Metadata: { LastTagTime: lastTag ? new Date(lastTag).toISOString() : "0001-01-01T00:00:00Z" },
    Descriptor: { mediaType: image.mediaType, digest: image.digest, size: image.size },
  };
}

/** One row of `docker history`. */
export interface HistoryRow {
  /** Image ID for the top row, `<missing>` below it (as Docker shows pulled images). */
  id: string;
  created?: string;
  createdBy: string;
  size: number;
  comment: string;
  emptyLayer: boolean;
}

/**
 * `docker history` rows, newest first. Layers are matched to the non-empty history entries
 * in order; an image without history gets one row per layer.
 *
 * @example
 * ```ts
 * for (const row of imageHistory(image, snapshots)) console.log(row.createdBy);
 * ```
 */
export function imageHistory(image: LoadedImage, snapshots: SnapshotStore): HistoryRow[] {
  const sizes = imageSizes(image, snapshots).layers;
  const history = image.config.history ?? [];
  const rows: HistoryRow[] = [];
  let layer = 0;
  if (!history.length) {
    for (let i = 0; i < sizes.length; i++) {
      rows.push({
        id: "<missing>",
        created: image.config.created,
        createdBy: "",
        size: sizes[i],
        comment: "",
        emptyLayer: false,
      });
    }
  }
  for (const h of history) {
    const empty = !!h.empty_layer;
    const size = empty ? 0 : sizes[layer++] ?? 0;
    rows.push({
      id: "<missing>",
      created: h.created,
      createdBy: h.created_by ?? "",
      size,
      comment: h.comment ?? "",
      emptyLayer: empty,
    });
  }
  rows.reverse();
  if (rows.length) rows[0].id = image.configDigest;
  return rows;
}
