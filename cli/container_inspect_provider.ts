/**
 * The container provider of `ctr inspect` (see `inspect.ts`). The name is looked up in the
 * database first, so inspecting an image never starts a supervisor.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";

/**
 * The Docker-shaped document of container `name`, or undefined when there is none.
 *
 * @example
 * ```ts
 * await lookup("/var/lib/ctr", "web", { size: false });
 * ```
 */
export async function lookup(root: string, name: string, _options: { size: boolean }): Promise<unknown> {
  const { ImageStore } = await import("../image/image_store.ts");
  const { containerSchema, ContainerStore } = await import("../runtime/container_store.ts");
  let known: boolean;
  try {
    const images = ImageStore.open(root, [containerSchema]);
    try {
      known = new ContainerStore(images.db).tryFind(name) !== undefined;
    } finally {
      images.close();
    }
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
  if (!known) return undefined;
  const { request } = await import("../runtime/client.ts");
  try {
    return (await request<{ container: unknown }>(root, { op: "inspect", ref: name })).container;
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}
