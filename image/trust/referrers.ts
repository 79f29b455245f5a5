/**
 * Signatures in a registry, as OCI referrers: a small artifact manifest whose `subject` is
 * the signed manifest, holding the simple-signing payload as its one layer and the
 * signature in that layer's annotation (the shape cosign writes in its OCI 1.1 mode):
 *
 * ```text
 * manifest (artifactType application/vnd.dev.cosign.artifact.sig.v1+json)
 * ├── config   application/vnd.oci.empty.v1+json  ({})
 * ├── layers[0] application/vnd.dev.cosign.simplesigning.v1+json  (payload)
 * │     annotations: dev.cosignproject.cosign/signature = base64(DER ECDSA signature)
 * └── subject  → the signed image manifest or index
 * ```
 *
 * Reading tries, in order: the referrers API (`GET /v2/<name>/referrers/<digest>`); when a
 * registry does not implement it (404), the referrers tag schema (an index tagged
 * `sha256-<hex>`); and cosign's older tag `sha256-<hex>.sig`, whose layers are payloads.
 * Writing pushes the artifact by digest; when the registry's answer lacks the `OCI-Subject`
 * header (it did not index the subject), the `sha256-<hex>` index is updated too, as the
 * distribution spec asks clients to do.
 *
 * @module
 */
import { parseDigest } from "../digest.ts";
import { digestOf } from "../digest.ts";
import { type Descriptor, type Index, type Manifest, MediaType } from "../oci.ts";
import type { Repository } from "../distribution/repository.ts";
import {
  base64Decode,
  base64Encode,
  SIGNATURE_ANNOTATION,
  SIGNATURE_ARTIFACT_TYPE,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from "./signature.ts";

/** Largest payload read (a simple-signing payload is a few hundred bytes). */
const MAX_PAYLOAD = 64 << 10;
/** Signature artifacts examined per image at most (a registry could list thousands). */
const MAX_CANDIDATES = 64;

/** The empty JSON config every artifact manifest points at. */
const EMPTY_CONFIG = new TextEncoder().encode("{}");

/** One signature found in a registry, not yet verified. */
export interface SignatureCandidate {
  /** Where it was found. */
  source: "referrers" | "referrers-tag" | "cosign-tag";
  /** Digest of the manifest that carries it. */
  manifest: string;
  payload: Uint8Array<ArrayBuffer>;
  signature: Uint8Array;
}

/** The referrers tag of a digest: `sha256-<hex>` (distribution spec, referrers tag schema). */
export function referrersTag(digest: string): string {
  const d = parseDigest(digest);
  return `${d.algorithm}-${d.hex}`;
}

async function readJson<T>(res: Response, limit: number, what: string): Promise<T> {
  const text = await res.text();
  if (text.length > limit) throw new RangeError(`${what} is too large`);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new TypeError(`${what} is not JSON: ${(e as Error).message}`);
  }
}

/**
 * The referrers of `digest` as descriptors: from the referrers API, or the referrers tag
 * when the registry has no API. `apiMissing` tells which was used.
 */
export async function listReferrers(
  repo: Repository,
  digest: string,
  artifactType?: string,
): Promise<{ descriptors: Descriptor[]; apiMissing: boolean }> {
  const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : "";
  const res = await repo.client.request(`/v2/${repo.path}/referrers/${digest}${query}`, {
    scopes: repo.scopes,
    headers: { Accept: MediaType.OCI_INDEX },
    accept: [404, 400, 405],
  });
  if (res.ok) {
    const index = await readJson<Index>(res, 4 << 20, `Referrers of ${digest}`);
    const list = Array.isArray(index?.manifests) ? index.manifests : [];
    return {
      descriptors: list.filter((d) => !artifactType || d.artifactType === artifactType),
      apiMissing: false,
    };
  }
  await res.body?.cancel().catch(() => {});
  const tagged = await tagIndex(repo, referrersTag(digest));
  return {
    descriptors: (tagged?.manifests ?? []).filter((d) => !artifactType || d.artifactType === artifactType),
    apiMissing: true,
  };
}

/** The index under a referrers tag, or undefined when the tag does not exist. */
async function tagIndex(repo: Repository, tag: string): Promise<Index | undefined> {
  try {
    const m = await repo.getManifest(tag);
    const doc = JSON.parse(new TextDecoder().decode(m.bytes)) as Index;
    return Array.isArray(doc?.manifests) ? doc : { schemaVersion: 2, manifests: [] };
  } catch (e) {
    if ((e as Error).name === "NotFoundError") return undefined;
    throw e;
  }
}

async function candidatesOf(
  repo: Repository,
  manifest: Manifest,
  manifestDigest: string,
  source: SignatureCandidate["source"],
): Promise<SignatureCandidate[]> {
  const out: SignatureCandidate[] = [];
  for (const layer of manifest.layers ?? []) {
    const sig = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE || typeof sig !== "string") continue;
    if (!(layer.size > 0 && layer.size <= MAX_PAYLOAD)) continue;
    let signature: Uint8Array;
    try {
      signature = base64Decode(sig);
    } catch {
      continue;
    }
    const payload = await repo.getBlobBytes(layer.digest, layer.size);
    out.push({ source, manifest: manifestDigest, payload, signature });
  }
  return out;
}

/**
 * Every signature the registry holds for `digest` in this repository (referrers API or
 * referrers tag, plus cosign's `.sig` tag). Nothing here is trusted yet: each payload and
 * signature must still be verified.
 *
 * @example
 * ```ts
 * const found = await findSignatures(repo, "sha256:…");
 * ```
 */
