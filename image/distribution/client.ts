/**
 * HTTP to one registry endpoint: choosing the scheme by pinging `/v2/`, attaching
 * authorisation, answering a 401 challenge once, and retrying what is worth retrying —
 * dropped connections, 5xx, and 429 (waiting as long as `Retry-After` asks) — with
 * exponential back-off and jitter. Requests whose body is a stream are not replayable and
 * are sent once; their callers recover at a higher level (resumed downloads, upload status).
 *
 * @module
 */
import { Authorizer, errorDetail, readText, UnauthorizedError } from "./auth.ts";
import { retryAfterMs } from "./headers.ts";
import type { Credentials } from "./credentials.ts";
import type { Endpoint } from "./config.ts";

/** ctr's `User-Agent`. */
export const USER_AGENT = "ctr/0.1.0";

/** How hard to retry. */
export interface RetryPolicy {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  /** First back-off delay; doubles each time, with ±50 % jitter. */
  baseDelayMs: number;
  /** Cap for one delay, including `Retry-After`. */
  maxDelayMs: number;
  /**
   * A connection that sends nothing for this long (no answer, or a body that stopped
   * flowing) counts as dropped: it is abandoned and retried (downloads resume).
   */
  idleTimeoutMs?: number;
}

/** The default policy: 6 attempts, 200 ms doubling, at most 30 s per wait, 30 s idle timeout. */
export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 6,
  baseDelayMs: 200,
  maxDelayMs: 30_000,
  idleTimeoutMs: 30_000,
};

/** A connection sent nothing for the idle timeout. Counts as a network failure. */
export class IdleTimeoutError extends Error {
  override name = "IdleTimeoutError";
}

/**
 * Aborts `controller` when {@linkcode Watchdog.kick} is not called for `ms`.
 *
 * @example
 * ```ts
 * const dog = new Watchdog(controller, 30_000);
 * for await (const chunk of body) dog.kick();
 * dog.stop();
 * ```
 */
export class Watchdog {
  #controller: AbortController;
  #ms: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether it fired. */
  fired = false;

  constructor(controller: AbortController, ms: number) {
    this.#controller = controller;
    this.#ms = ms;
    this.kick();
  }

  /** Something arrived: start the wait again. */
  kick(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.fired = true;
      this.#controller.abort(new IdleTimeoutError(`No data for ${this.#ms / 1000} s`));
    }, this.#ms);
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** An error answer of the registry (after retries), with its status and error codes. */
export class RegistryError extends Error {
  override name = "RegistryError";
  readonly status: number;
  /** Error codes from the body (`MANIFEST_UNKNOWN`, …). */
  readonly codes: string[];
  constructor(message: string, status: number, codes: string[] = []) {
    super(message);
    this.status = status;
    this.codes = codes;
  }
}

/** Options of one request. */
export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A replayable body (bytes) or a stream (sent once, never retried). */
  body?: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;
  /** Scopes the request needs (for Bearer tokens). */
  scopes?: string[];
  /** Statuses to return instead of throwing (2xx always returned). */
  accept?: number[];
  signal?: AbortSignal;
}

/** Options of a client. */
export interface ClientOptions {
  credentials?: Credentials;
  retry?: RetryPolicy;
  fetch?: typeof fetch;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });

function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504 ||
    status === 408;
}

/**
 * An error's message with its causes (`fetch failed: error sending request …: invalid
 * peer certificate: UnknownIssuer`): Deno's `fetch` puts the useful part in `cause`.
 *
 * @example
 * ```ts
 * errorText(new TypeError("fetch failed", { cause: new Error("connection refused") }));
 * // "fetch failed: connection refused"
 * ```
 */
export function errorText(e: unknown): string {
  const parts: string[] = [];
  for (let x: unknown = e, depth = 0; x !== undefined && x !== null && depth < 5; depth++) {
    const m = x instanceof Error ? x.message : String(x);
    if (m && !parts.includes(m)) parts.push(m);
    x = x instanceof Error ? x.cause : undefined;
  }
  return parts.join(": ");
}

