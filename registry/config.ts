/**
 * The `ctr serve --config FILE` format: YAML (or JSON, which is YAML too). Every key is
 * optional; command-line flags override the file. Unknown keys and bad values are errors
 * that name `file:line`.
 *
 * ```yaml
 * addr: 127.0.0.1:5000          # listen address (host:port; port 0 picks a free one)
 * root: /var/lib/ctr/registry   # storage root
 * read_only: false              # refuse every write with 405 UNSUPPORTED
 * tls:                          # serve HTTPS
 *   cert: /etc/ctr/registry.crt
 *   key: /etc/ctr/registry.key
 * auth:
 *   htpasswd: /etc/ctr/htpasswd # bcrypt users (htpasswd -B); Basic auth unless token is set
 *   token:                      # Docker token flow with the built-in endpoint /token
 *     realm: https://reg.example.com/token   # default: <scheme>://<Host of the request>/token
 *     service: ctr-registry     # default ctr-registry
 *     issuer: ctr               # default ctr
 *     expiration: 5m            # token lifetime (s, m, h or seconds as a number); default 5m
 *     secret_file: /etc/ctr/token.key        # HMAC key; default: random at each start
 *   access:                     # grants; an account gets the union of its matching rules
 *     - account: "*"            # "*" = any authenticated user, "anonymous", or a user name
 *       repository: "*"         # glob, * matches anything; ${account} = the user's name
 *       actions: [pull, push, delete]        # or ["*"]
 * uploads:
 *   ttl: 24h                    # upload sessions expire this long after they start
 * log:
 *   access: true                # one JSON line per request on stderr
 * limits:
 *   requests_in_flight: 0       # beyond this, 429 TOOMANYREQUESTS (0: no limit)
 * ```
 *
 * @module
 */
import { isMap, LineCounter, parseDocument } from "yaml";
import type { AccessRule } from "./auth.ts";

/** The parsed configuration (file paths not yet read). */
export interface RegistryConfig {
  addr?: string;
  root?: string;
  readOnly?: boolean;
  tls?: { cert: string; key: string };
  auth?: {
    htpasswd?: string;
    token?: {
      realm?: string;
      service?: string;
      issuer?: string;
      expirationSeconds?: number;
      secretFile?: string;
    };
    access?: AccessRule[];
  };
  uploads?: { ttlMs?: number };
  log?: { access?: boolean };
  limits?: { requestsInFlight?: number };
}

/**
 * Parses a duration: a number of seconds, or `<n>ms|s|m|h|d` (combinations like `1h30m`).
 * Returns milliseconds; throws `RangeError`.
 *
 * @example
 * ```ts
 * parseDuration("1h30m"); // 5400000
 * parseDuration(90);      // 90000
 * ```
 */
