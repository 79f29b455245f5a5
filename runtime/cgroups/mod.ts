/**
 * ctr's cgroups: one {@linkcode Cgroups} interface, v1 and v2 backends, and the choice of
 * backend for this host.
 *
 * @example
 * ```ts
 * import { openCgroups } from "./runtime/cgroups/mod.ts";
 * const cg = openCgroups({ stateRoot: "/var/lib/ctr", id: "c1" });
 * await cg.create();
 * await cg.setResources({ memory: 32 << 20, memorySwap: 32 << 20 });
 * ```
 *
 * @module
 */
import type { BackendOptions, Cgroups } from "./cgroups.ts";
import { type CgroupLayout, cgroupPathFor, detectCgroupLayout } from "./layout.ts";
import { CgroupsV1 } from "./v1.ts";
import { CgroupsV2 } from "./v2.ts";

export * from "./cgroups.ts";
export * from "./layout.ts";
export * from "./resources.ts";
export { CgroupsV1 } from "./v1.ts";
export { CgroupsV2 } from "./v2.ts";
export { deviceFilterProgram } from "./device_filter.ts";

/** Options of {@linkcode openCgroups}. */
export interface OpenCgroupsOptions extends BackendOptions {
  /** The ctr state root; names the per-root parent cgroup. */
  stateRoot: string;
  /** The container id (a safe path component). */
  id: string;
  /** A cgroup path relative to the hierarchy roots to use instead of `ctr-<hash>/<id>`. */
  path?: string;
  /** The host layout (default: detected from /proc/self/mountinfo). */
  layout?: CgroupLayout;
}

/**
 * The cgroup of container `id` on this host: v2 when the unified hierarchy holds the
 * controllers, v1 otherwise (hybrid hosts included). Nothing is created until `create()`.
 *
 * @example
 * ```ts
 * const cg = openCgroups({ stateRoot: root, id: container.id });
 * ```
 */
export function openCgroups(options: OpenCgroupsOptions): Cgroups {
  const layout = options.layout ?? detectCgroupLayout();
  const path = options.path ?? cgroupPathFor(options.stateRoot, options.id);
  if (layout.mode === "v2") return new CgroupsV2(layout.unified!, path, options);
  return new CgroupsV1(layout.v1, path, options);
}
