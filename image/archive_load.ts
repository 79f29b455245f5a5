/**
 * `ctr load`: images from a tarball written by `docker save` (docker-archive, old and
 * Docker 25+ layouts), by `skopeo copy … docker-archive:`/`oci-archive:`, or by `ctr save`,
 * detected from the content (gzip/zstd-compressed archives too). One streaming pass: blob
 * files go straight into the content store (verified against their names), small metadata
 * files stay in memory, and the archive's index is interpreted at the end — so `manifest.json`
 * may come last, as skopeo writes it, and the input may be a pipe.
 *
 * ```text
 * OCI image layout                docker-archive (Docker < 25)      Docker 25+ / ctr save
 * ├── oci-layout                  ├── manifest.json                  both at once:
 * ├── index.json                  ├── <config-hex>.json              index.json + blobs/
 * └── blobs/sha256/<hex>          ├── <layer-id>/layer.tar           + manifest.json
 *                                 └── repositories
 * ```
 *
 * When `index.json` is there it wins (manifest digests are kept exactly, so `save` → `load`
 * gives the same digests); `manifest.json` then only adds names. Otherwise a manifest is
 * built from `manifest.json`'s config and layer files.
 *
 * @module
 */
import { collectGarbage, withLease } from "./gc.ts";
import type { ImageStore } from "./image_store.ts";
import type { SnapshotStore } from "./snapshots.ts";
import { decompressStream, detectCompression } from "./compression.ts";
import { readTar } from "./tar/reader.ts";
import { layerMediaType } from "./import_rootfs.ts";
import {
  type Descriptor,
  hostPlatform,
  type Index,
  isIndexMediaType,
  type Manifest,
  MediaType,
  parseImageConfig,
  parseManifestDocument,
  type Platform,
  selectPlatform,
} from "./oci.ts";
import { formatReference, parseReference, withDefaultTag } from "./reference.ts";
import { isDigest } from "./digest.ts";

/** One image the archive held. */
export interface LoadedImageInfo {
  /** Manifest digest. */
  digest: string;
  /** Image ID (config digest). */
  id: string;
  /** Full names it was tagged with. */
  names: string[];
  /** Names that pointed at another image before (Docker reports those). */
  renamed: { name: string; previousId: string }[];
}

/** Options for {@linkcode loadArchive}. */
export interface LoadOptions {
  /** Platform to pick from multi-platform indexes (default: the host's). */
  platform?: Platform;
  /** Unpack the images' layers into snapshots (default true, as Docker). */
  unpack?: boolean;
}

/** Largest non-blob file kept in memory while reading an archive. */
const SMALL = 4 << 20;

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function cleanName(name: string): string {
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts.join("/");
}

/**
 * Loads every image of an archive stream into the stores.
 *
 * @example
 * ```ts
 * const loaded = await loadArchive(root, images, snapshots, (await Deno.open("img.tar")).readable);
 * ```
 */
export async function loadArchive(
  root: string,
  images: ImageStore,
  snapshots: SnapshotStore,
  source: ReadableStream<Uint8Array>,
  options: LoadOptions = {},
): Promise<LoadedImageInfo[]> {
  try {
    return await loadUnderLease(root, images, snapshots, source, options);
  } catch (e) {
    // Leave nothing behind: blobs stored before the failure are garbage now.
    await collectGarbage(root, images, snapshots).catch(() => {});
    throw e;
  }
}

