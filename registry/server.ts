/**
 * Starting and stopping `ctr serve` from the main thread. The main thread reads what lies
 * outside the storage root (config, htpasswd, TLS files, token key), resolves the listen
 * address, and hands everything to the sandboxed worker (`worker.ts`) that serves requests
 * with only `net` on that address and `read`/`write` on the root (DESIGN.md §4).
 *
 * Tests and other programs start a registry with {@linkcode startRegistry}:
 *
 * ```ts
 * const reg = await startRegistry({ root: "/tmp/reg", addr: "127.0.0.1:0" });
 * await fetch(`${reg.url}/v2/`);
 * await reg.stop();
 * ```
 *
 * @module
 */
import { JsonLog } from "./access_log.ts";
import type { AccessRule, AuthSettings } from "./auth.ts";
import type { RegistryConfig } from "./config.ts";
import { parseHtpasswd } from "./htpasswd.ts";
import { type HttpServer, runHttpServer, type ServerSettings } from "./http_server.ts";
import { DEFAULT_UPLOAD_TTL_MS } from "./uploads.ts";
import type { WorkerReply, WorkerRequest } from "./worker.ts";

/** Default listen address. */
export const DEFAULT_ADDR = "127.0.0.1:5000";
/** How long a graceful stop waits for in-flight requests. */
const STOP_TIMEOUT_MS = 30_000;

/** Options of {@linkcode startRegistry}; flags win over the config file. */
export interface RegistryOptions {
  /** Storage root (created if missing); else the config's `root`, else `defaultRoot`. */
  root?: string;
  /** The root when neither `root` nor the config names one. */
  defaultRoot?: string;
  /** `host:port`; port 0 picks a free port. Default `127.0.0.1:5000`. */
  addr?: string;
  /** A parsed config file (see `config.ts`); `configFile` reads one. */
  config?: RegistryConfig;
  configFile?: string;
  htpasswdFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  readOnly?: boolean;
  /** One JSON line per request on stderr (default: the config's `log.access`, else true). */
  accessLog?: boolean;
  /** Log only errors: no start/stop events (tests). */
  quiet?: boolean;
  /** Handle requests in the permission-restricted worker (default true). */
  sandbox?: boolean;
  /** Access rules, overriding the config's. */
  access?: AccessRule[];
  /** Upload session time-to-live (ms), overriding the config's. */
  uploadTtlMs?: number;
  /** Requests in flight beyond which the registry answers 429, overriding the config's. */
  maxInFlight?: number;
}

/** A running registry. */
export interface RunningRegistry {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** `host:port` as clients name it (e.g. in image references). */
  host: string;
  hostname: string;
  port: number;
  /** The worker, when sandboxed (for the sandbox test's probe). */
  worker?: Worker;
  /** Graceful stop: in-flight requests finish first. */
  stop(): Promise<void>;
  /** Settles when the registry stops; rejects if its worker dies. */
  finished: Promise<void>;
}

/**
 * Splits `host:port` (`[v6]:port`, `:port` for all interfaces).
 *
 * @example
 * ```ts
 * parseAddr("127.0.0.1:5000"); // { hostname: "127.0.0.1", port: 5000 }
 * parseAddr(":5000");          // { hostname: "0.0.0.0", port: 5000 }
 * ```
 */
