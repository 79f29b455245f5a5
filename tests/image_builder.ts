/**
 * Test helper: small synthetic OCI images written straight into a state root (content store
 * + image store), without `ctr build` — a tar writer for regular files and directories, gzip
 * from `node:zlib`, and the config/manifest JSON.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { digestOf } from "../image/digest.ts";
import { ImageStore } from "../image/image_store.ts";
import { MediaType } from "../image/oci.ts";

/**
 * A ustar archive of `files` (path → contents; a path ending in `/` is a directory).
 *
 * @example
 * ```ts
 * const tar = makeTar({ "etc/": "", "etc/hello": "hi\n" });
 * ```
 */
export function makeTar(files: Record<string, string | Uint8Array>): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const [path, content] of Object.entries(files)) {
    const dir = path.endsWith("/");
    const data = dir ? new Uint8Array(0) : typeof content === "string" ? enc.encode(content) : content;
    const h = new Uint8Array(512);
    const put = (s: string, off: number, len: number) => h.set(enc.encode(s).subarray(0, len), off);
    const oct = (n: number, len: number) => (n.toString(8).padStart(len - 1, "0")) + "\0";
    if (path.length > 100) throw new RangeError(`makeTar: path too long: ${path}`);
    put(path, 0, 100);
    put(oct(dir ? 0o755 : 0o644, 8), 100, 8);
    put(oct(0, 8), 108, 8);
    put(oct(0, 8), 116, 8);
    put(oct(data.length, 12), 124, 12);
    put(oct(1_700_000_000, 12), 136, 12);
    put("        ", 148, 8);
    h[156] = (dir ? "5" : "0").charCodeAt(0);
    put("ustar\0", 257, 6);
    put("00", 263, 2);
    let sum = 0;
    for (const b of h) sum += b;
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
    parts.push(h, data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Random bytes: incompressible, so a "layer" of exactly this size.
 *
 * @example
 * ```ts
 * const img = buildImage([randomBytes(1 << 20)]);
 * ```
 */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  return out;
}

/** A built blob. */
export interface Blob {
  digest: string;
  size: number;
  bytes: Uint8Array<ArrayBuffer>;
  mediaType: string;
}

/** A built image: its blobs and manifest, not yet stored anywhere. */
export interface BuiltImage {
  layers: Blob[];
  config: Blob;
  manifest: Blob;
}

function blob(bytes: Uint8Array<ArrayBuffer>, mediaType: string): Blob {
  return { digest: digestOf(bytes), size: bytes.length, bytes, mediaType };
}

/**
 * Builds an image from layers (each a file map, or the bytes of an uncompressed tar), gzipped.
 *
 * @example
 * ```ts
 * const img = buildImage([{ "hello": "world" }]);
 * ```
 */
export function buildImage(
  layers: (Record<string, string | Uint8Array> | Uint8Array<ArrayBuffer>)[],
  options: {
    architecture?: string;
    os?: string;
    variant?: string;
    mediaType?: "oci" | "docker";
    cmd?: string[];
  } = {},
): BuiltImage {
  const docker = options.mediaType === "docker";
  const diffIds: string[] = [];
  const layerBlobs = layers.map((l) => {
    const tar = l instanceof Uint8Array ? l : makeTar(l);
    const gz = new Uint8Array(gzipSync(tar, { level: 1 }));
    diffIds.push(digestOf(tar));

    return blob(gz, docker ? MediaType.DOCKER_LAYER_GZIP : MediaType.OCI_LAYER_GZIP);
  });
  const config = blob(
    new TextEncoder().encode(JSON.stringify({
      architecture: options.architecture ?? "amd64",
      os: options.os ?? "linux",
      ...(options.variant ? { variant: options.variant } : {}),
      config: { Cmd: options.cmd ?? ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: diffIds },
    })),
    docker ? MediaType.DOCKER_CONFIG : MediaType.OCI_CONFIG,
  );
  const mt = docker ? MediaType.DOCKER_MANIFEST : MediaType.OCI_MANIFEST;
  const manifest = blob(
    new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: mt,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layerBlobs.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    })),
    mt,
  );
  return { layers: layerBlobs, config, manifest };
}

/**
 * An OCI index over several built images (each with its platform).
 *
 * @example
 * ```ts
 * const idx = buildIndex([[amd64, { os: "linux", architecture: "amd64" }]]);
 * ```
 */
export function buildIndex(entries: [BuiltImage, Record<string, string>][]): Blob {
  return blob(
    new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: entries.map(([img, platform]) => ({
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest,
        size: img.manifest.size,
        platform,
      })),
    })),
    MediaType.OCI_INDEX,
  );
}

/**
 * Stores a built image in a state root and tags it.
 *
 * @example
 * ```ts
 * await storeImage(root, "127.0.0.1:5000/team/app:1", buildImage([{ a: "b" }]));
 * ```
 */
export async function storeImage(root: string, name: string, img: BuiltImage): Promise<void> {
  const store = ImageStore.open(root);
  try {
    for (const b of [...img.layers, img.config, img.manifest]) {
      await store.content.put(b.bytes, { expected: b.digest });
    }
    await store.addImage(img.manifest.digest);
    store.tag(name, img.manifest.digest);
  } finally {
    store.close();
  }
}
