/**
 * Build arguments: the predefined ones (platform args in the global scope, proxy args
 * usable without a declaration) and the global scope formed by ARGs before the first FROM.
 *
 * Scoping rules (BuildKit's, and case 02): a global ARG is visible to FROM lines only; a
 * stage sees an ARG only after declaring it (`ARG NAME` picks up the command-line value,
 * else the global value); a value never leaks from one stage to another.
 *
 * Pure: no I/O.
 *
 * @module
 */
import { formatPlatform, type Platform } from "../image/oci.ts";
import type { ArgInstruction } from "./dockerfile/instructions.ts";
import { ShellLexer } from "./dockerfile/shell_lexer.ts";

/** Proxy variables usable in RUN without an ARG and kept out of history and cache keys. */
export const PROXY_ARGS: readonly string[] = [
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
];

/**
 * The automatic platform ARGs (`TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`
 * and the `BUILD…` counterparts).
 *
 * @example
 * ```ts
 * platformArgs({ os: "linux", architecture: "arm64", variant: "v8" }, { os: "linux", architecture: "amd64" })
 *   .get("TARGETPLATFORM"); // "linux/arm64/v8"
 * ```
 */
export function platformArgs(target: Platform, build: Platform): Map<string, string> {
  return new Map([
    ["BUILDPLATFORM", formatPlatform(build)],
    ["BUILDOS", build.os],
    ["BUILDARCH", build.architecture],
    ["BUILDVARIANT", build.variant ?? ""],
    ["TARGETPLATFORM", formatPlatform(target)],
    ["TARGETOS", target.os],
    ["TARGETARCH", target.architecture],
    ["TARGETVARIANT", target.variant ?? ""],
  ]);
}

/**
 * Parses `--build-arg` values: `K=V` sets a value; a bare `K` takes the value of the
 * environment variable `K` and is dropped when that is unset (as Docker's CLI does).
 *
 * @example
 * ```ts
 * parseBuildArgs(["A=1", "HOME"], { HOME: "/root" }); // Map { "A" => "1", "HOME" => "/root" }
 * ```
 */
export function parseBuildArgs(
  values: string[],
  env: Record<string, string | undefined>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq === 0) throw new TypeError(`Invalid build-arg: ${JSON.stringify(v)} (empty name)`);
    if (eq > 0) out.set(v.slice(0, eq), v.slice(eq + 1));
    else if (env[v] !== undefined) out.set(v, env[v]!);
  }
  return out;
}

/**
 * Evaluates the ARGs before the first FROM into the global scope: a command-line value
 * wins, else the default expanded with the globals seen so far. Platform args are always
 * present. Names declared without any value are absent.
 *
 * @example
 * ```ts
 * globalScope([], new Map([["A", "1"]]), new Map()).get("A"); // undefined (never declared)
 * ```
 */
export function globalScope(
  metaArgs: readonly ArgInstruction[],
  buildArgs: ReadonlyMap<string, string>,
  platform: ReadonlyMap<string, string>,
  escapeToken = "\\",
): Map<string, string> {
  const scope = new Map(platform);
  const lex = new ShellLexer({ escapeToken });
  for (const inst of metaArgs) {
    for (const arg of inst.args) {
      const key = lex.processWord(arg.key, scope);
      if (buildArgs.has(key)) scope.set(key, buildArgs.get(key)!);
      else if (arg.value !== undefined) scope.set(key, lex.processWord(arg.value, scope));
    }
  }
  return scope;
}
