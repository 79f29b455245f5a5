/**
 * The merged filesystem of a stage or image — its snapshot directories, topmost first — as
 * a {@linkcode SourceTree} for `COPY --from`, read straight from the layers with overlayfs's
 * rules instead of mounting an overlay on the host: the topmost layer holding a path wins;
 * a whiteout (character device 0/0) hides the path in the layers below; an opaque directory
 * (`trusted.overlay.opaque=y`) hides what lower layers have inside it; a non-directory
 * hides everything below its path.
 *
 * Lazy: only the paths a COPY looks at are read (a `COPY --from=build /out/app /` touches
 * `/out` and below, not the whole Debian of the build stage). Owners, modes and mtimes
 * are the layers' own.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { libc } from "../ffi/libc.ts";
import type { EntryType, SourceTree, TreeEntry } from "./copy_plan.ts";

function lstat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return undefined;
    throw e;
  }
}

function isWhiteout(info: Deno.FileInfo): boolean {
  return info.isCharDevice === true && info.rdev === 0;
}

function isOpaque(path: string): boolean {
  for (const name of ["trusted.overlay.opaque", "user.overlay.opaque"]) {
    try {
      const v = libc.lgetxattr(path, name);
      if (v && v[0] === 0x79) return true;
    } catch { /* no xattrs here: not opaque */ }
  }
  return false;
}

function entryType(info: Deno.FileInfo): EntryType {
  if (info.isSymlink) return "symlink";
  if (info.isDirectory) return "dir";
  if (info.isFile) return "file";
  if (info.isFifo) return "fifo";
  if (info.isCharDevice) return "char";
  if (info.isBlockDevice) return "block";
  return "socket";
}

/** Where a directory path shows in one layer. */
type DirInLayer = { host: string; opaque: boolean } | "absent" | "hidden";

/** A read-only merged view of snapshot directories. See the module documentation. */
export class LayeredTree implements SourceTree {
  readonly #layers: string[];
  readonly #entries = new Map<string, { entry: TreeEntry; host: string } | null>();
  readonly #children = new Map<string, TreeEntry[]>();
  readonly #digests = new Map<string, string>();

  /** `lowerDirs`: snapshot directories, topmost first. */
  constructor(lowerDirs: string[]) {
    this.#layers = lowerDirs;
  }

  /** How the directory `segs` appears in `layer`: present, absent, or hidden (stop looking lower). */
  #dirIn(layer: string, segs: string[]): DirInLayer {
    let host = layer;
    for (const s of segs) {
      host += "/" + s;
      const info = lstat(host);
      if (!info) return "absent";
      if (isWhiteout(info) || !info.isDirectory) return "hidden";
    }
    return { host, opaque: segs.length > 0 && isOpaque(host) };
  }

  /** The visible entry at `path` and its host path. */
  #resolve(path: string): { entry: TreeEntry; host: string } | null {
    const cached = this.#entries.get(path);
    if (cached !== undefined) return cached;
    let found: { entry: TreeEntry; host: string } | null = null;
    const segs = path === "" ? [] : path.split("/");
    for (const layer of this.#layers) {
      if (segs.length === 0) {
        const info = lstat(layer);
        if (info) found = { entry: this.#entry("", info, layer), host: layer };
        break;
      }
      // Every ancestor must be a visible directory in this layer for the path to be here;
      // an opaque or hiding ancestor ends the search after this layer.
      let stop = false;
      let absent = false;
      for (let i = 0; i < segs.length - 1 && !absent; i++) {
        const d = this.#dirIn(layer, segs.slice(0, i + 1));
        if (d === "hidden") return this.#remember(path, null);
        if (d === "absent") absent = true;
        else if (d.opaque) stop = true;
      }
      if (!absent) {
        const host = `${layer}/${path}`;
        const info = lstat(host);
        if (info) {
          if (isWhiteout(info)) break;
          found = { entry: this.#entry(path, info, host), host };
          break;
        }
      }
      if (stop) break;
    }
    return this.#remember(path, found);
  }

  #remember(path: string, v: { entry: TreeEntry; host: string } | null) {
    this.#entries.set(path, v);
    return v;
  }

  #entry(path: string, info: Deno.FileInfo, host: string): TreeEntry {
    const e: TreeEntry = {
      path,
      type: entryType(info),
      mode: (info.mode ?? 0) & 0o7777,
      uid: info.uid ?? 0,
      gid: info.gid ?? 0,
      size: info.size,
      mtimeMs: info.mtime?.getTime() ?? 0,
    };
    if (e.type === "symlink") e.linkname = Deno.readLinkSync(host);
    return e;
  }

  get(path: string): TreeEntry | undefined {
    return this.#resolve(path)?.entry;
  }

  children(path: string): TreeEntry[] {
    const cached = this.#children.get(path);
    if (cached) return cached;
    const self = this.#resolve(path);
    if (!self || self.entry.type !== "dir") return [];
    const segs = path === "" ? [] : path.split("/");
    const seen = new Set<string>();
    const names: string[] = [];
    for (const layer of this.#layers) {
      const d = this.#dirIn(layer, segs);
      if (d === "hidden") break;
      if (d === "absent") continue;
      for (const e of Deno.readDirSync(d.host)) {
        if (seen.has(e.name)) continue;
        seen.add(e.name);
        const info = lstat(`${d.host}/${e.name}`);
        if (info && !isWhiteout(info)) names.push(e.name);
      }
      if (d.opaque) break;
    }
    const out: TreeEntry[] = [];
    for (const name of names.sort()) {
      const child = this.get(path === "" ? name : `${path}/${name}`);
      if (child) out.push(child);
    }
    this.#children.set(path, out);
    return out;
  }

  /** Host path of the file a tree path shows. */
  hostPath(path: string): string {
    const r = this.#resolve(path);
    if (!r) throw new Deno.errors.NotFound(`No such file in the stage: /${path}`);
    return r.host;
  }

  /** sha256 of a regular file's bytes (cached). */
  async digest(path: string): Promise<string> {
    const known = this.#digests.get(path);
    if (known) return known;
    const h = createHash("sha256");
    using f = await Deno.open(this.hostPath(path));
    for await (const chunk of f.readable) h.update(chunk);
    const d = "sha256:" + h.digest("hex");
    this.#digests.set(path, d);
    return d;
  }
}
