/**
 * Installing a compiled filter on the calling thread, and the whole path from a profile to an
 * installed filter.
 *
 * Order matters (DESIGN.md §3): seccomp(2) without SECCOMP_FILTER_FLAG_TSYNC filters only the
 * calling thread — which is what ctr wants: the init's main thread installs the filter last,
 * right before execve (or before spawning the process of `exec`), so the filter binds the
 * container process and nothing of Deno's other threads. Without CAP_SYS_ADMIN the kernel
 * requires no_new_privs first.
 *
 * @module
 */
import { libc } from "../libc.ts";
import { compileSeccomp } from "./compile.ts";
import { type ResolveOptions, resolveProfile, type SeccompProfile } from "./profile.ts";

/**
 * Installs a compiled filter (`sock_filter` bytes) on the calling thread.
 *
 * @example
 * ```ts
 * installSeccompFilter(compileSeccomp(resolved), resolved.flags);
 * ```
 */
export function installSeccompFilter(filter: Uint8Array<ArrayBuffer>, flags = 0): void {
  libc.seccompSetFilter(filter, flags);
}

/**
 * Resolves `profile` for the container's capabilities, compiles it and installs it on the
 * calling thread. Returns false (and installs nothing) for a profile Docker treats as
 * "disabled" (no default action, no rules).
 *
 * @example
 * ```ts
 * setNoNewPrivs();
 * applySeccompProfile(DEFAULT_SECCOMP_PROFILE, { caps: containerCaps });
 * libc.execve(path, argv, env);
 * ```
 */
export function applySeccompProfile(profile: SeccompProfile, options: ResolveOptions): boolean {
  const resolved = resolveProfile(profile, options);
  if (!resolved) return false;
  installSeccompFilter(compileSeccomp(resolved), resolved.flags);
  return true;
}

/**
 * The calling thread's seccomp mode from prctl: 0 none, 2 filter.
 *
 * @example
 * ```ts
 * seccompMode(); // 0 before, 2 after installing
 * ```
 */
export function seccompMode(): number {
  return libc.prctl(21); // PR_GET_SECCOMP
}
