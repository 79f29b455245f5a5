/**
 * Logging options of a container, as Docker's json-file driver takes them: `--log-opt
 * max-size=10m --log-opt max-file=3` on `run`/`create`, and daemon-wide defaults under
 * `log-opts` in `<root>/config.json` (or `$CTR_CONFIG`), Docker's `daemon.json` key:
 *
 * ```json
 * { "log-opts": { "max-size": "10m", "max-file": "3" } }
 * ```
 *
 * - `max-size`: the log file is rotated when it has reached this size (`k`, `m`, `g` units;
 *   `-1`, the default, means never, as Docker);
 * - `max-file`: how many files to keep, the current one included (default 1: a rotation
 *   starts the file afresh); only with `max-size`.
 *
 * A container's own options win key by key over the defaults; the merged set is recorded
 * in `HostConfig.LogConfig` at create (as `docker inspect` shows it). Pure but for
 * {@linkcode readDaemonLogOpts}, which reads the config file.
 *
 * @module
 */

/** Docker's `HostConfig.LogConfig`. */
export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

/** What the log writer needs. */
export interface LogRotation {
  /** Bytes after which the file is rotated; -1: never. */
  maxSize: number;
  /** Files kept, the current one included (≥ 1). */
  maxFile: number;
}

const KNOWN = new Set(["max-size", "max-file"]);
const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses `max-size` as Docker's json-file driver (binary units: `10k` is 10 240 bytes).
 *
 * @example
 * ```ts
 * parseLogSize("10m"); // 10485760
 * ```
 */
export function parseLogSize(value: string): number {
  if (value.trim() === "-1") return -1;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) throw new RangeError(`invalid value for max-size: ${value}`);
  const n = Math.round(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  if (n <= 0) throw new RangeError(`invalid value for max-size: ${value} (must be positive)`);
  return n;
}

/**
 * `--log-opt KEY=VALUE` flags into a map, refusing malformed ones and keys the json-file
 * driver does not have.
 *
 * @example
 * ```ts
 * parseLogOptFlags(["max-size=10m", "max-file=3"]); // { "max-size": "10m", "max-file": "3" }
 * ```
 */
export function parseLogOptFlags(flags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw new TypeError(`invalid log opt: ${f} (KEY=VALUE)`);
    out[f.slice(0, eq)] = f.slice(eq + 1);
  }
  logRotation({ Type: "json-file", Config: out });
  return out;
}

/**
 * The merged config of a new container: its own options over the daemon's `log-opts`.
 *
 * @example
 * ```ts
 * mergeLogConfig({ "max-size": "1m" }, { "max-size": "10m", "max-file": "3" });
 * // { Type: "json-file", Config: { "max-size": "1m", "max-file": "3" } }
 * ```
 */
export function mergeLogConfig(own: Record<string, string>, defaults: Record<string, string>): LogConfig {
  // Keys sorted, as Docker (a Go map) shows them.
  const config = Object.fromEntries(
    Object.entries({ ...defaults, ...own }).sort(([a], [b]) => a < b ? -1 : 1),
  );
  const merged = { Type: "json-file", Config: config };
  logRotation(merged);
  return merged;
}

/**
 * The daemon's `log-opts` of a parsed config document (`{}` when absent); throws naming the
 * file for a malformed one.
 *
 * @example
 * ```ts
 * daemonLogOpts({ "log-opts": { "max-size": "10m" } }); // { "max-size": "10m" }
 * ```
 */
export function daemonLogOpts(doc: unknown, file = "config.json"): Record<string, string> {
  const opts = (doc as Record<string, unknown> | null)?.["log-opts"];
  if (opts === undefined) return {};
  if (!opts || typeof opts !== "object" || Array.isArray(opts)) {
    throw new TypeError(`Invalid "log-opts" in ${file}: an object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts)) {
    if (typeof v !== "string") throw new TypeError(`Invalid "log-opts" in ${file}: "${k}" must be a string`);
    out[k] = v;
  }
  try {
    logRotation({ Type: "json-file", Config: out });
  } catch (e) {
    throw new TypeError(`Invalid "log-opts" in ${file}: ${(e as Error).message}`);
  }
  return out;
}

/**
 * The rotation a log config asks for (no config: Docker's default, never rotated).
 *
 * @example
 * ```ts
 * logRotation({ Type: "json-file", Config: { "max-size": "1k", "max-file": "2" } }); // { maxSize: 1024, maxFile: 2 }
 * ```
 */
export function logRotation(config: LogConfig | undefined): LogRotation {
  const c = config?.Config ?? {};
  for (const k of Object.keys(c)) {
    if (!KNOWN.has(k)) throw new TypeError(`unknown log opt '${k}' for json-file log driver`);
  }
  const maxSize = c["max-size"] !== undefined ? parseLogSize(c["max-size"]) : -1;
  let maxFile = 1;
  if (c["max-file"] !== undefined) {
    if (!/^\d+$/.test(c["max-file"].trim()) || Number(c["max-file"]) < 1) {
      throw new RangeError(`invalid value for max-file: ${c["max-file"]} (a positive integer)`);
    }
    maxFile = Number(c["max-file"]);
    if (maxFile > 1 && maxSize === -1) throw new TypeError("max-file can only be set if max-size is set");
  }
  return { maxSize, maxFile };
}

/**
 * The `log-opts` of a state root's config file (`$CTR_CONFIG` or `<root>/config.json`).
 *
 * @example
 * ```ts
 * readDaemonLogOpts("/var/lib/ctr"); // {} without a config file
 * ```
 */
export function readDaemonLogOpts(root: string): Record<string, string> {
  const path = Deno.env.get("CTR_CONFIG") || `${root}/config.json`;
  let doc: unknown;
  try {
    doc = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw new SyntaxError(`${path}: ${(e as Error).message}`);
  }
  return daemonLogOpts(doc, path);
}
