/**
 * `ctr import`: a root-filesystem tarball (plain, gzip or zstd — detected from its bytes)
 * becomes a one-layer image, as `docker import` makes it. The tarball is stored as the layer
 * blob unchanged (no recompression), unpacked once into its snapshot (which yields the diff
 * ID), and described by a new config and OCI manifest.
 *
 * @module
 */
import { collectGarbage, withLease } from "./gc.ts";
import type { ImageStore } from "./image_store.ts";
import type { SnapshotStore } from "./snapshots.ts";
import { applyChanges } from "./changes.ts";
import { hostPlatform, type ImageConfig, type Manifest, MediaType, type Platform } from "./oci.ts";
import { formatReference, parseReference, withDefaultTag } from "./reference.ts";
import type { Compression } from "./compression.ts";

/** Options for {@linkcode importRootfs}. */
export interface ImportOptions {
  /** `REPOSITORY[:TAG]` to name the image (untagged when absent). */
  reference?: string;
  /** Dockerfile instructions to apply to the config (`--change`). */
  changes?: string[];
  /** Commit message (`-m`); default `Imported from <source>`. */
  message?: string;
  /** What the tarball came from, for the default message (Docker says `-`). */
  source?: string;
  platform?: Platform;
}

/** The image `importRootfs` created. */
export interface ImportResult {
  /** Manifest digest. */
  digest: string;
  /** Image ID (config digest). */
  id: string;
  /** Full name it was tagged with, if any. */
  name?: string;
}

/** Layer media type for a detected compression. */
export function layerMediaType(compression: Compression): string {
  return compression === "gzip"
    ? MediaType.OCI_LAYER_GZIP
    : compression === "zstd"
    ? MediaType.OCI_LAYER_ZSTD
    : MediaType.OCI_LAYER;
}

/**
 * Imports a rootfs tarball stream as a new image.
 *
 * @example
 * ```ts
 * const file = await Deno.open("rootfs.tar.gz");
 * const { id } = await importRootfs(root, images, snapshots, file.readable, { reference: "mybase:1" });
 * ```
 */
export async function importRootfs(
  root: string,
  images: ImageStore,
  snapshots: SnapshotStore,
  source: ReadableStream<Uint8Array>,
  options: ImportOptions = {},
): Promise<ImportResult> {
  // Validate what can be validated before reading a byte.
  const name = options.reference
    ? formatReference(withDefaultTag(parseReference(options.reference)))
    : undefined;
  if (name && parseReference(name).digest) {
    throw new TypeError(`Cannot import to a digest reference: ${name}`);
  }
  const platform = options.platform ?? hostPlatform();
  const config = applyChanges({}, options.changes ?? [], platform);

  try {
    return await importUnderLease(root, images, snapshots, source, { name, platform, config, options });
  } catch (e) {
    // Leave nothing behind: the blob stored before the failure is garbage now.
    await collectGarbage(root, images, snapshots).catch(() => {});
    throw e;
  }
}

async function importUnderLease(
  root: string,
  images: ImageStore,
  snapshots: SnapshotStore,
  source: ReadableStream<Uint8Array>,
  { name, platform, config, options }: {
    name?: string;
    platform: Platform;
    config: ImageConfig["config"];
    options: ImportOptions;
  },
): Promise<ImportResult> {
  const enc = new TextEncoder();
  return await withLease(root, async () => {
    const blob = await images.content.put(source);
    const snap = await snapshots.unpackBlob(blob.digest);
    const created = new Date().toISOString();
    const message = options.message ?? `Imported from ${options.source ?? "-"}`;
    const imageConfig: ImageConfig & { comment?: string } = {
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      created,
      comment: message,
      config,
      rootfs: { type: "layers", diff_ids: [snap.diffId] },
      history: [{ created, comment: message }],
    };
    const c = await images.content.put(enc.encode(JSON.stringify(imageConfig)));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: c.digest, size: c.size },
      layers: [{ mediaType: layerMediaType(snap.compression), digest: blob.digest, size: blob.size }],
    };
    const m = await images.content.put(enc.encode(JSON.stringify(manifest)));
    await images.addImage(m.digest);
    if (name) images.tag(name, m.digest);
    const result: ImportResult = { digest: m.digest, id: c.digest };
    if (name) result.name = name;
    return result;
  });
}
