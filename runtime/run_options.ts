/**
 * `ctr run` / `ctr create` flag values → a {@linkcode CreateRequest}, with Docker's parsing
 * and validation rules: byte sizes (`32m`), `--cpus`, `-v`, `--mount`, `--tmpfs`,
 * `--ulimit`, `--restart`, env files. Pure (file and environment access come in through
 * {@linkcode RunOptionsHost}) so everything is rejected before anything is created.
 *
 * @module
 */
import { parseSignal, RLIMIT } from "../ffi/constants.ts";
import { parseNetworkRunFlags } from "./network/run_flags.ts";
import { parseLogOptFlags } from "./log_options.ts";
import {
  type CreateRequest,
  defaultHostConfig,
  type MountOption,
  type RestartPolicy,
  type Ulimit,
} from "./container_config.ts";

/** What parsing may read from the caller's environment. */
export interface RunOptionsHost {
  /** Contents of an `--env-file`. */
  readFile(path: string): string;
  /** A variable of the caller's environment (for `-e NAME` without a value). */
  getEnv(name: string): string | undefined;
  /** Absolute path of a relative bind source (Docker's CLI resolves `./x`). */
  resolvePath(path: string): string;
  /** Number of CPUs of the host (for the `--cpus` range). */
  cpuCount: number;
}

/** Flag values as the CLI parser produced them (names as Docker's flags). */
export type RunFlags = Record<string, string | boolean | number | string[] | undefined>;

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * Parses a byte size as Docker does (`64m`, `1g`, `512k`, `1024`, `1.5g`; binary units).
 *
 * @example
 * ```ts
 * parseBytes("32m"); // 33554432
 * ```
 */
