/**
 * ctr's registry settings and where a registry is reached: which scheme, which mirrors.
 *
 * The settings are read from ctr's config file — `$CTR_CONFIG` if set, else
 * `<root>/config.json` — using the key names of Docker's `daemon.json` (other keys in the
 * file belong to other parts of ctr and are ignored here):
 *
 * ```json
 * {
 *   "insecure-registries": ["myhost:5000", "10.0.0.0/8"],
 *   "registry-mirrors": ["https://mirror.example.com"],
 *   "registry-host-mirrors": { "quay.io": ["http://127.0.0.1:5001"] },
 *   "max-concurrent-downloads": 3,
 *   "max-concurrent-uploads": 5,
 *   "max-download-attempts": 5,
 *   "registry-idle-timeout": 30
 * }
 * ```
 *
 * - `insecure-registries`: hosts (with port) or IPv4 CIDRs that may be reached over plain
 *   HTTP. ctr tries HTTPS first and falls back to HTTP, as Docker does. Loopback hosts
 *   (`localhost`, `127.0.0.0/8`, `::1`) are always allowed plain HTTP, and tried over HTTP
 *   first (then HTTPS), since a local registry is nearly always plain.
 * - `registry-mirrors`: pull-through mirrors of `docker.io`, tried in order before it;
 *   `registry-host-mirrors` is ctr's extension giving mirrors for any registry host. A
 *   mirror that fails or lacks the image falls through to the next and finally to the
 *   registry itself. Pushes never use mirrors.
 * - `max-concurrent-downloads` (default 3) / `max-concurrent-uploads` (default 5): layers
 *   fetched / pushed at the same time.
 * - `max-download-attempts` (default 5): attempts per registry request (and per stalled
 *   download without progress) before giving up, with exponential back-off in between.
 * - `registry-idle-timeout` (ctr's extension, seconds, default 30): a registry connection
 *   that sends nothing for this long is abandoned and retried (a download resumes).
 *
 * Pure except {@linkcode loadRegistryConfig}.
 *
 * @module
 */
import { DEFAULT_DOMAIN } from "../reference.ts";

/** Registry settings. */
export interface RegistryConfig {
  insecureRegistries: string[];
  /** Mirrors by registry host (`docker.io` from `registry-mirrors`). */
  mirrors: Record<string, string[]>;
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  /** Attempts per request before giving up. */
  maxAttempts: number;
  /** ms without data after which a connection counts as dropped. */
  idleTimeoutMs: number;
}

/** The settings when there is no config file. */
export const DEFAULT_REGISTRY_CONFIG: RegistryConfig = {
  insecureRegistries: [],
  mirrors: {},
  maxConcurrentDownloads: 3,
  maxConcurrentUploads: 5,
  maxAttempts: 5,
  idleTimeoutMs: 30_000,
};

/** Where the API of `docker.io` really is. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
/** The key Docker uses for Docker Hub in `~/.docker/config.json`. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";

function positiveInt(v: unknown, key: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    throw new TypeError(`Invalid config: "${key}" must be a positive integer`);
  }
  return v;
}

function stringList(v: unknown, key: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new TypeError(`Invalid config: "${key}" must be a list of strings`);
  }
  return v as string[];
}

/**
 * Reads the registry settings from a parsed config file.
 *
 * @example
 * ```ts
 * parseRegistryConfig({ "insecure-registries": ["h:5000"] }).insecureRegistries; // ["h:5000"]
 * ```
 */
export function parseRegistryConfig(doc: unknown, file = "config"): RegistryConfig {
  if (doc === undefined || doc === null) return { ...DEFAULT_REGISTRY_CONFIG, mirrors: {} };
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new TypeError(`Invalid ${file}: not a JSON object`);
  }
  const o = doc as Record<string, unknown>;
  const mirrors: Record<string, string[]> = {};
  const hub = stringList(o["registry-mirrors"], "registry-mirrors");
  if (hub.length) mirrors[DEFAULT_DOMAIN] = hub;
  const byHost = o["registry-host-mirrors"];
  if (byHost !== undefined) {
    if (typeof byHost !== "object" || byHost === null || Array.isArray(byHost)) {
      throw new TypeError(`Invalid ${file}: "registry-host-mirrors" must be an object`);
    }
    for (const [host, list] of Object.entries(byHost)) {
      mirrors[host] = [...(mirrors[host] ?? []), ...stringList(list, `registry-host-mirrors.${host}`)];
    }
  }
  for (const list of Object.values(mirrors)) {
    for (const m of list) {
      let u: URL;
      try {
        u = new URL(m);
      } catch {
        throw new TypeError(`Invalid ${file}: mirror ${JSON.stringify(m)} is not a URL`);
      }
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        throw new TypeError(`Invalid ${file}: mirror ${JSON.stringify(m)} must be http or https`);
      }
    }
  }
  return {
    insecureRegistries: stringList(o["insecure-registries"], "insecure-registries"),
    mirrors,
    maxConcurrentDownloads: positiveInt(
      o["max-concurrent-downloads"],
      "max-concurrent-downloads",
      DEFAULT_REGISTRY_CONFIG.maxConcurrentDownloads,
    ),
    maxConcurrentUploads: positiveInt(
      o["max-concurrent-uploads"],
      "max-concurrent-uploads",
      DEFAULT_REGISTRY_CONFIG.maxConcurrentUploads,
    ),
    maxAttempts: positiveInt(
      o["max-download-attempts"],
      "max-download-attempts",
      DEFAULT_REGISTRY_CONFIG.maxAttempts,
    ),
    idleTimeoutMs: positiveInt(o["registry-idle-timeout"], "registry-idle-timeout", 30) * 1000,
  };
}