export function parseDuration(v: unknown): number {
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v * 1000;
  if (typeof v !== "string" || !/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(v.trim())) {
    throw new RangeError(`invalid duration ${JSON.stringify(v)} (use e.g. 90s, 5m, 24h)`);
  }
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let ms = 0;
  for (const m of v.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(m[1]) * unit[m[2]];
  return ms;
}

/**
 * Parses the config text; throws `SyntaxError` with `file:line: problem`.
 *
 * @example
 * ```ts
 * const config = parseConfig("addr: 127.0.0.1:5001\nuploads:\n  ttl: 1h\n", "registry.yaml");
 * config.uploads?.ttlMs; // 3600000
 * ```
 */
export function parseConfig(text: string, file = "config"): RegistryConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new SyntaxError(`${file}:${lines.linePos(e.pos[0]).line}: ${e.message.split("\n")[0]}`);
  }
  const lineOf = (path: (string | number)[]): number => {
    for (let n = path.length; n > 0; n--) {
      const parent = n > 1 ? doc.getIn(path.slice(0, n - 1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === path[n - 1]);
        const range = (pair?.key as { range?: number[] } | undefined)?.range;
        if (range) return lines.linePos(range[0]).line;
      }
      const node = doc.getIn(path.slice(0, n), true) as { range?: number[] } | undefined;
      if (node?.range) return lines.linePos(node.range[0]).line;
    }
    return 1;
  };
  const fail = (path: (string | number)[], why: string): never => {
    throw new SyntaxError(`${file}:${lineOf(path)}: ${path.join(".") || "config"}: ${why}`);
  };
  const root = doc.toJS() ?? {};
  const obj = (v: unknown, path: (string | number)[], keys: string[]): Record<string, unknown> => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, "must be a mapping");
    for (const k of Object.keys(v as object)) {
      if (!keys.includes(k)) fail([...path, k], `unknown key (known: ${keys.join(", ")})`);
    }
    return v as Record<string, unknown>;
  };
  const str = (v: unknown, path: (string | number)[]): string => {
    if (typeof v !== "string" || v === "") fail(path, "must be a non-empty string");
    return v as string;
  };
  const bool = (v: unknown, path: (string | number)[]): boolean => {
    if (typeof v !== "boolean") fail(path, "must be true or false");
    return v as boolean;
  };
  const duration = (v: unknown, path: (string | number)[]): number => {
    try {
      return parseDuration(v);
    } catch (e) {
      return fail(path, (e as Error).message);
    }
  };

  const top = obj(root, [], ["addr", "root", "read_only", "tls", "auth", "uploads", "log", "limits"]);
  const config: RegistryConfig = {};
  if (top.addr !== undefined) config.addr = str(top.addr, ["addr"]);
  if (top.root !== undefined) config.root = str(top.root, ["root"]);
  if (top.read_only !== undefined) config.readOnly = bool(top.read_only, ["read_only"]);
  if (top.tls !== undefined) {
    const t = obj(top.tls, ["tls"], ["cert", "key"]);
    config.tls = { cert: str(t.cert, ["tls", "cert"]), key: str(t.key, ["tls", "key"]) };
  }
  if (top.auth !== undefined) {
    const a = obj(top.auth, ["auth"], ["htpasswd", "token", "access"]);
    config.auth = {};
    if (a.htpasswd !== undefined) config.auth.htpasswd = str(a.htpasswd, ["auth", "htpasswd"]);
    if (a.token !== undefined) {
      const p = ["auth", "token"];
      const t = obj(a.token ?? {}, p, ["realm", "service", "issuer", "expiration", "secret_file"]);
      config.auth.token = {};
      if (t.realm !== undefined) config.auth.token.realm = str(t.realm, [...p, "realm"]);
      if (t.service !== undefined) config.auth.token.service = str(t.service, [...p, "service"]);
      if (t.issuer !== undefined) config.auth.token.issuer = str(t.issuer, [...p, "issuer"]);
      if (t.expiration !== undefined) {
        config.auth.token.expirationSeconds = Math.max(
          1,
          Math.round(duration(t.expiration, [...p, "expiration"]) / 1000),
        );
      }
      if (t.secret_file !== undefined) {
        config.auth.token.secretFile = str(t.secret_file, [...p, "secret_file"]);
      }
    }
    if (a.access !== undefined) {
      if (!Array.isArray(a.access)) fail(["auth", "access"], "must be a list of rules");
      config.auth.access = (a.access as unknown[]).map((r, i) => {
        const p = ["auth", "access", i];
        const rule = obj(r, p, ["account", "repository", "actions"]);
        const actions = rule.actions;
        if (!Array.isArray(actions) || actions.some((x) => !["pull", "push", "delete", "*"].includes(x))) {
          fail([...p, "actions"], 'must be a list of pull, push, delete or "*"');
        }
        return {
          account: str(rule.account, [...p, "account"]),
          repository: str(rule.repository ?? "*", [...p, "repository"]),
          actions: actions as string[],
        };
      });
    }
  }
  if (top.uploads !== undefined) {
    const u = obj(top.uploads, ["uploads"], ["ttl"]);
    config.uploads = {};
    if (u.ttl !== undefined) config.uploads.ttlMs = duration(u.ttl, ["uploads", "ttl"]);
  }
  if (top.log !== undefined) {
    const l = obj(top.log, ["log"], ["access"]);
    config.log = {};
    if (l.access !== undefined) config.log.access = bool(l.access, ["log", "access"]);
  }
  if (top.limits !== undefined) {
    const l = obj(top.limits, ["limits"], ["requests_in_flight"]);
    config.limits = {};
    if (l.requests_in_flight !== undefined) {
      const n = l.requests_in_flight;
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
        fail(["limits", "requests_in_flight"], "must be a non-negative integer");
      }
      config.limits.requestsInFlight = n as number;
    }
  }
  return config;
}

/**
 * Reads and parses a config file.
 *
 * @example
 * ```ts
 * const config = await loadConfig("/etc/ctr/registry.yaml");
 * ```
 */
export async function loadConfig(path: string): Promise<RegistryConfig> {
  return parseConfig(await Deno.readTextFile(path), path);
}
