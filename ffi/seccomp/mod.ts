/**
 * Seccomp for ctr: Docker's JSON profile format, compiled to classic BPF for the native
 * architecture (x86_64 with its i386 and x32 ABIs, or aarch64) and installed on the calling
 * thread.
 *
 * @example
 * ```ts
 * import { applySeccompProfile, DEFAULT_SECCOMP_PROFILE } from "./ffi/seccomp/mod.ts";
 * applySeccompProfile(DEFAULT_SECCOMP_PROFILE, { caps: ["CAP_CHOWN", "CAP_KILL"] });
 * ```
 *
 * @module
 */
export * from "./profile.ts";
export * from "./compile.ts";
export * from "./install.ts";
export { DEFAULT_SECCOMP_PROFILE } from "./default_profile.ts";
export { ARCHES, AUDIT_ARCH, X32_SYSCALL_BIT } from "./arch.ts";
