/**
 * OCI image-spec and Docker schema-2 types: media types, descriptors, manifests, indexes,
 * image configs and platforms, with validation of untrusted JSON and platform matching.
 * Pure: no I/O.
 *
 * @module
 */
import { parseDigest } from "./digest.ts";

/** Media types ctr reads and writes. */
export const MediaType = {
  OCI_MANIFEST: "application/vnd.oci.image.manifest.v1+json",
  OCI_INDEX: "application/vnd.oci.image.index.v1+json",
  OCI_CONFIG: "application/vnd.oci.image.config.v1+json",
  OCI_LAYER: "application/vnd.oci.image.layer.v1.tar",
  OCI_LAYER_GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
  OCI_LAYER_ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
  OCI_EMPTY: "application/vnd.oci.empty.v1+json",
  DOCKER_MANIFEST: "application/vnd.docker.distribution.manifest.v2+json",
  DOCKER_LIST: "application/vnd.docker.distribution.manifest.list.v2+json",
  DOCKER_CONFIG: "application/vnd.docker.container.image.v1+json",
  DOCKER_LAYER_GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DOCKER_LAYER_FOREIGN: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** Manifest media types a registry client should accept, most preferred first. */
export const MANIFEST_ACCEPT = [
  MediaType.OCI_INDEX,
  MediaType.DOCKER_LIST,
  MediaType.OCI_MANIFEST,
  MediaType.DOCKER_MANIFEST,
];

/** A platform as in the OCI index. */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

/** A content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  data?: string;
}

/** An image manifest (OCI or Docker schema 2). */
export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An image index (OCI) or manifest list (Docker). */
export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** A healthcheck in the image config (durations in nanoseconds). */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The execution parameters of an image config. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  ArgsEscaped?: boolean;
}

/** One history entry of an image config. */
export interface History {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An image configuration blob. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  config?: ContainerConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: History[];
}

/** True for the two index media types. */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OCI_INDEX || mediaType === MediaType.DOCKER_LIST;
}

/** True for the two image-manifest media types. */
export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OCI_MANIFEST || mediaType === MediaType.DOCKER_MANIFEST;
}

/** Layer compression implied by a layer media type. */
export function layerCompression(mediaType: string): "gzip" | "zstd" | "none" {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip")) return "gzip";
  if (mediaType.endsWith("+zstd")) return "zstd";
  if (mediaType.endsWith(".tar") || mediaType === "application/vnd.docker.image.rootfs.diff.tar") {
    return "none";
  }
  throw new TypeError(`Unsupported layer media type: ${mediaType}`);
}

function fail(what: string, why: string): never {
  throw new TypeError(`Invalid ${what}: ${why}`);
}

function checkDescriptor(d: unknown, what: string): Descriptor {
  if (typeof d !== "object" || d === null) fail(what, "not an object");
  const o = d as Record<string, unknown>;
  if (typeof o.mediaType !== "string" || o.mediaType === "") fail(what, "mediaType missing");
  if (typeof o.digest !== "string") fail(what, "digest missing");
  try {
    parseDigest(o.digest as string);
  } catch (e) {
    fail(what, (e as Error).message);
  }
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) {
    fail(what, "size must be a non-negative integer");
  }
  return o as unknown as Descriptor;
}

/**
 * What a manifest-like document is, after checking its shape: an image manifest or an
 * index. Throws `TypeError` naming the problem for anything else.
 *
 * @example
 * ```ts
 * const doc = parseManifestDocument(bytes);
 * if (doc.kind === "index") selectPlatform(doc.index, hostPlatform());
 * ```
 */
