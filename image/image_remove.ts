/**
 * Removing images the way `docker rmi` and `docker image prune` do, followed by garbage
 * collection of the blobs and snapshots nothing uses any more.
 *
 * Rules (moby's ImageDelete): removing by name untags that name, and deletes the image only
 * when it was the last name; removing by ID untags every name and deletes the image, but
 * needs `force` when the names span several repositories; an image a container holds
 * (see `SnapshotStore.addRef`) needs `force`, and even then its snapshots stay while held.
 *
 * @module
 */
import { ConflictError } from "../errors.ts";
import { collectGarbage } from "./gc.ts";
import type { ImageRecord, ImageStore } from "./image_store.ts";
import type { SnapshotStore } from "./snapshots.ts";
import {
  familiarName,
  formatReference,
  parseReference,
  repositoryName,
  withDefaultTag,
} from "./reference.ts";

/** What a removal did, in Docker's terms. */
export interface RemoveResult {
  /** Familiar names removed (`busybox:latest`). */
  untagged: string[];
  /** Image IDs, then chain IDs of layers deleted. */
  deleted: string[];
  /** Bytes freed. */
  reclaimedBytes: number;
}

function shortId(rec: ImageRecord): string {
  return rec.configDigest.replace(/^sha256:/, "").slice(0, 12);
}

function familiar(full: string): string {
  return familiarName(parseReference(full));
}

/** The full name `ref` denotes if it is one of the image's names. */
function nameOf(rec: ImageRecord, ref: string): string | undefined {
  try {
    const full = formatReference(withDefaultTag(parseReference(ref)));
    return rec.names.includes(full) ? full : undefined;
  } catch {
    return undefined;
  }
}

function holderName(holder: string): string {
  const id = holder.replace(/^container:/, "");
  return /^[a-f0-9]{64}$/.test(id) ? id.slice(0, 12) : id;
}

/**
 * `rmi`: removes one image reference.
 *
 * @example
 * ```ts
 * const r = await removeImage(root, images, snapshots, "busybox", { force: false });
 * r.untagged; // ["busybox:latest"]
 * ```
 */
export async function removeImage(
  root: string,
  images: ImageStore,
  snapshots: SnapshotStore,
  ref: string,
  options: { force?: boolean; prune?: boolean } = {},
): Promise<RemoveResult> {
  const rec = images.find(ref);
  const users = images.list().filter((r) => r.configDigest === rec.configDigest)
    .flatMap((r) => snapshots.refs(r.digest));
  const name = nameOf(rec, ref);
  const result: RemoveResult = { untagged: [], deleted: [], reclaimedBytes: 0 };
  if (name) {
    if (rec.names.length > 1) {
      images.untag(name);
      result.untagged.push(familiar(name));
      return result;
    }
    if (users.length && !options.force) {
      throw new ConflictError(
        `conflict: unable to remove repository reference "${ref}" (must force) - container ${
          holderName(users[0].holder)
        } is using its referenced image ${shortId(rec)}`,
      );
    }
  } else {
    const repos = new Set(rec.names.map((n) => repositoryName(parseReference(n))));
    if (repos.size > 1 && !options.force) {
      throw new ConflictError(
        `conflict: unable to delete ${
          shortId(rec)
        } (must be forced) - image is referenced in multiple repositories`,
      );
    }
    if (users.length && !options.force) {
      throw new ConflictError(
        `conflict: unable to delete ${shortId(rec)} (must be forced) - image is being used by container ${
          holderName(users[0].holder)
        }`,
      );
    }
  }
  // Delete: every record of this image ID when named by ID, else just this one.
  const victims = name ? [rec] : images.list().filter((r) => r.configDigest === rec.configDigest);
  for (const v of victims) {
    for (const n of v.names) result.untagged.push(familiar(n));
    images.remove(v.digest);
  }
  if (!images.list().some((r) => r.configDigest === rec.configDigest)) result.deleted.push(rec.configDigest);
  if (options.prune !== false) {
    const gc = await collectGarbage(root, images, snapshots);
    result.deleted.push(...gc.snapshots.map((s) => s.chainId));
    result.reclaimedBytes = gc.reclaimedBytes;
  }
  return result;
}

/**
 * `image prune`: removes dangling images (no names), or with `all` every image no
 * container holds.
 *
 * @example
 * ```ts
 * const { deleted, reclaimedBytes } = await pruneImages(root, images, snapshots, { all: false });
 * ```
 */
export async function pruneImages(
  root: string,
  images: ImageStore,
  snapshots: SnapshotStore,
  options: { all?: boolean } = {},
): Promise<RemoveResult> {
  const held = new Set(snapshots.refs().map((r) => r.image).filter((d): d is string => !!d));
  const result: RemoveResult = { untagged: [], deleted: [], reclaimedBytes: 0 };
  for (const rec of images.list()) {
    if (held.has(rec.digest)) continue;
    if (rec.names.length && !options.all) continue;
    for (const n of rec.names) result.untagged.push(familiar(n));
    images.remove(rec.digest);
    if (!images.list().some((r) => r.configDigest === rec.configDigest)) {
      result.deleted.push(rec.configDigest);
    }
  }
  const gc = await collectGarbage(root, images, snapshots);
  result.deleted.push(...gc.snapshots.map((s) => s.chainId));
  result.reclaimedBytes = gc.reclaimedBytes;
  return result;
}
