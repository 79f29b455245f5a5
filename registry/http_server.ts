/**
 * The HTTP server of `ctr serve`: the HTTP/1.1 transport (`http1.ts`) around the request handler, with metrics,
 * one access-log line per request, periodic expiry of upload sessions and graceful
 * shutdown. It runs inside the sandboxed worker (`worker.ts`), so everything it needs comes
 * in {@linkcode ServerSettings} — it reads nothing outside the storage root.
 *
 * @module
 */
import { JsonLog } from "./access_log.ts";
import { AccessController, type AuthSettings } from "./auth.ts";
import { RegistryError } from "./errors.ts";
import { createHandler, type RequestContext } from "./handler.ts";
import { serveHttp1 } from "./http1.ts";
import { RegistryMetrics } from "./metrics.ts";
import { openRegistry } from "./registry.ts";

/** Everything the server needs; structured-cloneable (it crosses into the worker). */
export interface ServerSettings {
  /** Storage root. */
  root: string;
  hostname: string;
  port: number;
  /** PEM certificate chain and key: serve HTTPS. */
  tls?: { cert: string; key: string };
  auth: AuthSettings;
  readOnly: boolean;
  uploadTtlMs: number;
  /** Write one JSON line per request on stderr. */
  accessLog: boolean;
  /** Log only errors (no start/stop events). */
  quiet?: boolean;
  /** Answer 429 TOOMANYREQUESTS beyond this many requests in flight (0: no limit). */
  maxInFlight?: number;
}

/** A running server. */
export interface HttpServer {
  hostname: string;
  port: number;
  /** Stops accepting connections, lets in-flight requests finish, closes storage. */
  shutdown(): Promise<void>;
}

function tooMany(): Response {
  const e = new RegistryError("TOOMANYREQUESTS", "Too many requests in flight; retry shortly", {
    headers: { "Retry-After": "1" },
  });
  return new Response(JSON.stringify(e.toJSON()), {
    status: e.status,
    headers: { "Content-Type": "application/json", ...API_VERSION, ...e.headers },
  });
}

const API_VERSION = { "Docker-Distribution-API-Version": "registry/2.0" };

/** How long a stop waits for requests in flight before it cuts them. */
const DRAIN_TIMEOUT_MS = 25_000;

/** How often expired upload sessions are purged. */
const PURGE_INTERVAL_MS = 10 * 60_000;

/**
 * Starts serving `settings.root` on `settings.hostname:settings.port`.
 *
 * @example
 * ```ts
 * const server = await runHttpServer({ root, hostname: "127.0.0.1", port: 5000, auth: {},
 *   readOnly: false, uploadTtlMs: 86_400_000, accessLog: true });
 * await server.shutdown();
 * ```
 */
