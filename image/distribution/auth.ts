/**
 * Authorisation against one registry: the answer to its `WWW-Authenticate` challenge.
 *
 * - `Basic`: the stored username and password, sent with every request once the registry
 *   has asked for them.
 * - `Bearer` (the registry token spec): a token from the challenge's `realm`, asked for with
 *   `service` and the scopes the operation needs merged with those the challenge names
 *   (`repository:team/app:pull`, `…:pull,push`, plus `repository:<from>:pull` for a
 *   cross-repository mount). `GET realm?service=…&scope=…&scope=…` with Basic credentials
 *   or anonymously; `POST` with `grant_type=refresh_token` when the credentials are an
 *   identity token. The answer's `token` (or `access_token`) is cached per scope set until
 *   shortly before `expires_in` runs out, so one pull asks for one token, not one per blob;
 *   concurrent requests share one token request.
 *
 * @module
 */
import { type Challenge, mergeScopes, parseChallenges, splitScopes } from "./challenge.ts";
import { type Credentials, encodeBasic } from "./credentials.ts";

/** The registry refused the credentials or the token server refused to issue a token. */
export class UnauthorizedError extends Error {
  override name = "UnauthorizedError";
}

/** A fetched bearer token. */
interface Token {
  token: string;
  /** ms since epoch after which it must not be used. */
  expires: number;
}

/** Minimum lifetime the token spec allows a server to imply (seconds). */
const MIN_TOKEN_LIFETIME_S = 60;
/** Refresh this long before expiry so a token does not run out mid-request. */
const EXPIRY_MARGIN_MS = 10_000;

/** Options of an {@linkcode Authorizer}. */
export interface AuthorizerOptions {
  /** The `fetch` to use (tests, custom clients). */
  fetch?: typeof fetch;
  /** Value of `User-Agent`. */
  userAgent?: string;
}

/**
 * Holds the challenge a registry issued and the credentials/tokens that answer it.
 *
 * @example
 * ```ts
 * const auth = new Authorizer("127.0.0.1:5000", { username: "u", password: "p" });
 * auth.observe(res.headers.get("www-authenticate"));
 * const header = await auth.authorization(["repository:team/app:pull"]);
 * ```
 */
export class Authorizer {
  readonly registry: string;
  #credentials: Credentials | undefined;
  #challenge: Challenge | undefined;
  #tokens = new Map<string, Promise<Token>>();
  #fetch: typeof fetch;
  #userAgent: string;
  /** Token requests made (for tests and diagnostics). */
  tokenRequests = 0;

  constructor(registry: string, credentials: Credentials | undefined, options: AuthorizerOptions = {}) {
    this.registry = registry;
    this.#credentials = credentials;
    this.#fetch = options.fetch ?? fetch;
    this.#userAgent = options.userAgent ?? "ctr";
  }

  /** The scheme the registry asked for (`basic`, `bearer`), if it has challenged. */
  get scheme(): string | undefined {
    return this.#challenge?.scheme;
  }

  /** Whether credentials are known. */
  get hasCredentials(): boolean {
    return this.#credentials !== undefined;
  }

  /**
   * Records a `WWW-Authenticate` header. Prefers Bearer over Basic when both are offered.
   * Returns true if the challenge is one ctr can answer.
   */
  observe(header: string | null): boolean {
    if (!header) return false;
    const all = parseChallenges(header);
    const chosen = all.find((c) => c.scheme === "bearer" && c.params.realm) ??
      all.find((c) => c.scheme === "basic");
    if (!chosen) return false;
    const before = this.#challenge;
    this.#challenge = chosen;
    if (before && (before.scheme !== chosen.scheme || before.params.realm !== chosen.params.realm)) {
      this.#tokens.clear();
    }
    return true;
  }

