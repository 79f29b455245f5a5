/**
 * Image references — `[domain[:port]/]path[:tag][@digest]` — parsed and normalised the way
 * Docker does (the distribution reference grammar):
 *
 * ```text
 * reference   := name [ ":" tag ] [ "@" digest ]
 * name        := [ domain "/" ] path            (at most 255 characters)
 * domain      := host [ ":" port ]              host: DNS name, IPv4 or [IPv6]
 * path        := component ( "/" component )*
 * component   := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 * tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 * digest      := algorithm ":" hex
 * ```
 *
 * Normalisation: the first component is a domain only if it contains `.` or `:`, is
 * `localhost`, or has an uppercase letter; otherwise the domain is `docker.io`, and a
 * one-component path on `docker.io` gets the `library/` prefix. `index.docker.io` is
 * `docker.io`.
 *
 * @module
 */
import { parseDigest } from "./digest.ts";

/** The default registry of short names. */
export const DEFAULT_DOMAIN = "docker.io";
/** Registries that mean the default one. */
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
/** Namespace of official images on the default registry. */
export const OFFICIAL_REPO_PREFIX = "library/";
/** Tag used when a reference has neither a tag nor a digest. */
export const DEFAULT_TAG = "latest";

/** A parsed, normalised reference. */
export interface Reference {
  /** Registry host, with port if any: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  domain: string;
  /** Repository path inside the registry: `library/busybox`, `team/app`. */
  path: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[(?:[a-fA-F0-9:]+)\\])`;
const DOMAIN_RE = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;
const NAME_MAX = 255;

const invalid = (why?: string) => new TypeError(`invalid reference format${why ? `: ${why}` : ""}`);

/**
 * Parses and normalises a reference. Throws `TypeError` with Docker's wording
 * (`invalid reference format: repository name must be lowercase`).
 *
 * @example
 * ```ts
 * parseReference("busybox");
 * // { domain: "docker.io", path: "library/busybox" }
 * parseReference("localhost:5000/team/app:1.0@sha256:…");
 * ```
 */
export function parseReference(input: string): Reference {
  if (input === "") throw invalid();
  if (HEX64_RE.test(input)) {
    throw new TypeError(`invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`);
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest);
    } catch {
      throw invalid();
    }
  }
  // A tag follows the last colon that comes after the last slash (a colon before it is a port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid();
  }
  if (rest === "") throw invalid();

  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN_RE.test(domain)) throw invalid();
  if (!PATH_RE.test(path)) {
    throw PATH_RE.test(path.toLowerCase()) ? invalid("repository name must be lowercase") : invalid();
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_REPO_PREFIX + path;
  const name = `${domain}/${path}`;
  if (name.length > NAME_MAX) throw invalid(`repository name must not be more than ${NAME_MAX} characters`);
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * Adds the `latest` tag to a reference that has neither tag nor digest.
 *
 * @example
 * ```ts
 * withDefaultTag(parseReference("busybox")).tag; // "latest"
 * ```
 */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/**
 * The full repository name: `docker.io/library/busybox`.
 *
 * @example
 * ```ts
 * repositoryName(parseReference("busybox")); // "docker.io/library/busybox"
 * ```
 */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/**
 * The full reference string: `docker.io/library/busybox:latest@sha256:…`.
 *
 * @example
 * ```ts
 * formatReference(parseReference("busybox:1")); // "docker.io/library/busybox:1"
 * ```
 */
export function formatReference(ref: Reference): string {
  return `${repositoryName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
    ref.digest !== undefined ? `@${ref.digest}` : ""
  }`;
}

/**
 * The short form Docker shows: `busybox:latest`, `team/app:1`, `localhost:5000/x:y`.
 *
 * @example
 * ```ts
 * familiarName(parseReference("docker.io/library/busybox:1")); // "busybox:1"
 * ```
 */
export function familiarName(ref: Reference): string {
  let repo = repositoryName(ref);
  if (ref.domain === DEFAULT_DOMAIN) {
    repo = ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
  }
  return `${repo}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
    ref.digest !== undefined ? `@${ref.digest}` : ""
  }`;
}

/**
 * The short repository name: `busybox`, `team/app`, `localhost:5000/x`.
 *
 * @example
 * ```ts
 * familiarRepository(parseReference("busybox:1")); // "busybox"
 * ```
 */
export function familiarRepository(ref: Reference): string {
  return familiarName({ domain: ref.domain, path: ref.path });
}
