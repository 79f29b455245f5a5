/**
 * The CLI driver: global flags, command lookup, error reporting and exit codes.
 *
 * Exit codes follow Docker: a command's own code, 125 when ctr itself fails (bad flags,
 * missing image, runtime error), and whatever an {@linkcode ExitCodeError} carries.
 *
 * @module
 */
import { ExitCodeError, UsageError } from "../errors.ts";
import { type CommandSpec, dispatch } from "./flags.ts";
import { commandTable } from "./table.ts";
import { isDebug, setGlobalOptions } from "./global.ts";

/**
 * Runs the CLI with `args` and returns the process exit code.
 *
 * @example
 * ```ts
 * Deno.exit(await main(["images", "-q"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === "--root" && i + 1 < args.length) setGlobalOptions({ root: args[++i] });
    else if (a.startsWith("--root=")) setGlobalOptions({ root: a.slice(7) });
    else if (a === "--debug" || a === "-D") setGlobalOptions({ debug: true });
    else break;
  }
  let name = args[i];
  const rest = args.slice(i + 1);
  if (name === undefined || name === "-h" || name === "--help") name = "help";
  if (name === "-v" || name === "--version") name = "version";
  try {
    const loader = commandTable[name];
    if (!loader) {
      throw new UsageError(`'${name}' is not a ctr command.\nSee 'ctr --help'`);
    }
    const group = await loader();
    const spec: CommandSpec | undefined = group.commands.find((c) =>
      c.name === name || c.aliases?.includes(name)
    );
    if (!spec) throw new UsageError(`'${name}' is not a ctr command.\nSee 'ctr --help'`);
    return await dispatch(spec, rest, spec.name);
  } catch (err) {
    return reportError(err);
  }
}

/**
 * Prints an error the way Docker's CLI does and returns the exit code for it.
 *
 * @example
 * ```ts
 * return reportError(new NotFoundError("No such image: x"));  // prints "ctr: No such image: x", 125
 * ```
 */
export function reportError(err: unknown): number {
  if (err instanceof ExitCodeError) {
    if (err.message) console.error(`ctr: ${err.message}${rootHint(err.message)}`);
    if (isDebug() && err.cause instanceof Error && err.cause.stack) console.error(err.cause.stack);
    return err.code;
  }
  if (err instanceof UsageError) {
    const hint = err.command ? `\nSee 'ctr ${err.command} --help'.` : "";
    console.error(`ctr: ${err.message}${err.message.includes("See 'ctr") ? "" : hint}`);
    return 125;
  }
  const message = err instanceof Error ? err.message : String(err);
  console.error(`ctr: ${message}${rootHint(message)}`);
  if (isDebug() && err instanceof Error && err.stack) console.error(err.stack);
  return 125;
}

const DENIED =
  /\b(EPERM|EACCES)\b|Permission denied|Operation not permitted|readonly database|unable to open database/;

/**
 * A second line for a refusal met by a user who is not root: most commands create
 * namespaces, mount, chown and open `/run/ctr`, which only root may (rootless mode does not
 * exist). Empty otherwise, or when this process may not ask its uid.
 */
function rootHint(message: string): string {
  if (!DENIED.test(message)) return "";
  let uid: number | null;
  try {
    uid = Deno.uid();
  } catch {
    return "";
  }
  if (uid === 0 || uid === null) return "";
  return `\nctr: you are not root (uid ${uid}): ctr needs root for containers, images and networks`;
}
