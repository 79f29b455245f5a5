/**
 * The {@linkcode LayerUnpacker} of a real pull: layers go into the snapshot store
 * (`image/snapshots.ts`) as they arrive, each unpacked once per chain ID.
 *
 * The snapshot store unpacks whole images; a pull hands it the image cut after layer `i`
 * (manifest layers and config diff IDs alike), so that every call unpacks just the newest
 * layer — the ones below are already there and are only looked up.
 *
 * @module
 */
import type { ImageStore, LoadedImage } from "../image_store.ts";
import { chainIds, SnapshotStore } from "../snapshots.ts";
import type { LayerUnpacker } from "./pull.ts";

/**
 * The first `n` layers of an image, as an image.
 *
 * @example
 * ```ts
 * const base = imagePrefix(image, 1); // just the bottom layer
 * ```
 */
export function imagePrefix(image: LoadedImage, n: number): LoadedImage {
  return {
    ...image,
    manifest: { ...image.manifest, layers: image.manifest.layers.slice(0, n) },
    config: {
      ...image.config,
      rootfs: { ...image.config.rootfs, diff_ids: image.config.rootfs.diff_ids.slice(0, n) },
    },
  };
}

/**
 * An unpacker over the snapshot store of `root`.
 *
 * @example
 * ```ts
 * await pullImage(store, name, { unpack: snapshotUnpacker(root, store) });

 * ```
 */
export function snapshotUnpacker(root: string, store: ImageStore): LayerUnpacker {
  const snapshots = SnapshotStore.open(root, store);

  return {
    async unpack(image, index) {
      const diffIds = image.config.rootfs.diff_ids;
      if (diffIds.length !== image.manifest.layers.length) {
        throw new TypeError(
          `Image ${image.digest} has ${image.manifest.layers.length} layers but its config lists ${diffIds.length} diff IDs`,
        );
      }
      const chain = chainIds(diffIds.slice(0, index + 1))[index];
      const have = snapshots.get(chain);
      if (have && await Deno.lstat(snapshots.path(have.id)).then(() => true, () => false)) return false;
      await snapshots.prepare(imagePrefix(image, index + 1));
      return true;
    },
  };
}