export function parseBytes(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(value) ??
    /^\s*(\d+(?:\.\d+)?)\s*(b)\s*$/i.exec(value);
  if (!m) throw new RangeError(`invalid size: '${value}'`);
  return Math.round(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Whether `name` is a valid container or volume name. */
export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

function absoluteTarget(target: string, spec: string): string {
  if (!target.startsWith("/")) {
    throw new TypeError(`invalid mount config: mount path must be absolute: ${spec}`);
  }
  return target;
}

/**
 * Parses `-v`: `DST` (anonymous volume), `NAME:DST[:opts]` or `/SRC:DST[:opts]`.
 *
 * @example
 * ```ts
 * parseVolumeFlag("/data:/srv:ro", (p) => p); // { Type: "bind", Source: "/data", Target: "/srv", ReadOnly: true }
 * ```
 */
export function parseVolumeFlag(spec: string, resolvePath: (p: string) => string): MountOption {
  const parts = spec.split(":");
  if (parts.length === 1) {
    return { Type: "volume", Source: "", Target: absoluteTarget(parts[0], spec), ReadOnly: false };
  }
  if (parts.length > 3 || parts.some((p) => p === "")) {
    throw new TypeError(`invalid volume specification: '${spec}'`);
  }
  const [src, dst, opts = ""] = parts;
  const options = opts ? opts.split(",") : [];
  let readonly = false, nocopy = false, propagation: string | undefined;
  for (const o of options) {
    if (o === "ro") readonly = true;
    else if (o === "rw") readonly = false;
    else if (o === "nocopy") nocopy = true;
    else if (/^r?(private|shared|slave)$/.test(o)) propagation = o;
    else if (o === "z" || o === "Z" || o === "consistent" || o === "cached" || o === "delegated") continue;
    else throw new TypeError(`invalid mode: ${o}`);
  }
  const target = absoluteTarget(dst, spec);
  const isPath = src.startsWith("/") || src.startsWith(".") || src.startsWith("~");
  if (isPath) {
    const m: MountOption = { Type: "bind", Source: resolvePath(src), Target: target, ReadOnly: readonly };
    if (propagation) m.BindPropagation = propagation;
    return m;
  }
  if (!isValidName(src)) {
    throw new TypeError(
      `"${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  const m: MountOption = { Type: "volume", Source: src, Target: target, ReadOnly: readonly };
  if (nocopy) m.VolumeNoCopy = true;
  return m;
}

function parseBool(v: string | undefined, key: string): boolean {
  if (v === undefined || v === "" || v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new TypeError(`invalid value for ${key}: ${v}`);
}

/**
 * Parses `--mount type=…,source=…,target=…[,readonly][,…]`.
 *
 * @example
 * ```ts
 * parseMountFlag("type=tmpfs,target=/run,tmpfs-size=1m", (p) => p);
 * ```
 */
export function parseMountFlag(spec: string, resolvePath: (p: string) => string): MountOption {
  let type: MountOption["Type"] = "volume";
  let source = "", target = "", readonly = false, nocopy = false;
  let size: number | undefined, mode: number | undefined, propagation: string | undefined;
  for (const field of spec.split(",")) {
    if (!field) continue;
    const eq = field.indexOf("=");
    const key = (eq === -1 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq === -1 ? undefined : field.slice(eq + 1);
    switch (key) {
      case "type":
        if (value !== "bind" && value !== "volume" && value !== "tmpfs") {
          throw new TypeError(`invalid mount type: ${value}`);
        }
        type = value;
        break;
      case "source":
      case "src":
        source = value ?? "";
        break;
      case "target":
      case "destination":
      case "dst":
        target = value ?? "";
        break;
      case "readonly":
      case "ro":
        readonly = parseBool(value, key);
        break;
      case "volume-nocopy":
        nocopy = parseBool(value, key);
        break;
      case "tmpfs-size":
        size = parseBytes(value ?? "");
        break;
      case "tmpfs-mode":
        mode = parseInt(value ?? "", 8);
        if (!Number.isInteger(mode)) throw new TypeError(`invalid value for tmpfs-mode: ${value}`);
        break;
      case "bind-propagation":
        propagation = value;
        break;
      case "consistency":
      case "volume-driver":
      case "volume-label":
      case "volume-opt":
      case "bind-recursive":
        break;
      default:
        throw new TypeError(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (!target) throw new TypeError(`invalid mount config: target is required: ${spec}`);
  absoluteTarget(target, spec);
  const m: MountOption = { Type: type, Source: source, Target: target, ReadOnly: readonly };
  if (type === "bind") {
    if (!source) throw new TypeError(`invalid mount config for type "bind": field Source must not be empty`);
    m.Source = resolvePath(source);
    if (propagation) m.BindPropagation = propagation;
  } else if (type === "tmpfs") {
    if (source) throw new TypeError(`invalid mount config for type "tmpfs": source must not be specified`);
    m.TmpfsOptions = {};
    if (size !== undefined) m.TmpfsOptions.SizeBytes = size;
    if (mode !== undefined) m.TmpfsOptions.Mode = mode;
  } else {
    if (source && !isValidName(source)) throw new TypeError(`invalid volume name: ${source}`);
    if (nocopy) m.VolumeNoCopy = true;
  }
  return m;
}

/**
 * Parses `--tmpfs /path[:opts]` (opts: `size=64m`, `mode=1777`, `ro`, …).
 *
 * @example
 * ```ts
 * parseTmpfsFlag("/run:size=1m,mode=700");
 * ```
 */
export function parseTmpfsFlag(spec: string): MountOption {
  const colon = spec.indexOf(":");
  const target = colon === -1 ? spec : spec.slice(0, colon);
  absoluteTarget(target, spec);
  const m: MountOption = { Type: "tmpfs", Source: "", Target: target, ReadOnly: false, TmpfsOptions: {} };
  for (const o of colon === -1 ? [] : spec.slice(colon + 1).split(",")) {
    if (o === "ro") m.ReadOnly = true;
    else if (o.startsWith("size=")) m.TmpfsOptions!.SizeBytes = parseBytes(o.slice(5));
    else if (o.startsWith("mode=")) m.TmpfsOptions!.Mode = parseInt(o.slice(5), 8);
  }
  return m;
}

/**
 * Parses `--ulimit name=soft[:hard]`.
 *
 * @example
 * ```ts
 * parseUlimit("nofile=1024:2048"); // { Name: "nofile", Soft: 1024, Hard: 2048 }
 * ```
 */
export function parseUlimit(spec: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(spec);
  if (!m) throw new TypeError(`invalid ulimit argument: ${spec}`);
  if (!(m[1] in RLIMIT)) throw new TypeError(`invalid ulimit type: ${m[1]}`);
  const soft = Number(m[2]), hard = m[3] !== undefined ? Number(m[3]) : soft;
  if (soft > hard && hard !== -1) {
    throw new TypeError(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  }
  return { Name: m[1], Soft: soft, Hard: hard };
}

/**
 * Parses `--restart`.
 *
 * @example
 * ```ts
 * parseRestartPolicy("on-failure:3"); // { Name: "on-failure", MaximumRetryCount: 3 }
 * ```
 */
export function parseRestartPolicy(spec: string): RestartPolicy {
  const [name, count] = spec.split(":");
  if (name === "" || name === "no") {
    if (count !== undefined) {
      throw new TypeError(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
    }
    return { Name: "no", MaximumRetryCount: 0 };
  }
  if (name === "always" || name === "unless-stopped") {
    if (count !== undefined) {
      throw new TypeError(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
    }
    return { Name: name, MaximumRetryCount: 0 };
  }
  if (name === "on-failure") {
    const n = count === undefined ? 0 : Number(count);
    if (!Number.isInteger(n) || n < 0) {
      throw new TypeError(`invalid restart policy: maximum retry count must be a positive integer`);
    }
    return { Name: name, MaximumRetryCount: n };
  }
  throw new TypeError(
    `invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
  );
}

/**
 * Parses an env file: `KEY=value` lines, `#` comments, blank lines, and bare `KEY` (taken
 * from the caller's environment when set, dropped otherwise).
 *
 * @example
 * ```ts
 * parseEnvFile("A=1\n# c\nB\n", () => "2"); // ["A=1", "B=2"]
 * ```
 */
export function parseEnvFile(
  text: string,
  getEnv: (k: string) => string | undefined,
  file = "env file",
): string[] {
  const out: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "").replace(/^\s+/, "");
    if (!line || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const key = eq === -1 ? line.trimEnd() : line.slice(0, eq);
    if (!key) throw new TypeError(`${file}:${i + 1}: no variable name in '${line}'`);
    if (/\s/.test(key)) {
      throw new TypeError(`${file}:${i + 1}: variable '${key}' contains whitespaces`);
    }
    if (eq !== -1) out.push(line);
    else {
      const v = getEnv(key);
      if (v !== undefined) out.push(`${key}=${v}`);
    }
  });
  return out;
}

/**
 * The `-e`/`--env` values: `KEY=value` kept as given, a bare `KEY` taken from the caller's
 * environment (dropped when unset); an empty name is refused, as Docker does.
 *
 * @example
 * ```ts
 * parseEnvFlags(["A=1", "HOME"], (k) => k === "HOME" ? "/root" : undefined); // ["A=1", "HOME=/root"]
 * ```
 */
export function parseEnvFlags(values: string[], getEnv: (k: string) => string | undefined): string[] {
  const out: string[] = [];
  for (const e of values) {
    const eq = e.indexOf("=");
    if (eq === 0 || e === "") throw new TypeError(`invalid environment variable: ${e}`);
    if (eq > 0) out.push(e);
    else {
      const v = getEnv(e);
      if (v !== undefined) out.push(`${e}=${v}`);
    }
  }
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function list(v: unknown): string[] {
  return Array.isArray(v) ? v as string[] : [];
}

/**
 * Builds the request for `ctr create/run IMAGE [COMMAND] [ARG…]` from parsed flags.
 * Throws `TypeError`/`RangeError` with Docker's wording on bad values (exit 125).
 *
 * @example
 * ```ts
 * const req = buildCreateRequest({ memory: "32m", rm: true }, ["busybox", "echo", "hi"], host);
 * ```
 */
export function buildCreateRequest(flags: RunFlags, args: string[], host: RunOptionsHost): CreateRequest {
  const [image, ...cmd] = args;
  if (!image) throw new TypeError("requires at least 1 argument");
  const hc = defaultHostConfig();
  const name = str(flags.name) ?? "";
  if (name && !isValidName(name.replace(/^\//, ""))) {
    throw new TypeError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  const workingDir = str(flags.workdir);
  if (workingDir !== undefined && !workingDir.startsWith("/")) {
    throw new TypeError(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`);
  }
  const env: string[] = [];
  for (const f of list(flags["env-file"])) env.push(...parseEnvFile(host.readFile(f), host.getEnv, f));
  env.push(...parseEnvFlags(list(flags.env), host.getEnv));
  const labels: Record<string, string> = {};
  for (const l of list(flags.label)) {
    const eq = l.indexOf("=");
    labels[eq === -1 ? l : l.slice(0, eq)] = eq === -1 ? "" : l.slice(eq + 1);
  }

  if (str(flags.memory)) {
    hc.Memory = parseBytes(flags.memory as string);
    if (hc.Memory > 0 && hc.Memory < 6 * 1024 * 1024) {
      throw new RangeError("Minimum memory limit allowed is 6MB");
    }
  }
  if (str(flags["memory-swap"])) {
    const v = flags["memory-swap"] as string;
    hc.MemorySwap = v === "-1" ? -1 : parseBytes(v);
    if (hc.MemorySwap > 0 && hc.Memory === 0) {
      throw new TypeError("You should always set the Memory limit when using Memoryswap limit, see usage");
    }
    if (hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory) {
      throw new RangeError("Minimum memoryswap limit should be larger than memory limit, see usage");
    }
  }
  if (str(flags.cpus)) {
    const n = Number(flags.cpus);
    if (!Number.isFinite(n) || n < 0) {
      throw new RangeError(`invalid argument "${flags.cpus}" for "--cpus" flag`);
    }
    if (n > host.cpuCount || (n > 0 && n < 0.01)) {
      throw new RangeError(
        `range of CPUs is from 0.01 to ${
          host.cpuCount.toFixed(2)
        }, as there are only ${host.cpuCount} CPUs available`,
      );
    }
    hc.NanoCpus = Math.round(n * 1e9);
  }
  if (typeof flags["cpu-shares"] === "number") hc.CpuShares = flags["cpu-shares"];
  if (typeof flags["pids-limit"] === "number") hc.PidsLimit = flags["pids-limit"];
  if (str(flags["shm-size"])) {
    hc.ShmSize = parseBytes(flags["shm-size"] as string);
    if (hc.ShmSize <= 0) throw new RangeError("SHM size can not be less than 0");
  }
  if (str(flags.restart)) hc.RestartPolicy = parseRestartPolicy(flags.restart as string);
  hc.AutoRemove = flags.rm === true;
  if (hc.AutoRemove && hc.RestartPolicy.Name !== "no") {
    throw new TypeError("Conflicting options: --restart and --rm");
  }
  // Network flags: runtime/network/run_flags.ts (the network exists is checked at create).
  const net = parseNetworkRunFlags(flags);
  Object.assign(hc, net.hostConfig);
  if (hc.NetworkMode === "host" && str(flags.hostname)) {
    throw new TypeError("Conflicting options: hostname and the network mode");
  }
  for (const v of list(flags.volume)) {
    const m = parseVolumeFlag(v, host.resolvePath);
    hc.Mounts.push(m);
    if (m.Type === "bind") hc.Binds.push(v);
  }
  for (const v of list(flags.mount)) hc.Mounts.push(parseMountFlag(v, host.resolvePath));
  for (const v of list(flags.tmpfs)) hc.Mounts.push(parseTmpfsFlag(v));
  const targets = new Set<string>();
  for (const m of hc.Mounts) {
    if (targets.has(m.Target)) throw new TypeError(`Duplicate mount point: ${m.Target}`);
    targets.add(m.Target);
  }
  hc.ReadonlyRootfs = flags["read-only"] === true;
  hc.GroupAdd = list(flags["group-add"]);
  hc.CapAdd = list(flags["cap-add"]);
  hc.CapDrop = list(flags["cap-drop"]);
  hc.Init = flags.init === true;
  hc.Privileged = flags.privileged === true;
  hc.SecurityOpt = list(flags["security-opt"]);
  if (flags.userns !== undefined) {
    const mode = String(flags.userns);
    if (mode !== "host" && mode !== "auto" && mode !== "") {
      throw new TypeError(`invalid USER namespace mode: "${mode}" (host or auto)`);
    }
    hc.UsernsMode = mode;
  }
  hc.Ulimits = list(flags.ulimit).map(parseUlimit);
  const logOpts = list(flags["log-opt"]);
  if (logOpts.length) hc.LogConfig = { Type: "json-file", Config: parseLogOptFlags(logOpts) };

  const stopSignal = str(flags["stop-signal"]);
  if (stopSignal !== undefined) parseSignal(stopSignal);
  const stopTimeout = typeof flags["stop-timeout"] === "number" ? flags["stop-timeout"] : undefined;
  const entrypoint = typeof flags.entrypoint === "string" ? flags.entrypoint : undefined;
  return {
    name: name.replace(/^\//, ""),
    image,
    cmd,
    entrypoint,
    env,
    workingDir,
    user: str(flags.user),
    hostname: str(flags.hostname),
    domainname: str(flags.domainname),
    labels,
    tty: flags.tty === true,
    openStdin: flags.interactive === true,
    stopSignal,
    stopTimeout,
    hostConfig: hc,
    exposedPorts: net.exposedPorts,
    networking: net.networking,
  };
}