export async function runHttpServer(settings: ServerSettings, log = new JsonLog()): Promise<HttpServer> {
  const services = openRegistry(settings.root, { uploadTtlMs: settings.uploadTtlMs });
  const access = new AccessController(settings.auth);
  const metrics = new RegistryMetrics();
  const handle = createHandler({
    services,
    access,
    readOnly: settings.readOnly,
    metrics: async () => metrics.render(await services.metadata.storageStats()),
    onInternalError: (e, req) =>
      log.error("internal error", {
        method: req.method,
        path: new URL(req.url).pathname,
        error: e instanceof Error ? (e.stack ?? e.message) : String(e),
      }),
  });

  const info = (msg: string, fields?: Record<string, unknown>) => settings.quiet || log.info(msg, fields);
  const purge = () =>
    services.uploads.purgeExpired().then(
      (n) => n && info("expired upload sessions removed", { count: n }),
      (e) => log.error("purging upload sessions failed", { error: String(e) }),
    );
  await purge();
  const purgeTimer = setInterval(purge, PURGE_INTERVAL_MS);
  Deno.unrefTimer(purgeTimer);

  let draining = false;
  const drained = Promise.withResolvers<void>();
  const listen = (handler: Parameters<typeof serveHttp1>[0]["handler"]) => {
    try {
      return serveHttp1({
        hostname: settings.hostname,
        port: settings.port,
        tls: settings.tls,
        onError: (e) =>
          log.error("internal error", { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
        onClientError: (e, remote) =>
          info("client connection failed", {
            remote: remote.hostname,
            error: e instanceof Error ? e.message : String(e),
          }),
        handler,
      });
    } catch (e) {
      services.metadata.close();
      throw new Error(
        `Cannot listen on ${settings.hostname}:${settings.port}: ${e instanceof Error ? e.message : e}`,
      );
    }
  };
  const server = listen(async (req, info) => {
    const start = performance.now();
    if (draining) {
      // Stopping: finish what is in flight, take nothing new (Deno's own shutdown would
      // also cut the request bodies still streaming in).
      await req.body?.cancel().catch(() => {});
      return new Response("the registry is stopping\n", {
        status: 503,
        headers: { "Connection": "close", "Retry-After": "1", ...API_VERSION },
      });
    }
    if (settings.maxInFlight && metrics.inFlight >= settings.maxInFlight) {
      await req.body?.cancel().catch(() => {});
      const res = tooMany();
      metrics.record({
        route: "limit",
        method: req.method,
        status: 429,
        seconds: 0,
        bytesIn: 0,
        bytesOut: 0,
      });
      return res;
    }
    metrics.inFlight++;
    const ctx: RequestContext = { route: "unknown", bytesIn: 0 };
    // Everything the log needs from the request is read now: after the response is sent
    // the request object is closed.
    const method = req.method;
    const url = settings.accessLog ? req.url : "";
    const remote = settings.accessLog ? (info.remoteAddr as Deno.NetAddr).hostname : "";
    const userAgent = settings.accessLog ? (req.headers.get("user-agent") ?? undefined) : undefined;
    let res: Response;
    try {
      res = await handle(req, ctx);
    } catch (e) {
      metrics.inFlight--;
      throw e;
    }
    const done = (aborted: boolean) => {
      metrics.inFlight--;
      if (draining && metrics.inFlight === 0) drained.resolve();
      const seconds = (performance.now() - start) / 1000;
      const bytesOut = method === "HEAD" || aborted ? 0 : Number(res.headers.get("content-length") ?? 0);
      metrics.record({
        route: ctx.route,
        method,
        status: res.status,
        seconds,
        bytesIn: ctx.bytesIn,
        bytesOut,
      });
      if (settings.accessLog) {
        const slash = url.indexOf("/", url.indexOf("//") + 2);
        log.line({
          level: "info",
          msg: "request",
          method,
          path: slash < 0 ? "/" : url.slice(slash),
          status: res.status,
          route: ctx.route,
          repository: ctx.repository,
          account: ctx.account,
          error: ctx.error,
          remote,
          bytes_in: ctx.bytesIn,
          bytes_out: bytesOut,
          duration_ms: Math.round(seconds * 1e6) / 1e3,
          user_agent: userAgent,
          aborted: aborted || undefined,
        });
      }
    };
    const safely = (aborted: boolean) => {
      try {
        done(aborted);
      } catch (e) {
        log.error("recording a request failed", { error: String(e) });
      }
    };
    info.completed.then(() => safely(false), () => safely(true));
    return res;
  });

  const addr = server.addr;
  info("listening", {
    addr: `${addr.hostname}:${addr.port}`,
    tls: !!settings.tls,
    auth: access.mode,
    root: settings.root,
    read_only: settings.readOnly,
  });
  return {
    hostname: addr.hostname,
    port: addr.port,
    async shutdown() {
      clearInterval(purgeTimer);
      draining = true;
      if (metrics.inFlight > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<void>((r) => timer = setTimeout(r, DRAIN_TIMEOUT_MS));
        await Promise.race([drained.promise, timeout]);
        clearTimeout(timer);
      }
      await server.shutdown();
      services.metadata.close();
      info("stopped");
      log.flush();
    },
  };
}
