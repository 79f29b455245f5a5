/**
 * Container security: capabilities, seccomp options, masked/read-only paths, default devices,
 * and the confinement the init applies last. See `confine.ts` for the order of the steps.
 *
 * @module
 */
export * from "./capabilities.ts";
export * from "./confine.ts";
export * from "./devices.ts";
export * from "./paths.ts";
export * from "./security_opt.ts";
