/**
 * Bearer tokens of the Docker registry token flow: compact JWTs signed with HMAC-SHA256
 * (HS256), carrying the granted access as the `access` claim
 * (`[{"type":"repository","name":"team/app","actions":["pull","push"]}]`), and the
 * `scope` strings clients ask for (`repository:team/app:pull,push`). Pure apart from the
 * clock.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** One granted (or requested) access. */
export interface Access {
  /** `repository` or `registry` (for `registry:catalog:*`). */
  type: string;
  name: string;
  actions: string[];
}

/** The claims ctr puts in a token. */
export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: Access[];
}

const enc = new TextEncoder();

function b64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - s.length % 4) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function mac(key: Uint8Array, input: string): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(input).digest());
}

/**
 * Signs claims as an HS256 JWT.
 *
 * @example
 * ```ts
 * const jwt = signToken(key, { iss: "ctr", sub: "alice", aud: "ctr-registry", … });
 * ```
 */
export function signToken(key: Uint8Array, claims: TokenClaims): string {
  const input = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(mac(key, input))}`;
}

/**
 * Verifies an HS256 JWT's signature, issuer, audience and validity period; returns its
 * claims or throws `TypeError` naming the problem.
 *
 * @example
 * ```ts
 * const claims = verifyToken(key, jwt, { issuer: "ctr", audience: "ctr-registry" });
 * ```
 */
export function verifyToken(
  key: Uint8Array,
  token: string,
  expect: { issuer: string; audience: string; now?: number },
): TokenClaims {
  const parts = token.split(".");
  if (parts.length !== 3) throw new TypeError("Malformed token");
  let header: { alg?: string };
  try {
    header = JSON.parse(new TextDecoder().decode(unb64url(parts[0])));
  } catch {
    throw new TypeError("Malformed token header");
  }
  if (header.alg !== "HS256") throw new TypeError(`Unsupported token algorithm: ${header.alg}`);
  const want = mac(key, `${parts[0]}.${parts[1]}`);
  const got = unb64url(parts[2]);
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new TypeError("Bad token signature");
  let claims: TokenClaims;
  try {
    claims = JSON.parse(new TextDecoder().decode(unb64url(parts[1])));
  } catch {
    throw new TypeError("Malformed token claims");
  }
  const now = Math.floor((expect.now ?? Date.now()) / 1000);
  if (claims.iss !== expect.issuer) throw new TypeError(`Token issuer ${claims.iss} is not ${expect.issuer}`);
  if (claims.aud !== expect.audience) {
    throw new TypeError(`Token audience ${claims.aud} is not ${expect.audience}`);
  }
  if (typeof claims.exp !== "number" || claims.exp < now) throw new TypeError("Token expired");
  if (typeof claims.nbf === "number" && claims.nbf > now + 60) throw new TypeError("Token not yet valid");
  if (!Array.isArray(claims.access)) claims.access = [];
  return claims;
}

/**
 * Parses a `scope` parameter (`repository:team/app:pull,push`); undefined when malformed.
 *
 * @example
 * ```ts
 * parseScope("repository:team/app:pull,push");
 * // { type: "repository", name: "team/app", actions: ["pull", "push"] }
 * ```
 */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(":"), last = scope.lastIndexOf(":");
  if (first <= 0 || last === first) return undefined;
  const actions = scope.slice(last + 1).split(",").map((a) => a.trim()).filter(Boolean);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

/**
 * Formats an access as a scope string.
 *
 * @example
 * ```ts
 * formatScope({ type: "repository", name: "a/b", actions: ["pull"] }); // "repository:a/b:pull"
 * ```
 */
export function formatScope(access: Access): string {
  return `${access.type}:${access.name}:${access.actions.join(",")}`;
}
