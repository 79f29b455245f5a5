/**
 * What the registry checks in a pushed manifest before storing it: JSON shape, media type
 * (body vs `Content-Type`), descriptors, and the blobs and manifests it references (the
 * caller then checks those exist). Handles the OCI image manifest and index and the Docker
 * schema-2 manifest and manifest list, with OCI 1.1 `artifactType` and `subject`. Pure.
 *
 * @module
 */
import { isDigest } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";
import { RegistryError } from "./errors.ts";
import type { ManifestReference } from "./metadata.ts";

/** The largest manifest accepted (the spec says registries should accept at least 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Manifest media types the registry stores. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OCI_MANIFEST,
  MediaType.OCI_INDEX,
  MediaType.DOCKER_MANIFEST,
  MediaType.DOCKER_LIST,
];

/** A manifest understood well enough to index it. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs (config, layers) and child manifests that must exist in the repository. */
  references: ManifestReference[];
  subject?: string;
  /** What the referrers API reports: `artifactType`, else the config's media type (manifests). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface RawDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
}

function invalid(message: string, detail?: unknown): never {
  throw new RegistryError("MANIFEST_INVALID", message, { detail });
}

function descriptor(v: unknown, where: string): RawDescriptor {
  if (typeof v !== "object" || v === null || Array.isArray(v)) invalid(`${where} is not a descriptor object`);
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== "string" || d.mediaType === "") invalid(`${where} has no mediaType`);
  if (typeof d.digest !== "string" || !isDigest(d.digest)) {
    invalid(`${where} has an invalid digest: ${JSON.stringify(d.digest)}`);
  }
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    invalid(`${where} has an invalid size: ${JSON.stringify(d.size)}`);
  }
  if (d.urls !== undefined && (!Array.isArray(d.urls) || d.urls.some((u) => typeof u !== "string"))) {
    invalid(`${where} has invalid urls`);
  }
  return d as unknown as RawDescriptor;
}

function annotations(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) {
    invalid(`${where} must map strings to strings`);
  }
  return Object.keys(v).length ? v as Record<string, string> : undefined;
}

/** The media type without parameters, lowercased; undefined when empty. */
function bareType(contentType: string | null | undefined): string | undefined {
  const t = contentType?.split(";")[0].trim().toLowerCase();
  return t ? t : undefined;
}

/**
 * Parses and checks a manifest body; throws {@linkcode RegistryError} `MANIFEST_INVALID`
 * naming the problem.
 *
 * @example
 * ```ts
 * const m = parseManifest(bytes, "application/vnd.oci.image.manifest.v1+json");
 * m.references; // [{ digest: config, kind: "blob", size }, …layers]
 * ```
 */
export function parseManifest(bytes: Uint8Array, contentType?: string | null): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    invalid(`Manifest is not valid JSON: ${e instanceof Error ? e.message : e}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    invalid("Manifest is not a JSON object");
  }
  const m = json as Record<string, unknown>;
  if (m.schemaVersion !== 2) {
    invalid(
      m.schemaVersion === 1
        ? "Schema 1 manifests are not supported"
        : `Unsupported schemaVersion: ${JSON.stringify(m.schemaVersion)}`,
    );
  }
  const header = bareType(contentType);
  if (m.mediaType !== undefined && typeof m.mediaType !== "string") invalid("mediaType must be a string");
  const body = m.mediaType as string | undefined;
  if (
    body !== undefined && header !== undefined && MANIFEST_MEDIA_TYPES.includes(header) && header !== body
  ) {
    invalid(`The manifest's mediaType ${body} does not match its Content-Type ${header}`);
  }
  let mediaType = body ?? (header && MANIFEST_MEDIA_TYPES.includes(header) ? header : undefined);
  if (mediaType === undefined) {
    if (Array.isArray(m.manifests)) mediaType = MediaType.OCI_INDEX;
    else if (m.config !== undefined) mediaType = MediaType.OCI_MANIFEST;
    else invalid("Cannot tell the manifest's media type: no mediaType, Content-Type, config or manifests");
  }
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) invalid(`Unsupported manifest media type: ${mediaType}`);
  if (m.artifactType !== undefined && (typeof m.artifactType !== "string" || m.artifactType === "")) {
    invalid("artifactType must be a non-empty string");
  }
  const subject = m.subject === undefined || m.subject === null
    ? undefined
    : descriptor(m.subject, "subject").digest;
  const out: ParsedManifest = { mediaType, references: [] };
  if (subject) out.subject = subject;
  const ann = annotations(m.annotations, "annotations");
  if (ann) out.annotations = ann;

  if (mediaType === MediaType.OCI_INDEX || mediaType === MediaType.DOCKER_LIST) {
    if (!Array.isArray(m.manifests)) invalid("An index must have a manifests array");
    m.manifests.forEach((v, i) => {
      const d = descriptor(v, `manifests[${i}]`);
      out.references.push({ digest: d.digest, kind: "manifest", size: d.size });
    });
    if (m.artifactType !== undefined) out.artifactType = m.artifactType as string;
    return out;
  }
  if (Array.isArray(m.manifests)) invalid("An image manifest must not have a manifests array");
  const config = descriptor(m.config, "config");
  out.references.push({ digest: config.digest, kind: "blob", size: config.size });
  if (!Array.isArray(m.layers)) invalid("An image manifest must have a layers array");
  m.layers.forEach((v, i) => {
    const d = descriptor(v, `layers[${i}]`);
    // Non-distributable layers (with urls) live elsewhere; the registry need not have them.
    if (!d.urls?.length) out.references.push({ digest: d.digest, kind: "blob", size: d.size });
  });
  out.artifactType = (m.artifactType as string | undefined) ?? config.mediaType;
  return out;
}
