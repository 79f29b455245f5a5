/**
 * Puts a fixture root filesystem into a state root as a one-layer image (`busybox:latest` or
 * `debian:latest`), through the image store's own API — so runtime tests have images before
 * `ctr import` / `ctr pull` exist. The busybox layer is the uncompressed tar, the Debian one
 * the gzipped tarball (its diff ID is the digest of the uncompressed stream).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { ContentStore } from "../image/content_store.ts";
import { ImageStore } from "../image/image_store.ts";
import { MediaType } from "../image/oci.ts";
import { fixture } from "./helpers.ts";

const cache = new Map<string, { bytes: Uint8Array; diffId: string }>();

async function layerOf(name: "busybox" | "debian") {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = await fixture(name);
  const bytes = await Deno.readFile(file);
  let diffId: string;
  if (name === "debian") {
    const h = createHash("sha256");
    const stream = ReadableStream.from([bytes]).pipeThrough(new DecompressionStream("gzip"));
    for await (const chunk of stream) h.update(chunk);
    diffId = `sha256:${h.digest("hex")}`;
  } else {
    diffId = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  }
  const out = { bytes, diffId };
  cache.set(name, out);
  return out;
}

/**
 * Imports fixture `name` into `root` and returns its reference (`busybox:latest`).
 *
 * @example
 * ```ts
 * const img = await importFixtureImage(root, "busybox");
 * await ctr(root, ["run", "--rm", img, "true"]);
 * ```
 */
export async function importFixtureImage(
  root: string,
  name: "busybox" | "debian",
  config: Record<string, unknown> = {},
): Promise<string> {
  const { bytes, diffId } = await layerOf(name);
  const content = new ContentStore(root);
  const layer = await content.put(bytes);
  const imageConfig = {
    architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
    os: "linux",
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: name === "busybox" ? ["sh"] : ["bash"],
      ...config,
    },
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created_by: `fixture ${name}` }],
  };
  const cfg = await content.put(new TextEncoder().encode(JSON.stringify(imageConfig)));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: cfg.digest, size: cfg.size },
    layers: [{
      mediaType: name === "debian" ? MediaType.OCI_LAYER_GZIP : MediaType.OCI_LAYER,
      digest: layer.digest,
      size: layer.size,
    }],
  };
  const man = await content.put(new TextEncoder().encode(JSON.stringify(manifest)));
  const images = ImageStore.open(root);
  try {
    await images.addImage(man.digest);
    const ref = Object.keys(config).length ? `${name}-custom:latest` : `${name}:latest`;
    images.tag(ref, man.digest);
    return ref.replace(/:latest$/, "");
  } finally {
    images.close();
  }
}
