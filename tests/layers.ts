/**
 * Builders for small layer tarballs in tests: `layer(dir("a/"), file("a/x", "data"), …)`
 * gives the bytes of an uncompressed layer, written with ctr's own tar writer. Defaults:
 * uid/gid 0, mode 0644 (0755 for directories), mtime 1700000000.
 *
 * @module
 */
import { gzipSync, zstdCompressSync } from "node:zlib";
import type { TarHeader } from "../image/tar/header.ts";
import { encodeTar } from "../image/tar/writer.ts";
import type { ImageStore } from "../image/image_store.ts";
import type { Compression } from "../image/compression.ts";
import { hostPlatform, type ImageConfig, MediaType } from "../image/oci.ts";
import { digestOf } from "../image/digest.ts";

/** One entry for {@linkcode layer}. */
export interface LayerEntry {
  header: TarHeader;
  data?: Uint8Array;
}

const MTIME = 1700000000;
const enc = new TextEncoder();

function h(name: string, type: TarHeader["type"], over: Partial<TarHeader>): TarHeader {
  return {
    name,
    type,
    mode: type === "directory" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: MTIME,
    ...over,
  };
}

/**
 * A directory entry.
 *
 * @example
 * ```ts
 * dir("etc/", { mode: 0o700 });
 * ```
 */
export function dir(name: string, over: Partial<TarHeader> = {}): LayerEntry {
  return { header: h(name, "directory", over) };
}

/**
 * A regular file with `data`.
 *
 * @example
 * ```ts
 * file("etc/hostname", "box\n");
 * ```
 */
export function file(
  name: string,
  data: string | Uint8Array = "",
  over: Partial<TarHeader> = {},
): LayerEntry {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return { header: h(name, "file", { size: bytes.length, ...over }), data: bytes };
}

/**
 * A symlink.
 *
 * @example
 * ```ts
 * symlink("bin", "usr/bin");
 * ```
 */
export function symlink(name: string, target: string, over: Partial<TarHeader> = {}): LayerEntry {
  return { header: h(name, "symlink", { mode: 0o777, linkname: target, ...over }) };
}

/**
 * A hard link to an earlier entry.
 *
 * @example
 * ```ts
 * hardlink("f2", "f1");
 * ```
 */
export function hardlink(name: string, target: string, over: Partial<TarHeader> = {}): LayerEntry {
  return { header: h(name, "link", { linkname: target, ...over }) };
}

/**
 * A device node, FIFO, or other header-only entry.
 *
 * @example
 * ```ts
 * special("dev/null", "char", { devmajor: 1, devminor: 3, mode: 0o666 });
 * ```
 */
export function special(
  name: string,
  type: "char" | "block" | "fifo",
  over: Partial<TarHeader> = {},
): LayerEntry {
  return { header: h(name, type, over) };
}

/**
 * The uncompressed tar of the entries, in the given order.
 *
 * @example
 * ```ts
 * const bytes = layer(dir("a/"), file("a/x", "1"));
 * ```
 */
export function layer(...entries: LayerEntry[]): Uint8Array {
  return encodeTar(entries);
}

/**
 * Stores an image made of `layers` (uncompressed tar bytes, bottom first) in an image store
 * — blobs, config and manifest — and tags it `name`. Layers are gzip-compressed unless
 * `compression` says otherwise. Returns the manifest digest.
 *
 * @example
 * ```ts
 * const digest = await storeImage(images, [layer(file("a", "1"))], "test:1");
 * ```
 */
export async function storeImage(
  images: ImageStore,
  layers: Uint8Array[],
  name: string,
  options: { compression?: Compression; config?: Partial<ImageConfig> } = {},
): Promise<string> {
  const compression = options.compression ?? "gzip";
  const descriptors = [];
  const diffIds = [];
  for (const tar of layers) {
    const blob = compression === "gzip"
      ? gzipSync(tar)
      : compression === "zstd"
      ? zstdCompressSync(tar)
      : tar;
    const { digest, size } = await images.content.put(new Uint8Array(blob));
    const mediaType = compression === "gzip"
      ? MediaType.OCI_LAYER_GZIP
      : compression === "zstd"
      ? MediaType.OCI_LAYER_ZSTD
      : MediaType.OCI_LAYER;
    descriptors.push({ mediaType, digest, size });
    diffIds.push(digestOf(tar));
  }
  const config: ImageConfig = {
    architecture: hostPlatform().architecture,
    os: "linux",
    created: "2024-01-01T00:00:00Z",
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: layers.map(() => ({ created: "2024-01-01T00:00:00Z", created_by: "test layer" })),
    ...options.config,
  };
  const configBytes = enc.encode(JSON.stringify(config));
  const c = await images.content.put(configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: c.digest, size: c.size },
    layers: descriptors,
  };
  const m = await images.content.put(enc.encode(JSON.stringify(manifest)));
  await images.addImage(m.digest);
  images.tag(name, m.digest);
  return m.digest;
}

/**
 * Case 06 (whiteout-opaque-order), layer 1: `etc/keep`, `etc/gone`, `a/b/c/old`,
 * `d/sub/deep/file`, `x/`.
 *
 * @example
 * ```ts
 * await storeImage(images, [case06Layer1(), case06Layer2()], "c06:1");
 * ```
 */
export function case06Layer1(): Uint8Array {
  return layer(
    dir("etc/"),
    file("etc/keep", "k"),
    file("etc/gone", "g"),
    dir("a/"),
    dir("a/b/"),
    dir("a/b/c/"),
    file("a/b/c/old", "old\n"),
    dir("d/"),
    dir("d/sub/"),
    dir("d/sub/deep/"),
    file("d/sub/deep/file", ""),
    dir("x/"),
  );
}

/**
 * Case 06, layer 2: whiteouts of `etc/gone` and `d/sub`, `a/b/c/new` before the opaque
 * marker of `a/`, and `x/.wh.new.txt` followed by `x/new.txt` in the same layer.
 *
 * @example
 * ```ts
 * await storeImage(images, [case06Layer1(), case06Layer2()], "c06:1");
 * ```
 */
export function case06Layer2(): Uint8Array {
  return layer(
    file("etc/.wh.gone"),
    file("d/.wh.sub"),
    dir("a/"),
    dir("a/b/"),
    dir("a/b/c/"),
    file("a/b/c/new", "new\n"),
    file("a/.wh..wh..opq"),
    file("x/.wh.new.txt"),
    file("x/new.txt", "n\n"),
  );
}

/**
 * Case 10 (fifo-device-nodes): a FIFO (mode 0620), a character device 1:3, then
 * `srv/after.txt` with "after".
 *
 * @example
 * ```ts
 * await storeImage(images, [case10Layer()], "special:1");
 * ```
 */
export function case10Layer(): Uint8Array {
  return layer(
    dir("srv/"),
    dir("srv/run/"),
    dir("srv/devs/"),
    special("srv/run/ctl.fifo", "fifo", { mode: 0o620 }),
    special("srv/devs/nullish", "char", { devmajor: 1, devminor: 3, mode: 0o666 }),
    file("srv/after.txt", "after"),
  );
}