export function parseAddr(addr: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new RangeError(`Invalid listen address ${JSON.stringify(addr)}: expected host:port`);
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

function freePort(hostname: string): number {
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function readFileNamed(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`Cannot read the ${what} ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * Resolves options, config file and the files they name into the worker's settings.
 *
 * @example
 * ```ts
 * const settings = await resolveSettings({ root: "/tmp/reg", addr: "127.0.0.1:0" });
 * ```
 */
export async function resolveSettings(options: RegistryOptions): Promise<ServerSettings> {
  let config = options.config ?? {};
  if (options.configFile) {
    const { loadConfig } = await import("./config.ts");
    config = await loadConfig(options.configFile);
  }
  const { hostname, port: wanted } = parseAddr(options.addr ?? config.addr ?? DEFAULT_ADDR);
  const port = wanted === 0 ? freePort(hostname) : wanted;
  const certFile = options.tlsCertFile ?? config.tls?.cert;
  const keyFile = options.tlsKeyFile ?? config.tls?.key;
  if (!!certFile !== !!keyFile) {
    throw new Error("TLS needs both a certificate (--tls-cert) and a key (--tls-key)");
  }
  const tls = certFile && keyFile
    ? { cert: await readFileNamed(certFile, "TLS certificate"), key: await readFileNamed(keyFile, "TLS key") }
    : undefined;
  const auth: AuthSettings = {};
  const htpasswdFile = options.htpasswdFile ?? config.auth?.htpasswd;
  if (htpasswdFile) {
    auth.users = parseHtpasswd(await readFileNamed(htpasswdFile, "htpasswd file"), htpasswdFile);
  }
  const token = config.auth?.token;
  if (token) {
    const key = token.secretFile
      ? new TextEncoder().encode((await readFileNamed(token.secretFile, "token secret")).trim())
      : crypto.getRandomValues(new Uint8Array(32));
    if (key.length < 16) throw new Error(`The token secret in ${token.secretFile} is shorter than 16 bytes`);
    auth.token = {
      realm: token.realm,
      service: token.service ?? "ctr-registry",
      issuer: token.issuer ?? "ctr",
      expiresIn: token.expirationSeconds ?? 300,
      key,
    };
  }
  const rules = options.access ?? config.auth?.access;
  if (rules) auth.rules = rules;
  const root = options.root ?? config.root ?? options.defaultRoot;
  if (!root) throw new Error("No storage root given for the registry");
  return {
    root,
    hostname,
    port,
    tls,
    auth,
    readOnly: options.readOnly ?? config.readOnly ?? false,
    uploadTtlMs: options.uploadTtlMs ?? config.uploads?.ttlMs ?? DEFAULT_UPLOAD_TTL_MS,
    accessLog: options.accessLog ?? config.log?.access ?? true,
    quiet: options.quiet ?? false,
    maxInFlight: options.maxInFlight ?? config.limits?.requestsInFlight ?? 0,
  };
}

/**
 * The Deno permissions of the request-handling worker: the listen address and the storage
 * root, nothing else.
 *
 * @example
 * ```ts
 * new Worker(url, { type: "module", deno: { permissions: workerPermissions(settings) } });
 * ```
 */
export function workerPermissions(
  settings: { root: string; hostname: string; port: number },
): Deno.PermissionOptionsObject {
  const host = settings.hostname.includes(":") ? `[${settings.hostname}]` : settings.hostname;
  return {
    net: [`${host}:${settings.port}`],
    read: [settings.root],
    write: [settings.root],
    env: false,
    ffi: false,
    run: false,
    sys: false,
    import: false,
  };
}

/**
 * Starts a registry and resolves once it listens.
 *
 * @example
 * ```ts
 * const reg = await startRegistry({ root, addr: "127.0.0.1:0" });
 * console.log(reg.url);
 * await reg.stop();
 * ```
 */
export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  const settings = await resolveSettings(options);
  await Deno.mkdir(settings.root, { recursive: true });
  settings.root = await Deno.realPath(settings.root);
  const scheme = settings.tls ? "https" : "http";
  const finished = Promise.withResolvers<void>();
  const describe = (hostname: string, port: number) => {
    const shown = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
    const host = `${shown.includes(":") ? `[${shown}]` : shown}:${port}`;
    return { host, url: `${scheme}://${host}`, hostname, port };
  };

  if (options.sandbox === false) {
    const server: HttpServer = await runHttpServer(settings, new JsonLog());
    let stopped = false;
    return {
      ...describe(server.hostname, server.port),
      finished: finished.promise,
      async stop() {
        if (stopped) return finished.promise;
        stopped = true;
        await server.shutdown();
        finished.resolve();
      },
    };
  }

  const worker = new Worker(new URL("./worker.ts", import.meta.url), {
    type: "module",
    name: "ctr-registry",
    deno: { permissions: workerPermissions(settings) },
  } as WorkerOptions);
  const send = (msg: WorkerRequest) => worker.postMessage(msg);
  const started = Promise.withResolvers<{ hostname: string; port: number }>();
  const closed = Promise.withResolvers<void>();
  let exited = false;
  const exit = (error?: Error) => {
    if (exited) return;
    exited = true;
    worker.terminate();
    if (error) {
      started.reject(error);
      finished.reject(error);
    } else finished.resolve();
    closed.resolve();
  };
  worker.onmessage = (e: MessageEvent<WorkerReply>) => {
    const msg = e.data;
    if (msg.type === "listening") started.resolve(msg);
    else if (msg.type === "error") exit(new Error(msg.message));
    else if (msg.type === "closed") exit();
  };
  worker.onerror = (e) => {
    e.preventDefault();
    exit(new Error(`Registry worker failed: ${e.message}`));
  };
  send({ type: "start", settings });
  const where = await started.promise;
  finished.promise.catch(() => {});
  let stopping: Promise<void> | undefined;
  return {
    ...describe(where.hostname, where.port),
    worker,
    finished: finished.promise,
    stop() {
      if (!stopping) {
        send({ type: "shutdown" });
        const timer = setTimeout(() => exit(), STOP_TIMEOUT_MS);
        stopping = closed.promise.finally(() => clearTimeout(timer));
      }
      return stopping;
    },
  };
}

/**
 * Runs a registry until SIGINT or SIGTERM, then stops it gracefully (in-flight requests
 * finish). Prints the address it listens on to stdout.
 *
 * @example
 * ```ts
 * await serveUntilSignal({ root: "/var/lib/ctr/registry" });
 * ```
 */
export async function serveUntilSignal(options: RegistryOptions): Promise<void> {
  const reg = await startRegistry(options);
  console.log(`ctr registry listening on ${reg.url}`);
  const stop = () => {
    reg.stop();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await reg.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}
