/**
 * Test helper: an HTTP proxy on 127.0.0.1 in front of a registry that injects faults —
 * 503s, 429s with `Retry-After`, answers lost after the registry acted (500), response
 * bodies cut off mid-stream (connection dropped) or ended early (short body) — so tests can
 * check that pulls and pushes recover or fail cleanly.
 *
 * @module
 */

/** What to do to one request. */
export type Fault =
  | { kind: "status"; status: number; retryAfter?: number }
  /** Forward, then answer 500 instead of the registry's answer (the registry did act). */
  | { kind: "lose-answer" }
  /** Forward, send the headers and `after` bytes of the body, then cut the connection. */
  | { kind: "drop"; after: number }
  /** Forward, send `after` bytes of the body and end it cleanly (chunked, no length). */
  | { kind: "short"; after: number };

/** Decides the fault (or none) for a request; `seen` counts earlier requests with the same method+path. */
export type FaultRule = (req: Request, url: URL, seen: number) => Fault | undefined;

/** One proxied request, for assertions. */
export interface ProxiedRequest {
  method: string;
  path: string;
  range: string | null;
  fault?: Fault["kind"];
}

/**
 * A fault-injecting proxy.
 *
 * @example
 * ```ts
 * const proxy = new FaultProxy("http://127.0.0.1:5000", (req, url, n) =>
 *   url.pathname.includes("/blobs/") && n === 0 ? { kind: "status", status: 503 } : undefined);
 * ```
 */
export class FaultProxy {
  readonly log: ProxiedRequest[] = [];
  rule: FaultRule;
  #upstream: string;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #seen = new Map<string, number>();

  constructor(upstream: string, rule: FaultRule) {
    this.#upstream = upstream.replace(/\/$/, "");
    this.rule = rule;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  /** `127.0.0.1:PORT` */
  get host(): string {
    return `127.0.0.1:${this.#server.addr.port}`;
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const key = `${req.method} ${url.pathname}`;
    const seen = this.#seen.get(key) ?? 0;
    this.#seen.set(key, seen + 1);
    const fault = this.rule(req, url, seen);
    this.log.push({
      method: req.method,
      path: url.pathname,
      range: req.headers.get("range"),
      fault: fault?.kind,
    });
    if (fault?.kind === "status") {
      await req.body?.cancel().catch(() => {});
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
      return new Response(`injected ${fault.status}`, { status: fault.status, headers });
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : null;
    const res = await fetch(this.#upstream + url.pathname + url.search, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? null : body,
      redirect: "manual",
    });
    const out = new Headers(res.headers);
    const loc = out.get("location");
    if (loc) out.set("location", loc.replace(this.#upstream, `http://${this.host}`));
    if (fault?.kind === "lose-answer") {
      await res.body?.cancel();
      return new Response("injected: answer lost", { status: 500 });
    }
    if ((fault?.kind === "drop" || fault?.kind === "short") && res.body) {
      const reader = res.body.getReader();
      let sent = 0;
      const limit = fault.after;
      if (fault.kind === "short") out.delete("content-length");
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done) return controller.close();
          if (sent + value.length >= limit) {
            controller.enqueue(value.subarray(0, limit - sent));
            sent = limit;
            await reader.cancel();
            // With Content-Length still announcing the whole body, ending early makes the
            // server cut the connection (a truncated body); without it the body just ends.
            controller.close();
            return;
          }
          sent += value.length;
          controller.enqueue(value);
        },
        cancel() {
          return reader.cancel();
        },
      });
      return new Response(stream, { status: res.status, headers: out });
    }
    return new Response(res.body, { status: res.status, headers: out });
  }
}