/**
 * Loads the settings from `$CTR_CONFIG` or `<root>/config.json` (absent file: defaults).
 *
 * @example
 * ```ts
 * const config = await loadRegistryConfig("/var/lib/ctr");
 * ```
 */
export async function loadRegistryConfig(root: string): Promise<RegistryConfig> {
  const file = Deno.env.get("CTR_CONFIG") || `${root}/config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return parseRegistryConfig(undefined);
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Invalid ${file}: ${(e as Error).message}`);
  }
  return parseRegistryConfig(doc, file);
}

/** Splits `host[:port]` / `[v6]:port` into host and port. */
function splitHostPort(hostPort: string): { host: string; port?: string } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  if (m) return { host: m[1], port: m[2] };
  const colon = hostPort.lastIndexOf(":");
  if (colon !== -1 && hostPort.indexOf(":") === colon) {
    return { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
  }
  return { host: hostPort };
}

function ipv4ToInt(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split("/");
  const a = ipv4ToInt(ip), b = ipv4ToInt(net), n = Number(bits);
  if (a === undefined || b === undefined || !/^\d+$/.test(bits ?? "") || n > 32) return false;
  if (n === 0) return true;
  const mask = 2 ** 32 - 2 ** (32 - n);
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

/**
 * Whether a registry host (`host[:port]`) is on the loopback interface.
 *
 * @example
 * ```ts
 * isLoopbackHost("127.0.0.2:5000"); // true
 * ```
 */
export function isLoopbackHost(hostPort: string): boolean {
  const { host } = splitHostPort(hostPort);
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || inCidr(h, "127.0.0.0/8");
}

/**
 * Whether the config lists a host as insecure (by `host:port`, bare host, or IPv4 CIDR).
 *
 * @example
 * ```ts
 * isInsecureHost("10.1.2.3:5000", { ...DEFAULT_REGISTRY_CONFIG, insecureRegistries: ["10.0.0.0/8"] }); // true
 * ```
 */
export function isInsecureHost(hostPort: string, config: RegistryConfig): boolean {
  const { host } = splitHostPort(hostPort);
  return config.insecureRegistries.some((entry) => {
    const e = entry.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
    if (e.includes("/")) return inCidr(host, e);
    return e.toLowerCase() === hostPort.toLowerCase() || e.toLowerCase() === host.toLowerCase();
  });
}

/** One place a repository can be reached. */
export interface Endpoint {
  /** The registry host of the reference (`docker.io`, `127.0.0.1:5000`): credentials key. */
  registry: string;
  /** Base URLs to try in order until one answers, e.g. `["http://127.0.0.1:5000"]`. */
  bases: string[];
  /** True for a pull-through mirror (failures fall through to the next endpoint). */
  mirror: boolean;
}

/**
 * Where to reach a registry: mirrors first (pulls only), then the registry itself, with the
 * schemes allowed for it in the order to try.
 *
 * @example
 * ```ts
 * endpointsFor("localhost:5000", DEFAULT_REGISTRY_CONFIG, "pull");
 * // [{ registry: "localhost:5000", bases: ["http://localhost:5000", "https://localhost:5000"], mirror: false }]
 * ```
 */
export function endpointsFor(registry: string, config: RegistryConfig, access: "pull" | "push"): Endpoint[] {
  const out: Endpoint[] = [];
  if (access === "pull") {
    for (const m of config.mirrors[registry] ?? []) {
      out.push({ registry, bases: [m.replace(/\/+$/, "").replace(/\/v2$/, "")], mirror: true });
    }
  }
  const apiHost = registry === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : registry;
  let bases: string[];
  if (isLoopbackHost(apiHost)) bases = [`http://${apiHost}`, `https://${apiHost}`];
  else if (isInsecureHost(apiHost, config) || isInsecureHost(registry, config)) {
    bases = [`https://${apiHost}`, `http://${apiHost}`];
  } else bases = [`https://${apiHost}`];
  out.push({ registry, bases, mirror: false });
  return out;
}