async function loadUnderLease(
  root: string,
  images: ImageStore,
  snapshots: SnapshotStore,
  source: ReadableStream<Uint8Array>,
  options: LoadOptions,
): Promise<LoadedImageInfo[]> {
  return await withLease(root, async () => {
    const { stream } = await decompressStream(source);
    /** archive path → stored blob digest */
    const stored = new Map<string, string>();
    /** archive path → bytes of small non-blob files */
    const small = new Map<string, Uint8Array>();
    /** archive path → the path it links to */
    const links = new Map<string, string>();
    let entries = 0;
    for await (const e of readTar(stream)) {
      entries++;
      const name = cleanName(e.header.name);
      if (e.header.type === "symlink" || e.header.type === "link") {
        const target = e.header.linkname ?? "";
        const base = e.header.type === "symlink" && !target.startsWith("/")
          ? name.slice(0, name.lastIndexOf("/") + 1)
          : "";
        links.set(name, cleanName(base + target));
        continue;
      }
      if (e.header.type !== "file") continue;
      const blob = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(name);
      if (blob && isDigest(`${blob[1]}:${blob[2]}`)) {
        const r = await images.content.put(e.body, {
          expected: `${blob[1]}:${blob[2]}`,
          expectedSize: e.header.size,
        });
        stored.set(name, r.digest);
      } else if (e.header.size <= SMALL) {
        small.set(name, await e.bytes());
      } else {
        stored.set(name, (await images.content.put(e.body)).digest);
      }
    }
    if (!entries) throw new TypeError("Invalid archive: it is empty");

    const resolve = (path: string): string => {
      let p = cleanName(path);
      for (let i = 0; i < 40 && links.has(p); i++) p = links.get(p)!;
      return p;
    };
    const text = (path: string): string | undefined => {
      const p = resolve(path);
      const bytes = small.get(p);
      return bytes ? new TextDecoder().decode(bytes) : undefined;
    };
    /** The digest of an archive file, storing it first if it was kept in memory. */
    const blobOf = async (path: string): Promise<string> => {
      const p = resolve(path);
      const d = stored.get(p);
      if (d) return d;
      const bytes = small.get(p);
      if (!bytes) throw new TypeError(`Invalid archive: ${JSON.stringify(path)} is referenced but missing`);
      const r = await images.content.put(bytes);
      stored.set(p, r.digest);
      return r.digest;
    };

    const manifestJson = text("manifest.json");
    let dockerEntries: DockerManifestEntry[] = [];
    if (manifestJson !== undefined) {
      try {
        dockerEntries = JSON.parse(manifestJson);
        if (!Array.isArray(dockerEntries)) throw new TypeError("not an array");
      } catch (e) {
        throw new TypeError(`Invalid archive: manifest.json: ${(e as Error).message}`);
      }
    }
    const indexJson = text("index.json");
    const loaded: { digest: string; names: Set<string> }[] = [];
    const platform = options.platform ?? hostPlatform();

    if (indexJson !== undefined) {
      // Blobs named in the layout were stored while reading; index.json itself may be a blob too.
      const doc = parseManifestDocument(new TextEncoder().encode(indexJson));
      if (doc.kind !== "index") throw new TypeError("Invalid archive: index.json is not an image index");
      for (const desc of doc.index.manifests) {
        const names = new Set<string>();
        const ann = desc.annotations ?? {};
        const full = ann["io.containerd.image.name"];
        const ref = ann["org.opencontainers.image.ref.name"];
        for (const n of [full, ref]) {
          if (!n || (n === ref && full)) continue;
          // A bare tag (`latest`) in ref.name names no repository.
          if (n === ref && !/[/:@]/.test(n)) continue;
          try {
            names.add(formatReference(withDefaultTag(parseReference(n))));
          } catch { /* not a name */ }
        }
        const digest = await manifestFromDescriptor(images, desc, platform);
        loaded.push({ digest, names });
      }
      // Names from manifest.json (Docker writes them in both places; others only there).
      for (const entry of dockerEntries) {
        const configDigest = entry.Config ? await blobOf(entry.Config).catch(() => "") : "";
        for (const l of loaded) {
          if (images.get(l.digest)?.configDigest !== configDigest) continue;
          for (const t of entry.RepoTags ?? []) {
            l.names.add(formatReference(withDefaultTag(parseReference(t))));
          }
        }
      }
    } else if (manifestJson !== undefined) {
      for (const entry of dockerEntries) {
        if (typeof entry.Config !== "string" || !Array.isArray(entry.Layers)) {
          throw new TypeError("Invalid archive: manifest.json entries need Config and Layers");
        }
        const configDigest = await blobOf(entry.Config);
        const configBytes = await images.content.readBytes(configDigest);
        const config = parseImageConfig(configBytes);
        if (config.rootfs.diff_ids.length !== entry.Layers.length) {
          throw new TypeError(
            `Invalid archive: ${entry.Config} lists ${config.rootfs.diff_ids.length} diff IDs for ${entry.Layers.length} layers`,
          );
        }
        const layers: Descriptor[] = [];
        for (const path of entry.Layers) {
          const digest = await blobOf(path);
          const file = await images.content.open(digest);
          const head = new Uint8Array(8);
          const n = (await file.read(head)) ?? 0;
          const size = (await file.stat()).size;
          file.close();
          layers.push({ mediaType: layerMediaType(detectCompression(head.subarray(0, n))), digest, size });
        }
        const manifest: Manifest = {
          schemaVersion: 2,
          mediaType: MediaType.OCI_MANIFEST,
          config: { mediaType: MediaType.OCI_CONFIG, digest: configDigest, size: configBytes.length },
          layers,
        };
        const m = await images.content.put(new TextEncoder().encode(JSON.stringify(manifest)));
        await images.addImage(m.digest);
        const names = new Set<string>();
        for (const t of entry.RepoTags ?? []) names.add(formatReference(withDefaultTag(parseReference(t))));
        loaded.push({ digest: m.digest, names });
      }
    } else {
      throw new TypeError(
        "Invalid archive: no index.json or manifest.json (expected a docker save or OCI image-layout tarball)",
      );
    }

    const out: LoadedImageInfo[] = [];
    const added: string[] = [];
    try {
      for (const l of loaded) {
        const rec = images.get(l.digest)!;
        added.push(l.digest);
        if (options.unpack !== false) await snapshots.prepare(await images.load(l.digest));
        const renamed: LoadedImageInfo["renamed"] = [];
        for (const n of l.names) {
          let previous;
          try {
            previous = images.find(n);
          } catch { /* new name */ }
          if (previous && previous.configDigest !== rec.configDigest) {
            renamed.push({ name: n, previousId: previous.configDigest });
          }
          images.tag(n, l.digest);
        }
        out.push({ digest: l.digest, id: rec.configDigest, names: [...l.names], renamed });
      }
    } catch (e) {
      // An image that cannot be unpacked is not loaded.
      for (const d of added) if (!images.get(d)?.names.length) images.remove(d);
      throw e;
    }
    return out;
  });
}

/** Records the image a top-level index entry names (choosing a platform from a nested index). */
async function manifestFromDescriptor(
  images: ImageStore,
  desc: Descriptor,
  platform: Platform,
): Promise<string> {
  const missing = (d: string) => new TypeError(`Invalid archive: blob ${d} is missing`);
  if (!(await images.content.has(desc.digest))) throw missing(desc.digest);
  if (isIndexMediaType(desc.mediaType)) {
    const doc = parseManifestDocument(await images.content.readBytes(desc.digest), desc.mediaType);
    if (doc.kind !== "index") throw new TypeError(`Invalid archive: ${desc.digest} is not an index`);
    const chosen = selectPlatform(doc.index as Index, platform);
    if (!(await images.content.has(chosen.digest))) throw missing(chosen.digest);
    await images.addImage(chosen.digest, { indexDigest: desc.digest });
    return chosen.digest;
  }
  await images.addImage(desc.digest);
  return desc.digest;
}