export function parseManifestDocument(
  bytes: Uint8Array,
  contentType?: string,
): { kind: "manifest"; manifest: Manifest; mediaType: string } | {
  kind: "index";
  index: Index;
  mediaType: string;
} {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    fail("manifest", `not valid JSON (${(e as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) fail("manifest", "not a JSON object");
  const o = doc as Record<string, unknown>;
  if (o.schemaVersion !== 2) fail("manifest", `unsupported schemaVersion ${JSON.stringify(o.schemaVersion)}`);
  const declared = typeof o.mediaType === "string" ? o.mediaType : undefined;
  if (declared && contentType && declared !== contentType && !contentType.startsWith("application/json")) {
    fail("manifest", `mediaType ${declared} does not match Content-Type ${contentType}`);
  }
  const mediaType = declared ?? contentType ??
    (Array.isArray(o.manifests) ? MediaType.OCI_INDEX : MediaType.OCI_MANIFEST);
  if (Array.isArray(o.manifests) || isIndexMediaType(mediaType)) {
    if (!Array.isArray(o.manifests)) fail("index", "manifests must be an array");
    (o.manifests as unknown[]).forEach((d, i) => checkDescriptor(d, `index entry ${i}`));
    if (o.subject !== undefined) checkDescriptor(o.subject, "subject");
    return { kind: "index", index: o as unknown as Index, mediaType };
  }
  if (!isManifestMediaType(mediaType)) fail("manifest", `unsupported media type ${mediaType}`);
  checkDescriptor(o.config, "config descriptor");
  if (!Array.isArray(o.layers)) fail("manifest", "layers must be an array");
  (o.layers as unknown[]).forEach((d, i) => checkDescriptor(d, `layer ${i}`));
  if (o.subject !== undefined) checkDescriptor(o.subject, "subject");
  return { kind: "manifest", manifest: o as unknown as Manifest, mediaType };
}

/**
 * Checks an image config's shape (what ctr relies on).
 *
 * @example
 * ```ts
 * const config = parseImageConfig(await store.readBytes(manifest.config.digest));
 * ```
 */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    fail("image config", `not valid JSON (${(e as Error).message})`);
  }
  if (typeof o !== "object" || o === null) fail("image config", "not a JSON object");
  const rootfs = o.rootfs as Record<string, unknown> | undefined;
  if (!rootfs || !Array.isArray(rootfs.diff_ids)) fail("image config", "rootfs.diff_ids missing");
  for (const d of rootfs.diff_ids as unknown[]) {
    if (typeof d !== "string") fail("image config", "diff_ids must be digests");
    try {
      parseDigest(d);
    } catch (e) {
      fail("image config", (e as Error).message);
    }
  }
  return o as unknown as ImageConfig;
}

/**
 * The platform ctr runs on, in OCI terms.
 *
 * @example
 * ```ts
 * hostPlatform(); // { os: "linux", architecture: "amd64" }
 * ```
 */
export function hostPlatform(): Platform {
  switch (Deno.build.arch) {
    case "x86_64":
      return { os: "linux", architecture: "amd64" };
    case "aarch64":
      return { os: "linux", architecture: "arm64", variant: "v8" };
    default:
      return { os: "linux", architecture: Deno.build.arch };
  }
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  i386: "386",
};

/**
 * Parses `os[/arch[/variant]]` (e.g. `linux/arm64/v8`, `linux/amd64`) and normalises names.
 *
 * @example
 * ```ts
 * parsePlatform("linux/aarch64"); // { os: "linux", architecture: "arm64", variant: "v8" }
 * ```
 */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split("/");
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new TypeError(`Invalid platform: ${JSON.stringify(s)} (expected os/arch[/variant])`);
  }
  const host = hostPlatform();
  const os = parts[0];
  const architecture = ARCH_ALIASES[parts[1] ?? ""] ?? parts[1] ?? host.architecture;
  let variant = parts[2];
  if (architecture === "arm64" && (variant === undefined || variant === "8")) variant = "v8";
  if (architecture === "arm" && variant === undefined) variant = "v7";
  if (architecture === "arm" && /^\d$/.test(variant ?? "")) variant = `v${variant}`;
  const p: Platform = { os, architecture };
  if (variant) p.variant = variant;
  return p;
}

/**
 * Formats a platform as `os/arch[/variant]`.
 *
 * @example
 * ```ts
 * formatPlatform({ os: "linux", architecture: "amd64" }); // "linux/amd64"
 * ```
 */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/**
 * Whether an index entry's platform can run on `want`. Missing arm64 variants count as v8;
 * an entry without a variant matches any wanted variant of its architecture.
 *
 * @example
 * ```ts
 * platformMatches({ os: "linux", architecture: "arm64" }, parsePlatform("linux/arm64/v8")); // true
 * ```
 */
export function platformMatches(have: Platform, want: Platform): boolean {
  if (have.os !== want.os) return false;
  const arch = ARCH_ALIASES[have.architecture] ?? have.architecture;
  if (arch !== want.architecture) return false;
  const hv = have.variant ?? (arch === "arm64" ? "v8" : undefined);
  if (want.variant && hv && hv !== want.variant) return false;
  return true;
}

/**
 * Picks the manifest for `want` from an index: exact variant first, then a variant-less
 * entry; attestation manifests (`unknown/unknown`) are never chosen. Throws when none fits.
 *
 * @example
 * ```ts
 * const desc = selectPlatform(index, hostPlatform());
 * ```
 */
export function selectPlatform(index: Index, want: Platform): Descriptor {
  const candidates = index.manifests.filter((d) =>
    d.platform && platformMatches(d.platform, want) &&
    isManifestMediaType(d.mediaType ?? MediaType.OCI_MANIFEST)
  );
  const exact = candidates.find((d) =>
    (d.platform!.variant ?? (want.architecture === "arm64" ? "v8" : undefined)) === want.variant
  );
  const chosen = exact ?? candidates[0];
  if (!chosen) {
    const have = index.manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!)).join(", ");
    throw new TypeError(
      `No manifest for platform ${formatPlatform(want)} in the index (has: ${have || "none"})`,
    );
  }
  return chosen;
}
