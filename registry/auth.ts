/**
 * Who may do what. Three modes, chosen by configuration:
 *
 * - **open** (default): anonymous clients may do everything (loopback development).
 * - **basic**: `--htpasswd FILE`; every request carries Basic credentials checked against
 *   bcrypt hashes (401 + `WWW-Authenticate: Basic` otherwise).
 * - **token**: `auth.token` in the config file; requests carry a Bearer token from the
 *   built-in endpoint `/token` (Docker's token flow: 401 +
 *   `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, the client fetches a token with
 *   its Basic credentials — or none, as anonymous — and retries).
 *
 * In every mode the `access` rules of the config decide the actions: each rule names an
 * account (`*` = any authenticated user, `anonymous`, or a user name), a repository glob
 * (`*` matches any run of characters; `${account}` stands for the user's name) and actions
 * (`pull`, `push`, `delete`, or `*`). An account gets the union of its matching rules;
 * `_catalog` needs `pull` from a rule whose repository is `*`. Without rules, anyone
 * authenticated may do everything (and, in open mode, so may anonymous clients).
 *
 * @module
 */
import { HtpasswdChecker } from "./htpasswd.ts";
import { type Access, formatScope, parseScope, signToken, type TokenClaims, verifyToken } from "./token.ts";

/** Repository actions. */
export const ACTIONS = ["pull", "push", "delete"] as const;

/** One access rule of the config file. */
export interface AccessRule {
  account: string;
  repository: string;
  actions: string[];
}

/** Settings of the built-in token service. */
export interface TokenSettings {
  /** Where clients fetch tokens; default: `<origin of the request>/token`. */
  realm?: string;
  service: string;
  issuer: string;
  /** Token lifetime in seconds. */
  expiresIn: number;
  /** The HMAC key tokens are signed with. */
  key: Uint8Array;
}

/** Options of {@linkcode AccessController}. */
export interface AuthSettings {
  /** htpasswd entries (user → bcrypt hash). */
  users?: Map<string, string>;
  token?: TokenSettings;
  rules?: AccessRule[];
}

/** An authenticated (or anonymous) client and what it may do. */
export interface Principal {
  /** User name; `anonymous` when none. */
  account: string;
  /** Whether the client may do `action` on `type:name`. */
  can(type: string, name: string, action: string): boolean;
}

/** Why a request is refused: the status, code and headers of the error response. */
export interface AuthFailure {
  status: 401 | 403;
  code: "UNAUTHORIZED" | "DENIED";
  message: string;
  headers: Record<string, string>;
}

const ANONYMOUS = "anonymous";

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    "^" + glob.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$",
  );
}

interface CompiledRule {
  account: string;
  repository: string;
  actions: Set<string>;
  match?: RegExp;
}

/**
 * Decides authentication and authorization for requests, and serves the token endpoint.
 *
 * @example
 * ```ts
 * const access = new AccessController({ users: parseHtpasswd(text) });
 * const who = await access.authenticate(req);
 * ```
 */
export class AccessController {
  readonly #users?: HtpasswdChecker;
  readonly #token?: TokenSettings;
  readonly #rules: CompiledRule[];
  readonly #tokenCache = new Map<string, TokenClaims>();
  /** True when no credentials are ever needed (open mode without rules). */
  readonly open: boolean;
  readonly #everything: Principal = { account: ANONYMOUS, can: () => true };

