/**
 * Writes what a COPY/ADD creates straight into a new layer directory (the same form as a
 * container's overlay upper dir), without running a container:
 *
 * - files, directories and symlinks from a {@linkcode CopyItem} plan, with their modes,
 *   `--chmod` applied, owners from `--chown` (else 0:0 for the context, the source's own
 *   owner for `--from`), and source mtimes (the layer writer clamps them);
 * - heredoc sources as files (mode 0644 unless `--chmod`);
 * - missing parent directories of the destination: copied from the image below when they
 *   exist there (so a COPY never re-owns `/home/app`), else created 0755 with the
 *   `--chown` owner, like BuildKit's `mkdir -p` with a user;
 * - the destination directory of a directory copy keeps the image's metadata when it
 *   exists already (COPY . / must not chmod `/`).
 *
 * @module
 */
import { lchown } from "node:fs/promises";
import { applyChmod, type CopyItem } from "./copy_plan.ts";
import type { Owner } from "./user_spec.ts";

/** Metadata lookup in the image below the new layer (merged view, whiteouts honoured). */
export interface LowerView {
  /** The entry at an absolute image path, not following a final symlink; undefined if absent. */
  lstat(path: string): Promise<Deno.FileInfo | undefined>;
}

/** Where a copy item's bytes come from. */
export interface ItemSource {
  /** Host path of a source tree path. */
  hostPath(path: string): string;
}

/** Options for {@linkcode writeCopyItems}. */
export interface CopyWriteOptions {
  /** `--chown` resolved, if given. */
  owner?: Owner;
  /** `--chmod` value, if given. */
  chmod?: string;
  lower: LowerView;
  /** mtime (ms) for directories this step creates. */
  createdMtimeMs: number;
}

/** A view of nothing below (scratch). */
export const EMPTY_LOWER: LowerView = { lstat: () => Promise.resolve(undefined) };

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * A {@linkcode LowerView} over overlay lower directories (topmost first): the first layer
 * holding a path decides; a whiteout (char device 0/0) hides it and everything below.
 *
 * @example
 * ```ts
 * const view = overlayLowerView(["/snap/b", "/snap/a"]);
 * await view.lstat("/etc/passwd");
 * ```
 */
export function overlayLowerView(lowerDirs: string[]): LowerView {
  return {
    async lstat(path: string): Promise<Deno.FileInfo | undefined> {
      const segs = path.split("/").filter((s) => s !== "");
      for (const dir of lowerDirs) {
        // A whiteout of any parent in this layer hides the path.
        let hidden = false;
        for (let i = 1; i <= segs.length; i++) {
          const info = await lstatOrUndefined(`${dir}/${segs.slice(0, i).join("/")}`);
          if (!info) break;
          if (info.isCharDevice && info.rdev === 0) {
            hidden = true;
            break;
          }
          if (i === segs.length) return info;
          if (!info.isDirectory) break;
        }
        if (hidden) return undefined;
      }
      return segs.length === 0 && lowerDirs.length > 0 ? await lstatOrUndefined(lowerDirs[0]) : undefined;
    },
  };
}

class LayerDirWriter {
  readonly #dir: string;
  readonly #opt: CopyWriteOptions;
  readonly #made = new Set<string>();

  constructor(dir: string, opt: CopyWriteOptions) {
    this.#dir = dir;
    this.#opt = opt;
  }

  host(abs: string): string {
    return abs === "/" ? this.#dir : this.#dir + abs;
  }

  /** Makes sure every parent of `abs` exists in the layer dir. */
  async parents(abs: string): Promise<void> {
    const segs = abs.split("/").filter((s) => s !== "");
    let cur = "";
    for (const seg of segs.slice(0, -1)) {
      cur += "/" + seg;
      await this.dirLike(cur);
    }
  }

