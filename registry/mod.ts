/**
 * `ctr serve`: an OCI Distribution Spec v1.1 registry on the local filesystem.
 *
 * - {@linkcode startRegistry} runs one (in its sandboxed worker) and resolves when it listens.
 * - {@linkcode openRegistry} opens a registry's storage for direct use (GC, tools).
 * - {@linkcode collectGarbage} is `ctr serve gc`.
 *
 * ```ts
 * import { startRegistry } from "./registry/mod.ts";
 * const reg = await startRegistry({ root: "/tmp/reg", addr: "127.0.0.1:0" });
 * // push to `${reg.host}/team/app:1` …
 * await reg.stop();
 * ```
 *
 * @module
 */
export { parseAddr, type RegistryOptions, type RunningRegistry, startRegistry } from "./server.ts";
export { openRegistry } from "./registry.ts";
export { collectGarbage, type GcOptions, type GcReport } from "./gc.ts";
export { ERROR_STATUS, type ErrorCode, RegistryError } from "./errors.ts";
export { isRepositoryName, isTag, repositoryNameProblem } from "./names.ts";