  /** The scopes a token for `needed` is requested with. */
  scopesFor(needed: string[]): string[] {
    return mergeScopes(splitScopes(this.#challenge?.params.scope), needed);
  }

  /**
   * The `Authorization` header value for a request needing `scopes`, or undefined when the
   * registry has not challenged (or Basic is asked and there are no credentials).
   */
  async authorization(scopes: string[]): Promise<string | undefined> {
    const c = this.#challenge;
    if (!c) return undefined;
    if (c.scheme === "basic") {
      const cr = this.#credentials;
      if (!cr || cr.username === undefined) return undefined;
      return `Basic ${encodeBasic(cr.username, cr.password ?? "")}`;
    }
    const all = this.scopesFor(scopes);
    const key = JSON.stringify([c.params.realm, c.params.service, [...all].sort()]);
    let p = this.#tokens.get(key);
    if (p) {
      const t = await p.catch(() => undefined);
      if (t && t.expires - EXPIRY_MARGIN_MS > Date.now()) return `Bearer ${t.token}`;
      if (this.#tokens.get(key) === p) this.#tokens.delete(key);
    }
    p = this.#tokens.get(key);
    if (!p) {
      p = this.#fetchToken(c, all);
      this.#tokens.set(key, p);
      p.catch(() => {
        if (this.#tokens.get(key) === p) this.#tokens.delete(key);
      });
    }
    return `Bearer ${(await p).token}`;
  }

  /** Forgets cached tokens (after the registry refused one). */
  invalidate(): void {
    this.#tokens.clear();
  }

  async #fetchToken(c: Challenge, scopes: string[]): Promise<Token> {
    const realm = c.params.realm;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UnauthorizedError(`Invalid token realm from ${this.registry}: ${JSON.stringify(realm)}`);
    }
    const cr = this.#credentials;
    this.tokenRequests++;
    let res: Response;
    const headers: Record<string, string> = { "User-Agent": this.#userAgent, Accept: "application/json" };
    if (cr?.identityToken) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: cr.identityToken,
        client_id: "ctr",
      });
      if (c.params.service) form.set("service", c.params.service);
      if (scopes.length) form.set("scope", scopes.join(" "));
      res = await this.#fetch(url, {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/x-www-form-urlencoded" },
        body: form,
      });
    } else {
      if (c.params.service) url.searchParams.set("service", c.params.service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (cr?.username !== undefined) {
        headers.Authorization = `Basic ${encodeBasic(cr.username, cr.password ?? "")}`;
        url.searchParams.set("account", cr.username);
      }
      res = await this.#fetch(url, { headers });
    }
    const text = await readText(res, 1 << 20);
    if (!res.ok) {
      const detail = errorDetail(text) ?? `${res.status} ${res.statusText}`;
      if (res.status === 401 || res.status === 403) {
        throw new UnauthorizedError(
          `${
            cr ? "Authentication" : "Anonymous token request"
          } failed at ${url.origin}${url.pathname}: ${detail}`,
        );
      }
      throw new Error(`Token request to ${url.origin}${url.pathname} failed: ${detail}`);
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`Token server ${url.origin}${url.pathname} sent invalid JSON`);
    }
    const token = typeof body.token === "string" && body.token
      ? body.token
      : typeof body.access_token === "string" && body.access_token
      ? body.access_token
      : undefined;
    if (!token) throw new Error(`Token server ${url.origin}${url.pathname} sent no token`);
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0
      ? body.expires_in
      : MIN_TOKEN_LIFETIME_S;
    const issued = typeof body.issued_at === "string" ? Date.parse(body.issued_at) : NaN;
    // A skewed server clock must not make a fresh token look expired: count from now.
    const start = Number.isNaN(issued) || issued > Date.now() || Date.now() - issued > lifetime * 1000
      ? Date.now()
      : issued;
    return { token, expires: start + lifetime * 1000 };
  }
}

/**
 * The message of a registry or token-server error body (`{"errors":[{code,message}]}` or
 * OAuth's `{"error","error_description"}`), or undefined.
 *
 * @example
 * ```ts
 * errorDetail('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
 * // "unauthorized: authentication required"
 * ```
 */
export function errorDetail(text: string): string | undefined {
  try {
    const o = JSON.parse(text);
    if (Array.isArray(o?.errors) && o.errors.length) {
      return o.errors.map((e: { code?: string; message?: string }) =>
        [e.code?.toLowerCase().replaceAll("_", " "), e.message].filter(Boolean).join(": ")
      ).join("; ");
    }
    if (typeof o?.error === "string") {
      return o.error_description ? `${o.error}: ${o.error_description}` : o.error;
    }
    if (typeof o?.details === "string") return o.details;
  } catch { /* not JSON */ }
  const t = text.trim();
  return t && t.length < 200 && !t.startsWith("<") ? t : undefined;
}

/**
 * A response body as text, at most `limit` bytes of it (the rest is dropped): error and
 * token answers are small, and a misbehaving server must not make ctr read without end.
 *
 * @example
 * ```ts
 * const text = await readText(res); // ≤ 64 KiB
 * ```
 */
export async function readText(res: Response, limit = 64 << 10): Promise<string> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = res.body.getReader();
  try {
    while (n < limit) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  return new TextDecoder().decode(all.subarray(0, Math.min(n, limit)));
}