/** Whether an error thrown by `fetch` or a body read is a network failure worth retrying. */
export function isNetworkError(e: unknown): boolean {
  if (e instanceof IdleTimeoutError) return true;
  if (e instanceof DOMException && e.name === "AbortError") return false;
  if (e instanceof Deno.errors.Interrupted || e instanceof Deno.errors.ConnectionReset) return true;
  if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.ConnectionAborted) return true;
  if (e instanceof Deno.errors.UnexpectedEof || e instanceof Deno.errors.BrokenPipe) return true;
  if (e instanceof TypeError) {
    const text = errorText(e);
    // A certificate the client does not trust is not going to change on retry, and neither
    // is a port that fetch refuses to use.
    // Plain HTTP sent to a TLS port (or the reverse) fails the same way every time, too.
    if (/certificate|UnknownIssuer|NotValidForName|BadSignature|blocked|invalid HTTP version/i.test(text)) {
      return false;
    }
    return /fetch failed|error sending request|connection|network|body|stream|eof|reset|closed|incomplete/i
      .test(text);
  }
  return false;
}

/**
 * The delay before retry number `attempt` (0-based) under `policy`, honouring `Retry-After`.
 *
 * @example
 * ```ts
 * backoffMs(0, DEFAULT_RETRY, 1000); // 1000 (the server's wish)
 * ```
 */
export function backoffMs(attempt: number, policy: RetryPolicy, retryAfter?: number): number {
  if (retryAfter !== undefined) return Math.min(retryAfter, policy.maxDelayMs);
  const base = policy.baseDelayMs * 2 ** attempt;
  return Math.min(policy.maxDelayMs, base * (0.5 + Math.random()));
}

/**
 * A connected registry endpoint.
 *
 * @example
 * ```ts
 * const client = await RegistryClient.connect(endpointsFor("127.0.0.1:5000", config, "pull")[0]);
 * const res = await client.request("/v2/team/app/tags/list", { scopes: ["repository:team/app:pull"] });
 * ```
 */
export class RegistryClient {
  /** Registry host of the reference (credentials key). */
  readonly registry: string;
  /** Base URL in use, e.g. `http://127.0.0.1:5000`. */
  readonly base: string;
  readonly auth: Authorizer;
  readonly retry: RetryPolicy;
  readonly mirror: boolean;
  #fetch: typeof fetch;

  constructor(endpoint: Endpoint, base: string, auth: Authorizer, options: ClientOptions = {}) {
    this.registry = endpoint.registry;
    this.mirror = endpoint.mirror;
    this.base = base;
    this.auth = auth;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * Pings `/v2/` on each base URL of the endpoint in turn and returns a client for the first
   * that answers as a registry. A 401 there teaches the client the registry's challenge.
   */
  static async connect(endpoint: Endpoint, options: ClientOptions = {}): Promise<RegistryClient> {
    const auth = new Authorizer(endpoint.registry, options.credentials, {
      fetch: options.fetch,
      userAgent: USER_AGENT,
    });
    // Each round tries every base URL once: a plain-HTTP attempt at a TLS port fails at
    // once and must not be retried before HTTPS is tried. Rounds repeat with back-off while
    // the failures look transient (refused connections, 5xx, 429).
    const retry = options.retry ?? DEFAULT_RETRY;
    let errors: string[] = [];
    for (let round = 0; round < retry.attempts; round++) {
      if (round > 0) await sleep(backoffMs(round - 1, retry));
      errors = [];
      let transient = false;
      let definitive = false;
      for (const base of endpoint.bases) {
        const client = new RegistryClient(endpoint, base, auth, options);
        try {
          const res = await client.#send(`${base}/v2/`, { method: "GET" }, false);
          const text = await readText(res);
          if (res.status === 400 && /https/i.test(text)) {
            errors.push(`${base}: the server expects HTTPS`);
            continue;
          }
          if (res.status === 401) auth.observe(res.headers.get("www-authenticate"));
          else if (isRetryableStatus(res.status)) {
            errors.push(`${base}/v2/: ${res.status} ${res.statusText}`);
            transient = true;
            continue;
          }
          return client;
        } catch (e) {
          const text = errorText(e);
          if (base.startsWith("http:") && /invalid HTTP version parsed/.test(text)) {
            // TLS bytes where HTTP was expected: say so rather than quote the parser.
            errors.push(`${base}: the server expects HTTPS`);
            continue;
          }
          errors.push(`${base}/v2/: ${text}`);
          if (/invalid peer certificate|certificate/i.test(text)) {
            errors.push(
              `to trust the registry's certificate authority, put its certificate in certs.d/${endpoint.registry}/ca.crt under the state root or /etc/docker`,
            );
          }
          if (isNetworkError(e)) transient = true;
          else definitive = true;
        }
      }
      if (!transient || definitive) break;
    }
    throw new Error(`Cannot reach registry ${endpoint.registry}: ${errors.join("; ")}`);
  }

  /** Absolute URL of a registry path (`/v2/…`) or a `Location` the registry sent. */
  url(pathOrUrl: string): string {
    return new URL(pathOrUrl, this.base + "/").href;
  }

  /** One fetch, retried on network errors and retryable statuses when `retryable`. */
  async #send(url: string, init: RequestInit, retryable: boolean): Promise<Response> {
    const attempts = retryable ? this.retry.attempts : 1;
    for (let attempt = 0;; attempt++) {
      let res: Response;
      // No answer within the idle timeout: abandon the attempt.
      const idle = new AbortController();
      const dog = new Watchdog(idle, this.retry.idleTimeoutMs ?? DEFAULT_RETRY.idleTimeoutMs!);
      const signal = init.signal ? AbortSignal.any([init.signal, idle.signal]) : idle.signal;
      try {
        res = await this.#fetch(url, { ...init, signal, redirect: "follow" });
        dog.stop();
      } catch (e) {
        dog.stop();
        const err = dog.fired ? new IdleTimeoutError(`No answer from ${new URL(url).host} (${url})`) : e;
        if (attempt + 1 >= attempts || !isNetworkError(err)) throw err;

        await sleep(backoffMs(attempt, this.retry), init.signal ?? undefined);
        continue;
      }
      if (!isRetryableStatus(res.status) || attempt + 1 >= attempts) return res;
      const wait = backoffMs(attempt, this.retry, retryAfterMs(res.headers.get("retry-after")));
      await res.body?.cancel().catch(() => {});
      await sleep(wait, init.signal ?? undefined);
    }
  }

