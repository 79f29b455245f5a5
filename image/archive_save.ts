/**
 * `ctr save`: images as one tarball, streamed.
 *
 * ```text
 * format "docker" (default, as Docker 25+ writes it)    format "oci"
 * ├── blobs/sha256/<hex>   manifests, configs, layers     ├── blobs/sha256/<hex>
 * ├── index.json           one entry per name             ├── index.json
 * ├── manifest.json        docker-archive view            └── oci-layout
 * └── oci-layout
 * ```
 *
 * The docker format is an OCI image layout that is also a docker-archive: `docker load`,
 * `skopeo … docker-archive:` and `skopeo … oci-archive:` all read it. Layers are written as
 * stored (compressed or not). Index entries carry `io.containerd.image.name` (the full name)
 * and `org.opencontainers.image.ref.name` (the tag), as Docker writes them. Images named by
 * ID are saved without names, as Docker does. Entry order and timestamps are fixed, so the
 * same images give the same bytes.
 *
 * @module
 */
import type { ImageRecord, ImageStore } from "./image_store.ts";
import { type Descriptor, type Index, MediaType, parseManifestDocument } from "./oci.ts";
import { TarWriter } from "./tar/writer.ts";
import type { TarHeader } from "./tar/header.ts";
import { parseDigest } from "./digest.ts";
import { familiarName, parseReference, withDefaultTag } from "./reference.ts";

/** Options for {@linkcode saveArchive}. */
export interface SaveOptions {
  /** `docker` (default): OCI layout plus manifest.json; `oci`: OCI layout only. */
  format?: "docker" | "oci";
}

interface Selected {
  image: ImageRecord;
  /** Full names to record (empty when selected by ID). */
  names: string[];
}

/**
 * Resolves what to save: each argument is a name (saved with that name) or an image ID
 * (saved without names). Throws `NotFoundError` for an unknown one.
 *
 * @example
 * ```ts
 * const sel = selectImages(images, ["busybox", "3f57d9401f8d"]);
 * ```
 */
export function selectImages(images: ImageStore, refs: string[]): Selected[] {
  const byDigest = new Map<string, Selected>();
  for (const ref of refs) {
    const image = images.find(ref);
    const sel = byDigest.get(image.digest) ?? { image, names: [] };
    byDigest.set(image.digest, sel);
    const byId = image.configDigest.includes(ref.replace(/^sha256:/, "")) &&
      /^(sha256:)?[a-f0-9]{4,64}$/.test(ref);
    if (!byId) {
      const ref0 = withDefaultTag(parseReference(ref));
      const full = image.names.find((n) => n === `${ref0.domain}/${ref0.path}:${ref0.tag}`) ??
        image.names.find((n) => n.startsWith(`${ref0.domain}/${ref0.path}`));
      if (full && !sel.names.includes(full)) sel.names.push(full);
    }
  }
  return [...byDigest.values()];
}

function hexPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/**
 * Streams an archive of the given images.
 *
 * @example
 * ```ts
 * await Deno.writeFile("out.tar", saveArchive(images, ["busybox:latest"]));
 * ```
 */
export function saveArchive(
  images: ImageStore,
  refs: string[],
  options: SaveOptions = {},
): ReadableStream<Uint8Array> {
  const selected = selectImages(images, refs);
  const tar = new TarWriter();
  const enc = new TextEncoder();
  const header = (name: string, type: TarHeader["type"], size = 0): TarHeader => ({
    name,
    type,
    mode: type === "directory" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime: 0,
  });
  const addJson = (name: string, value: unknown) => {
    const bytes = enc.encode(JSON.stringify(value));
    return tar.add(header(name, "file", bytes.length), bytes);
  };

  (async () => {
    try {
      const written = new Set<string>();
      const index: Index = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] };
      const dockerManifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
      const blobs: Descriptor[] = [];
      const perImage: { sel: Selected; desc: Descriptor; config: string; layers: string[] }[] = [];
      for (const sel of selected) {
        const bytes = await images.content.readBytes(sel.image.digest);
        const doc = parseManifestDocument(bytes);
        if (doc.kind !== "manifest") throw new TypeError(`Not an image manifest: ${sel.image.digest}`);
        const m = doc.manifest;
        for (const l of m.layers) {
          if (!(await images.content.has(l.digest))) {
            throw new TypeError(
              `Cannot save ${sel.image.names[0] ?? sel.image.digest}: layer ${l.digest} is not stored`,
            );
          }
        }
        blobs.push(...m.layers, m.config, {
          mediaType: doc.mediaType,
          digest: sel.image.digest,
          size: bytes.length,
        });
        perImage.push({
          sel,
          desc: { mediaType: doc.mediaType, digest: sel.image.digest, size: bytes.length },
          config: hexPath(m.config.digest),
          layers: m.layers.map((l) => hexPath(l.digest)),
        });
      }
      await tar.add(header("blobs/", "directory"));
      for (const alg of [...new Set(blobs.map((b) => parseDigest(b.digest).algorithm))].sort()) {
        await tar.add(header(`blobs/${alg}/`, "directory"));
      }
      for (const b of blobs) {
        if (written.has(b.digest)) continue;
        written.add(b.digest);
        const size = (await images.content.size(b.digest))!;
        using file = await images.content.open(b.digest);
        await tar.add(header(hexPath(b.digest), "file", size), file.readable);
      }
      for (const { sel, desc, config, layers } of perImage) {
        if (!sel.names.length) index.manifests.push(desc);
        for (const full of sel.names) {
          const ref = parseReference(full);
          index.manifests.push({
            ...desc,
            annotations: {
              "io.containerd.image.name": full,
              ...(ref.tag ? { "org.opencontainers.image.ref.name": ref.tag } : {}),
            },
          });
        }
        dockerManifest.push({
          Config: config,
          RepoTags: sel.names.some((n) => parseReference(n).tag)
            ? sel.names.filter((n) => parseReference(n).tag).map((n) => familiarName(parseReference(n)))
            : null,
          Layers: layers,
        });
      }
      await addJson("index.json", index);
      if ((options.format ?? "docker") === "docker") await addJson("manifest.json", dockerManifest);
      await addJson("oci-layout", { imageLayoutVersion: "1.0.0" });
      await tar.close();
    } catch (e) {
      await tar.abort(e).catch(() => {});
    }
  })();
  return tar.readable;
}
