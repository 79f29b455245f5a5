/**
 * The image provider of `ctr inspect` (see `inspect.ts`).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { ImageStore } from "../image/image_store.ts";
import { SnapshotStore } from "../image/snapshots.ts";
import { inspectImage } from "../image/image_inspect.ts";

/**
 * The Docker-shaped document of image `name`, or undefined when there is none.
 *
 * @example
 * ```ts
 * await lookup("/var/lib/ctr", "busybox", { size: false });
 * ```
 */
export async function lookup(root: string, name: string, _options: { size: boolean }): Promise<unknown> {
  const images = ImageStore.open(root);
  try {
    let image;
    try {
      image = await images.load(name);
    } catch (e) {
      if (e instanceof NotFoundError || e instanceof TypeError) return undefined;
      throw e;
    }
    return inspectImage(image, SnapshotStore.open(root, images), images);
  } finally {
    images.close();
  }
}