  /** Creates directory `abs` in the layer, with the image's metadata if it has it. */
  async dirLike(abs: string): Promise<void> {
    if (this.#made.has(abs)) return;
    const target = this.host(abs);
    const existing = await lstatOrUndefined(target);
    if (existing?.isDirectory) {
      this.#made.add(abs);
      return;
    }
    const below = await this.#opt.lower.lstat(abs);
    await Deno.mkdir(target);
    if (below?.isDirectory) {
      await Deno.chmod(target, (below.mode ?? 0o755) & 0o7777);
      await Deno.chown(target, below.uid ?? 0, below.gid ?? 0);
      await Deno.utime(target, below.mtime ?? new Date(0), below.mtime ?? new Date(0));
    } else {
      await Deno.chmod(target, 0o755);
      await Deno.chown(target, this.#opt.owner?.uid ?? 0, this.#opt.owner?.gid ?? 0);
      const t = new Date(this.#opt.createdMtimeMs);
      await Deno.utime(target, t, t);
    }
    this.#made.add(abs);
  }

  async removeExisting(abs: string): Promise<void> {
    const target = this.host(abs);
    const info = await lstatOrUndefined(target);
    if (info) await Deno.remove(target, { recursive: true });
  }

  async finish(abs: string, mode: number, uid: number, gid: number, mtimeMs: number, isDir: boolean) {
    const target = this.host(abs);
    const m = this.#opt.chmod ? applyChmod(this.#opt.chmod, mode, isDir) : mode;
    await Deno.chown(target, this.#opt.owner?.uid ?? uid, this.#opt.owner?.gid ?? gid);
    // chmod after chown: chown clears setuid/setgid bits.
    await Deno.chmod(target, m);
    const t = new Date(mtimeMs);
    await Deno.utime(target, t, t);
  }
}

/**
 * Writes planned copy items into `layerDir`.
 *
 * @example
 * ```ts
 * await writeCopyItems(layerDir, planCopy(ctx.tree, ["."], "/app/", { workdir: "/" }), ctx.tree, {
 *   lower: overlayLowerView(lowerDirs), createdMtimeMs: 0,
 * });
 * ```
 */
export async function writeCopyItems(
  layerDir: string,
  items: readonly CopyItem[],
  source: ItemSource,
  options: CopyWriteOptions,
): Promise<void> {
  const w = new LayerDirWriter(layerDir, options);
  for (const item of items) {
    const e = item.entry;
    const abs = item.to;
    await w.parents(abs);
    if (e.type === "dir") {
      const existing = await lstatOrUndefined(w.host(abs));
      const below = existing ? undefined : await options.lower.lstat(abs);
      if (existing && !existing.isDirectory) await w.removeExisting(abs);
      if (!existing?.isDirectory) await Deno.mkdir(w.host(abs));
      if (item.destRoot && below?.isDirectory) {
        // The destination of a directory copy exists in the image: keep its metadata.
        await w.dirLike(abs);
        const t = below.mtime ?? new Date(0);
        await Deno.chmod(w.host(abs), (below.mode ?? 0o755) & 0o7777);
        await Deno.chown(w.host(abs), below.uid ?? 0, below.gid ?? 0);
        await Deno.utime(w.host(abs), t, t);
        continue;
      }
      await w.finish(abs, e.mode, e.uid, e.gid, e.mtimeMs, true);
      continue;
    }
    await w.removeExisting(abs);
    const target = w.host(abs);
    if (e.type === "symlink") {
      await Deno.symlink(e.linkname ?? "", target);
      await lchown(target, options.owner?.uid ?? e.uid, options.owner?.gid ?? e.gid);
      continue;
    }
    if (e.type !== "file") continue; // devices, fifos and sockets are not copied
    await Deno.copyFile(source.hostPath(item.from), target);
    await w.finish(abs, e.mode, e.uid, e.gid, e.mtimeMs, false);
  }
}

/**
 * Writes heredoc sources (`COPY <<EOF /dest`) and downloaded ADD sources into `layerDir`:
 * each becomes `dest/<name>` when `dest` is a directory, else `dest` itself; mode 0644 (or
 * `fileMode`) before `--chmod`.
 *
 * @example
 * ```ts
 * await writeInlineFiles(layerDir, [{ path: "EOF", data: "hi\n", expand: true }], "/etc/motd", false, opts);
 * ```
 */
export async function writeInlineFiles(
  layerDir: string,
  contents: { path: string; data: string | Uint8Array; mtimeMs?: number }[],
  destAbs: string,
  intoDir: boolean,
  options: CopyWriteOptions & { fileMode?: number },
): Promise<void> {
  const w = new LayerDirWriter(layerDir, options);
  for (const c of contents) {
    const abs = intoDir ? `${destAbs === "/" ? "" : destAbs}/${c.path}` : destAbs;
    await w.parents(abs);
    await w.removeExisting(abs);
    if (typeof c.data === "string") await Deno.writeTextFile(w.host(abs), c.data);
    else await Deno.writeFile(w.host(abs), c.data);
    await w.finish(abs, options.fileMode ?? 0o644, 0, 0, c.mtimeMs ?? options.createdMtimeMs, false);
  }
}