export async function findSignatures(repo: Repository, digest: string): Promise<SignatureCandidate[]> {
  const out: SignatureCandidate[] = [];
  const { descriptors, apiMissing } = await listReferrers(repo, digest, SIGNATURE_ARTIFACT_TYPE);
  for (const d of descriptors.slice(0, MAX_CANDIDATES)) {
    try {
      parseDigest(d.digest);
    } catch {
      continue;
    }
    const m = await repo.getManifest(d.digest); // verified against d.digest
    let doc: Manifest;
    try {
      doc = JSON.parse(new TextDecoder().decode(m.bytes)) as Manifest;
    } catch {
      continue;
    }
    if (doc.subject?.digest !== digest) continue; // attached to something else: not a claim here
    out.push(...await candidatesOf(repo, doc, m.digest, apiMissing ? "referrers-tag" : "referrers"));
  }
  // cosign's tag scheme (what cosign and podman/skopeo write by default)
  try {
    const m = await repo.getManifest(`${referrersTag(digest)}.sig`);
    const doc = JSON.parse(new TextDecoder().decode(m.bytes)) as Manifest;
    if (Array.isArray(doc?.layers)) out.push(...await candidatesOf(repo, doc, m.digest, "cosign-tag"));
  } catch (e) {
    if ((e as Error).name !== "NotFoundError") throw e;
  }
  return out;
}

/**
 * Pushes a signature artifact attached to `subject` and returns its manifest digest. Keeps
 * the referrers tag index up to date when the registry does not index subjects itself.
 *
 * @example
 * ```ts
 * await attachSignature(repo, { mediaType, digest, size }, payload, signature);
 * ```
 */
export async function attachSignature(
  repo: Repository,
  subject: Descriptor,
  payload: Uint8Array<ArrayBuffer>,
  signature: Uint8Array,
): Promise<{ digest: string; size: number; viaTag: boolean }> {
  await pushSmallBlob(repo, EMPTY_CONFIG);
  await pushSmallBlob(repo, payload);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    artifactType: SIGNATURE_ARTIFACT_TYPE,
    config: { mediaType: MediaType.OCI_EMPTY, digest: digestOf(EMPTY_CONFIG), size: EMPTY_CONFIG.length },
    layers: [{
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      digest: digestOf(payload),
      size: payload.length,
      annotations: { [SIGNATURE_ANNOTATION]: base64Encode(signature) },
    }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { "org.opencontainers.image.created": new Date().toISOString().replace(/\.\d+Z$/, "Z") },
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  const digest = digestOf(bytes);
  const res = await repo.client.request(`/v2/${repo.path}/manifests/${digest}`, {
    method: "PUT",
    scopes: repo.scopes,
    headers: { "Content-Type": MediaType.OCI_MANIFEST, "Content-Length": String(bytes.length) },
    body: bytes,
  });
  await res.body?.cancel().catch(() => {});
  const indexed = res.headers.get("oci-subject") === subject.digest;
  if (!indexed) {
    // The registry did not index the subject: maintain the referrers tag (read, add, write).
    const tag = referrersTag(subject.digest);
    const index: Index = (await tagIndex(repo, tag)) ?? { schemaVersion: 2, manifests: [] };
    if (!index.manifests.some((d) => d.digest === digest)) {
      index.manifests.push({
        mediaType: MediaType.OCI_MANIFEST,
        digest,
        size: bytes.length,
        artifactType: SIGNATURE_ARTIFACT_TYPE,
        annotations: manifest.annotations,
      });
    }
    const out: Index = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: index.manifests };
    await repo.putManifest(tag, new TextEncoder().encode(JSON.stringify(out)), MediaType.OCI_INDEX);
  }
  return { digest, size: bytes.length, viaTag: !indexed };
}

async function pushSmallBlob(repo: Repository, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
  const digest = digestOf(bytes);
  if (await repo.hasBlob(digest)) return;
  const session = await repo.startUpload();
  if ("mounted" in session) return;
  await repo.upload(session, digest, bytes.length, () => Promise.resolve(bytes), { chunkSize: 1 << 20 });
}

/**
 * Also stores the signature the way cosign does by default, and podman and skopeo read
 * (`use-sigstore-attachments`): as one more layer of the image manifest tagged
 * `sha256-<hex>.sig` (created when missing; an identical layer is not added twice).
 * Returns that manifest's digest.
 */
export async function attachCosignTag(
  repo: Repository,
  subjectDigest: string,
  payload: Uint8Array<ArrayBuffer>,
  signature: Uint8Array,
): Promise<string> {
  const tag = `${referrersTag(subjectDigest)}.sig`;
  await pushSmallBlob(repo, payload);
  let manifest: Manifest | undefined;
  try {
    const m = await repo.getManifest(tag);
    manifest = JSON.parse(new TextDecoder().decode(m.bytes)) as Manifest;
  } catch (e) {
    if ((e as Error).name !== "NotFoundError") throw e;
  }
  if (!manifest || !Array.isArray(manifest.layers)) {
    // An image config with no layers of its own: what readers of OCI images expect.
    const config = new TextEncoder().encode(
      JSON.stringify({ architecture: "", os: "", config: {}, rootfs: { type: "layers", diff_ids: [] } }),
    );
    await pushSmallBlob(repo, config);
    manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: digestOf(config), size: config.length },
      layers: [],
    };
  }
  const layer = {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    digest: digestOf(payload),
    size: payload.length,
    annotations: { [SIGNATURE_ANNOTATION]: base64Encode(signature) },
  };
  const same = (l: Descriptor) =>
    l.digest === layer.digest &&
    l.annotations?.[SIGNATURE_ANNOTATION] === layer.annotations[SIGNATURE_ANNOTATION];
  if (!manifest.layers.some(same)) manifest.layers.push(layer);
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  await repo.putManifest(tag, bytes, MediaType.OCI_MANIFEST);
  return digestOf(bytes);
}