  constructor(settings: AuthSettings = {}) {
    this.#users = settings.users ? new HtpasswdChecker(settings.users) : undefined;
    this.#token = settings.token;
    const authenticated = !!settings.users || !!settings.token;
    const rules = settings.rules ??
      [{ account: authenticated ? "*" : ANONYMOUS, repository: "*", actions: ["*"] }];
    this.#rules = rules.map((r) => ({
      account: r.account,
      repository: r.repository,
      actions: new Set(r.actions.includes("*") ? ACTIONS : r.actions),
      match: r.repository.includes("${account}") ? undefined : globToRegExp(r.repository),
    }));
    this.open = !authenticated && settings.rules === undefined;
  }

  /** The mode, for logs. */
  get mode(): "open" | "basic" | "token" {
    return this.#token ? "token" : this.#users ? "basic" : "open";
  }

  /** Actions `account` may do on repository `name` under the rules. */
  allowed(account: string, name: string): Set<string> {
    const out = new Set<string>();
    for (const r of this.#rules) {
      const who = r.account === account || (r.account === "*" && account !== ANONYMOUS);
      if (!who) continue;
      const re = r.match ?? globToRegExp(r.repository.replaceAll("${account}", account));
      if (re.test(name)) { for (const a of r.actions) out.add(a); }
    }
    return out;
  }

  #catalogAllowed(account: string): boolean {
    return this.#rules.some((r) =>
      r.repository === "*" && r.actions.has("pull") &&
      (r.account === account || (r.account === "*" && account !== ANONYMOUS))
    );
  }

  #ruleCan(account: string): Principal["can"] {
    return (type, name, action) =>
      type === "registry"
        ? name === "catalog" && this.#catalogAllowed(account)
        : this.allowed(account, name).has(action);
  }

  async #basic(header: string | null): Promise<string | undefined | null> {
    if (!header || !/^basic /i.test(header)) return null;
    let decoded: string;
    try {
      decoded = atob(header.slice(6).trim());
    } catch {
      return undefined;
    }
    const colon = decoded.indexOf(":");
    if (colon < 0 || !this.#users) return undefined;
    const user = decoded.slice(0, colon);
    return await this.#users.verify(user, decoded.slice(colon + 1)) ? user : undefined;
  }

  #claims(token: string): TokenClaims | undefined {
    const settings = this.#token!;
    let claims = this.#tokenCache.get(token);
    if (claims && claims.exp * 1000 > Date.now()) return claims;
    try {
      claims = verifyToken(settings.key, token, { issuer: settings.issuer, audience: settings.service });
    } catch {
      this.#tokenCache.delete(token);
      return undefined;
    }
    if (this.#tokenCache.size > 10_000) this.#tokenCache.clear();
    this.#tokenCache.set(token, claims);
    return claims;
  }

  #challenge(req: Request, needs: Access[], error?: string): Record<string, string> {
    if (!this.#token) return { "WWW-Authenticate": 'Basic realm="ctr-registry"' };
    const realm = this.#token.realm ?? `${new URL(req.url).origin}/token`;
    let value = `Bearer realm="${realm}",service="${this.#token.service}"`;
    if (needs.length) value += `,scope="${needs.map(formatScope).join(" ")}"`;
    if (error) value += `,error="${error}"`;
    return { "WWW-Authenticate": value };
  }

  /**
   * Authenticates `req` and checks it may do everything in `needs` (empty: only
   * authentication). Returns the principal, or the failure to answer with.
   */
  async authorize(req: Request, needs: Access[]): Promise<Principal | AuthFailure> {
    if (this.open) return this.#everything;
    const header = req.headers.get("authorization");
    let principal: Principal | undefined;
    if (this.#token && header && /^bearer /i.test(header)) {
      const claims = this.#claims(header.slice(7).trim());
      if (claims) {
        const granted = claims.access;
        principal = {
          account: claims.sub || ANONYMOUS,
          can: (type, name, action) =>
            granted.some((a) =>
              a.type === type && a.name === name && (a.actions.includes(action) || a.actions.includes("*"))
            ),
        };
      }
    } else {
      const user = await this.#basic(header);
      if (typeof user === "string") principal = { account: user, can: this.#ruleCan(user) };
      else if (user === null && !this.#token && !this.#users) {
        principal = { account: ANONYMOUS, can: this.#ruleCan(ANONYMOUS) };
      }
    }
    if (!principal) {
      return {
        status: 401,
        code: "UNAUTHORIZED",
        message: header ? "Invalid credentials" : "Authentication required",
        headers: this.#challenge(req, needs),
      };
    }
    for (const need of needs) {
      for (const action of need.actions) {
        if (principal.can(need.type, need.name, action)) continue;
        if (this.#token) {
          return {
            status: 401,
            code: "UNAUTHORIZED",
            message: `The token does not grant ${formatScope(need)}`,
            headers: this.#challenge(req, needs, "insufficient_scope"),
          };
        }
        return {
          status: 403,
          code: "DENIED",
          message: `${principal.account} may not ${action} ${need.name}`,
          headers: {},
        };
      }
    }
    return principal;
  }

  /** Serves `GET /token` (Docker token flow) and `POST /token` (OAuth2 password grant). */
  async tokenEndpoint(req: Request): Promise<Response> {
    const settings = this.#token;
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { "Content-Type": "application/json", ...headers },
      });
    const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
      json(status, { errors: [{ code, message }] }, headers);
    if (!settings) return fail(404, "UNSUPPORTED", "This registry does not issue tokens");
    let account = ANONYMOUS;
    let scopes: string[];
    let service: string | null;
    const url = new URL(req.url);
    if (req.method === "POST") {
      const form = new URLSearchParams(await req.text());
      if (form.get("grant_type") !== "password") {
        return fail(401, "UNSUPPORTED", "Only the password grant is supported; use GET /token");
      }
      const user = form.get("username") ?? "";
      if (!this.#users || !await this.#users.verify(user, form.get("password") ?? "")) {
        return fail(401, "UNAUTHORIZED", "Invalid credentials");
      }
      account = user;
      scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
      service = form.get("service");
    } else if (req.method === "GET" || req.method === "HEAD") {
      const user = await this.#basic(req.headers.get("authorization"));
      if (user === undefined) {
        return fail(401, "UNAUTHORIZED", "Invalid credentials", {
          "WWW-Authenticate": 'Basic realm="ctr-registry"',
        });
      }
      if (user !== null) account = user;
      scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
      service = url.searchParams.get("service");
    } else {
      return fail(405, "UNSUPPORTED", `${req.method} is not supported on /token`);
    }
    if (service && service !== settings.service) {
      return fail(400, "UNSUPPORTED", `This token service is "${settings.service}", not "${service}"`);
    }
    const can = this.#ruleCan(account);
    const access: Access[] = [];
    for (const s of scopes) {
      const want = parseScope(s);
      if (!want) return fail(400, "UNSUPPORTED", `Malformed scope: ${s}`);
      const actions = want.type === "registry"
        ? (can("registry", want.name, "*") ? ["*"] : [])
        : want.actions.flatMap((a) => a === "*" ? [...ACTIONS] : [a]).filter((a) =>
          can(want.type, want.name, a)
        );
      if (actions.length) access.push({ type: want.type, name: want.name, actions: [...new Set(actions)] });
    }
    const now = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      iss: settings.issuer,
      sub: account === ANONYMOUS ? "" : account,
      aud: settings.service,
      exp: now + settings.expiresIn,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access,
    };
    const token = signToken(settings.key, claims);
    return json(200, {
      token,
      access_token: token,
      expires_in: settings.expiresIn,
      issued_at: new Date(now * 1000).toISOString(),
    });
  }
}
