/**
 * Options that apply to every command (`--root`, `--debug`), set once by `cli/main.ts`
 * before a command runs and read by the command handlers. Library code under `image/`,
 * `runtime/`, `build/` and `registry/` takes these as parameters instead.
 *
 * @module
 */

/** Default state directory (DESIGN.md §6). */
export const DEFAULT_ROOT = "/var/lib/ctr";

/** Global flags accepted before the command name (parsed by `cli/main.ts`). */
export const globalFlags = [
  { name: "root", value: "DIR", description: 'State directory (default "/var/lib/ctr", or $CTR_ROOT)' },
  { name: "debug", short: "D", description: "Print stack traces of errors" },
] as const;

const state = { root: "", debug: false };

/**
 * The state root: `--root`, else `$CTR_ROOT`, else `/var/lib/ctr`.
 *
 * @example
 * ```ts
 * const store = new ContentStore(rootDir());
 * ```
 */
export function rootDir(): string {
  if (!state.root) state.root = Deno.env.get("CTR_ROOT") || DEFAULT_ROOT;
  return state.root;
}

/** Whether `--debug` was given (stack traces on errors). */
export function isDebug(): boolean {
  return state.debug;
}

/** Sets the global options; called by `cli/main.ts` only. */
export function setGlobalOptions(options: { root?: string; debug?: boolean }): void {
  if (options.root !== undefined) state.root = options.root;
  if (options.debug !== undefined) state.debug = options.debug;
}
