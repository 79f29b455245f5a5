/**
 * INTERIM image → read-only layer directories, until the shared snapshot store
 * (`image/snapshots.ts`, owned by the unpack engineer) lands; then `snapshotLowerDirs` calls
 * it instead. Each layer is unpacked once per state root, keyed by its chain ID, with the
 * system `tar` (compression auto-detected), and OCI whiteouts turned into overlayfs ones.
 *
 * ```text
 * <root>/layers-interim/<chain id hex>/   one unpacked layer (never modified after the rename)
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { libc } from "../ffi/libc.ts";
import { S } from "../ffi/constants.ts";
import type { ContentStore } from "../image/content_store.ts";
import type { ImageConfig, Manifest } from "../image/oci.ts";

/** Chain IDs of an image's layers, bottom first (OCI image-spec "ChainID"). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out.at(-1);
    out.push(prev ? "sha256:" + createHash("sha256").update(`${prev} ${d}`).digest("hex") : d);
  }
  return out;
}

async function convertWhiteouts(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.name === ".wh..wh..opq") {
      await Deno.remove(p);
      libc.lsetxattr(dir, "trusted.overlay.opaque", new TextEncoder().encode("y"));
    } else if (e.name.startsWith(".wh.")) {
      await Deno.remove(p);
      libc.mknod(`${dir}/${e.name.slice(4)}`, S.IFCHR | 0o000, 0, 0);
    } else if (e.isDirectory) {
      await convertWhiteouts(p);
    }
  }
}

/**
 * The unpacked layer directories of an image, topmost first (for overlay's lowerdir).
 *
 * @example
 * ```ts
 * const lowerDirs = await snapshotLowerDirs(root, images.content, loaded.manifest, loaded.config);
 * ```
 */
export async function snapshotLowerDirs(
  root: string,
  content: ContentStore,
  manifest: Manifest,
  config: ImageConfig,
): Promise<string[]> {
  const base = `${root}/layers-interim`;
  await Deno.mkdir(base, { recursive: true });
  const chains = chainIds(config.rootfs.diff_ids);
  const dirs: string[] = [];
  for (let i = 0; i < manifest.layers.length; i++) {
    const dir = `${base}/${chains[i].replace(/^sha256:/, "")}`;
    dirs.push(dir);
    try {
      await Deno.stat(dir);
      continue;
    } catch { /* unpack it */ }
    const tmp = await Deno.makeTempDir({ dir: base, prefix: ".tmp-" });
    try {
      const out = await new Deno.Command("tar", {
        args: [
          "-xf",
          content.path(manifest.layers[i].digest),
          "-C",
          tmp,
          "--numeric-owner",
          "--same-permissions",
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(
          `Cannot unpack layer ${manifest.layers[i].digest}: ${new TextDecoder().decode(out.stderr)}`,
        );
      }
      await convertWhiteouts(tmp);
      await Deno.chmod(tmp, 0o755);
      try {
        await Deno.rename(tmp, dir);
      } catch {
        await Deno.remove(tmp, { recursive: true }); // another process won the race
      }
    } catch (e) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw e;
    }
  }
  return dirs.reverse();
}