  /**
   * Sends a request to the registry with authorisation, retrying as described in the module
   * doc. Returns the response for 2xx and the statuses in `accept`; throws
   * {@linkcode RegistryError} for others and {@linkcode UnauthorizedError} when refused.
   */
  async request(pathOrUrl: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.url(pathOrUrl);
    const method = options.method ?? "GET";
    const scopes = options.scopes ?? [];
    const replayable = !(options.body instanceof ReadableStream);
    let challenged = false;
    for (;;) {
      const headers: Record<string, string> = { "User-Agent": USER_AGENT, ...options.headers };
      const authorization = await this.auth.authorization(scopes);
      if (authorization) headers.Authorization = authorization;
      const res = await this.#send(url, {
        method,
        headers,
        body: options.body ?? null,
        signal: options.signal,
      }, replayable);
      if (res.status === 401 && !options.accept?.includes(401)) {
        const header = res.headers.get("www-authenticate");
        const body = await readText(res).catch(() => "");
        if (!challenged && replayable && this.auth.observe(header)) {
          challenged = true;
          if (authorization) this.auth.invalidate();
          if (this.auth.scheme === "basic" && !this.auth.hasCredentials) {
            throw this.#unauthorized(body);
          }
          continue;
        }
        throw this.#unauthorized(body);
      }
      if (res.ok || options.accept?.includes(res.status)) return res;
      const text = await readText(res).catch(() => "");
      throw registryError(method, url, res, text);
    }
  }

  #unauthorized(body: string): UnauthorizedError {
    const detail = errorDetail(body) ?? "authentication required";
    const hint = this.auth.hasCredentials
      ? " (check the credentials stored by `ctr login`)"
      : ` (log in first: ctr login ${this.registry})`;
    return new UnauthorizedError(`${this.registry}: unauthorized: ${detail}${hint}`);
  }
}

/** Builds the error for an unexpected answer, with the registry's error codes. */
export function registryError(method: string, url: string, res: Response, text: string): RegistryError {
  let codes: string[] = [];
  try {
    const o = JSON.parse(text);
    if (Array.isArray(o?.errors)) codes = o.errors.map((e: { code?: string }) => String(e.code ?? ""));
  } catch { /* not JSON */ }
  const detail = errorDetail(text);
  const path = new URL(url).pathname;
  return new RegistryError(
    `${method} ${path}: ${res.status} ${res.statusText}${detail ? `: ${detail}` : ""}`,
    res.status,
    codes,
  );
}
