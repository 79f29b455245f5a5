/**
 * The grammar of the Distribution Spec v1.1 for repository names, tags and digests, and
 * the path router that splits `/v2/<name>/…` URLs. Pure: no I/O.
 *
 * Repository names may contain path components that look like API words
 * (`team/manifests/tags`), so the router decides the route from the END of the path and takes
 * everything before the last API keyword as the name — `/v2/team/manifests/tags/manifests/1` is
 * repository `team/manifests/tags`, reference `1`.
 *
 * @module
 */
import { isDigest } from "../image/digest.ts";

/** Longest repository name accepted (the spec's "many clients" limit of 255 characters). */
export const MAX_NAME_LENGTH = 255;

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * Why `name` is not a valid repository name, or undefined when it is.
 *
 * @example
 * ```ts
 * repositoryNameProblem("team/app");   // undefined
 * repositoryNameProblem("Team/app");   // "repository name must be lowercase"
 * ```
 */
export function repositoryNameProblem(name: string): string | undefined {
  if (name === "") return "repository name must not be empty";
  if (name.length > MAX_NAME_LENGTH) return `repository name must be at most ${MAX_NAME_LENGTH} characters`;
  if (NAME_RE.test(name)) return undefined;
  if (NAME_RE.test(name.toLowerCase())) return "repository name must be lowercase";
  return "repository name must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)*";
}

/**
 * Whether `name` is a valid repository name.
 *
 * @example
 * ```ts
 * isRepositoryName("x__y/z"); // true
 * isRepositoryName("x___y");  // false
 * ```
 */
export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

/**
 * Whether `tag` is a valid tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
 *
 * @example
 * ```ts
 * isTag("Latest"); // true
 * isTag(".x");     // false
 * ```
 */
export function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** A manifest reference: a tag or a digest. */
export type Reference = { tag: string; digest?: undefined } | { digest: string; tag?: undefined };

/**
 * Parses a manifest reference; undefined when it is neither a tag nor a digest ctr supports.
 *
 * @example
 * ```ts
 * parseManifestReference("v1");               // { tag: "v1" }
 * parseManifestReference("sha256:" + "a".repeat(64)); // { digest: "sha256:aaa…" }
 * ```
 */
export function parseManifestReference(ref: string): Reference | undefined {
  if (ref.includes(":")) return isDigest(ref) ? { digest: ref } : undefined;
  return isTag(ref) ? { tag: ref } : undefined;
}

/** What a request path addresses. `name` is not validated here. */
export type Route =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "tags"; name: string }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "uploads"; name: string }
  | { kind: "upload"; name: string; id: string }
  | { kind: "referrers"; name: string; digest: string }
  | { kind: "token" }
  | { kind: "healthz" }
  | { kind: "metrics" }
  | { kind: "unknown" };

function decode(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Maps a URL path to a route, splitting on the LAST API keyword so that repository names
 * may contain `blobs`, `manifests`, `tags` or `referrers` as components.
 *
 * @example
 * ```ts
 * routePath("/v2/team/manifests/tags/manifests/1");
 * // { kind: "manifest", name: "team/manifests/tags", reference: "1" }
 * ```
 */
export function routePath(path: string): Route {
  if (!path.startsWith("/v2")) {
    if (path === "/token" || path === "/v2/token") return { kind: "token" };
    if (path === "/healthz") return { kind: "healthz" };
    if (path === "/metrics") return { kind: "metrics" };
    return { kind: "unknown" };
  }
  if (path === "/v2/" || path === "/v2") return { kind: "base" };
  if (path[3] !== "/") return { kind: "unknown" };
  if (path === "/v2/_catalog") return { kind: "catalog" };
  if (path === "/v2/token") return { kind: "token" };
  const s = path.slice(4).split("/");
  const n = s.length;
  const name = (drop: number) => s.slice(0, n - drop).join("/");
  if (n >= 3 && s[n - 2] === "tags" && s[n - 1] === "list") return { kind: "tags", name: name(2) };
  if (n >= 4 && s[n - 3] === "blobs" && s[n - 2] === "uploads") {
    return s[n - 1] === ""
      ? { kind: "uploads", name: name(3) }
      : { kind: "upload", name: name(3), id: decode(s[n - 1]) };
  }
  if (n >= 3) {
    const last = decode(s[n - 1]);
    switch (s[n - 2]) {
      case "manifests":
        return { kind: "manifest", name: name(2), reference: last };
      case "blobs":
        return last === "uploads"
          ? { kind: "uploads", name: name(2) }
          : { kind: "blob", name: name(2), digest: last };
      case "referrers":
        return { kind: "referrers", name: name(2), digest: last };
    }
  }
  return { kind: "unknown" };
}
