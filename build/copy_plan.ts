/**
 * What COPY and ADD copy where, with Docker's path rules, computed over a listing of the
 * source tree (the build context or another stage's filesystem):
 *
 * - sources are relative to the source root; `..` cannot leave it; a leading `/` is ignored;
 * - a source directory contributes its contents, not itself;
 * - wildcards (Go `filepath.Match` per segment: `*`, `?`, `[…]`, `\` escapes) may match
 *   several entries; a pattern matching nothing is an error, as is a missing path;
 * - the destination is relative to WORKDIR unless absolute; it is a directory when it ends
 *   in `/` (or is `.`), when it already exists as a directory, or when several files are
 *   copied; several sources require a destination ending in `/`;
 * - a symbolic link named as a source is followed (inside the source root); links inside
 *   copied directories are copied as links.
 *
 * Pure: the tree is given as a {@linkcode SourceTree}; no I/O.
 *
 * @module
 */
import { cleanPath } from "./dockerignore.ts";

/** The kind of a filesystem entry. */
export type EntryType = "file" | "dir" | "symlink" | "hardlink" | "fifo" | "char" | "block" | "socket";

/** One entry of a source tree. */
export interface TreeEntry {
  /** Path relative to the tree root, `/`-separated, no leading slash; "" is the root. */
  path: string;
  type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky (no file-type bits). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Modification time in milliseconds. */
  mtimeMs: number;
  /** Symlink target. */
  linkname?: string;
}

/** Read access to a source tree. */
export interface SourceTree {
  /** The entry at `path` (not following a final symlink), or undefined. */
  get(path: string): TreeEntry | undefined;
  /** Entries directly inside directory `path`, sorted by name. */
  children(path: string): TreeEntry[];
}

/** One entry to create in the image. */
export interface CopyItem {
  /** Source path in the tree. */
  from: string;
  /** Absolute destination path in the image. */
  to: string;
  entry: TreeEntry;
  /** Set on the destination directory of a directory source (it may exist in the image). */
  destRoot?: boolean;
}

/** Options for {@linkcode planCopy}. */
export interface CopyPlanOptions {
  /** The stage's working directory (absolute). */
  workdir: string;
  /** Instruction name for messages (`COPY` or `ADD`). */
  instruction?: "COPY" | "ADD";
  /** Whether `dest` already exists as a directory in the image being built. */
  destIsDir?: (absPath: string) => boolean;
}

/** A COPY/ADD source could not be resolved. */
export class CopySourceError extends Error {
  override name = "CopySourceError";
}

/** An in-memory {@linkcode SourceTree} over a list of entries (tests, tar listings). */
export class MemoryTree implements SourceTree {
  readonly #byPath = new Map<string, TreeEntry>();
  readonly #children = new Map<string, TreeEntry[]>();

  constructor(entries: Iterable<TreeEntry>) {
    this.#byPath.set("", { path: "", type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 0 });
    for (const e of entries) this.add(e);
  }

  /** Adds an entry, creating missing parent directories (0755, root). */
  add(e: TreeEntry): void {
    const path = cleanPath(e.path) === "." ? "" : cleanPath(e.path).replace(/^\/+/, "");
    const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    if (path !== "" && !this.#byPath.has(parent)) {
      this.add({ path: parent, type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 0 });
    }
    const entry = { ...e, path };
    const existed = this.#byPath.has(path);
    this.#byPath.set(path, entry);
    if (path === "") return;
    const list = this.#children.get(parent) ?? [];
    if (existed) {
      const i = list.findIndex((c) => c.path === path);
      if (i >= 0) list[i] = entry;
    } else {
      list.push(entry);
      list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    }
    this.#children.set(parent, list);
  }

  get(path: string): TreeEntry | undefined {
    return this.#byPath.get(path);
  }

  children(path: string): TreeEntry[] {
    return this.#children.get(path) ?? [];
  }
}

/** Whether a path segment has Go `filepath.Match` wildcards. */
export function hasWildcard(s: string): boolean {
  return /[*?[]/.test(s.replace(/\\./g, ""));
}

/** Compiles one Go `filepath.Match` segment pattern. */
function segmentRegExp(pattern: string): RegExp {
  let re = "^";
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < chars.length) re += "\\" + chars[++i];
    else if (c === "[") {
      const end = chars.indexOf("]", i + 2);
      if (end < 0) throw new CopySourceError(`syntax error in pattern: ${pattern}`);
      let cls = chars.slice(i + 1, end).join("");
      if (cls.startsWith("^")) cls = "^" + cls.slice(1).replace(/\\(?!\\)/g, "\\\\");
      re += "[" + cls + "]";
      i = end;
    } else re += c.replace(/[.+^${}()|\]\\/]/g, "\\$&");
  }
  return new RegExp(re + "$", "u");
}

/** Follows symlinks inside the tree; returns the final entry or undefined. */
function resolveInTree(tree: SourceTree, path: string, depth = 0): TreeEntry | undefined {
  if (depth > 40) throw new CopySourceError(`too many levels of symbolic links: ${path}`);
  // Resolve parents first, so `link/file` works when `link` is a link to a directory.
  const segs = path === "" ? [] : path.split("/");
  let cur = "";
  for (let i = 0; i < segs.length; i++) {
    const next = cur === "" ? segs[i] : `${cur}/${segs[i]}`;
    const e = tree.get(next);
    if (!e) return undefined;
    if (e.type === "symlink") {
      const target = e.linkname ?? "";
      const base = target.startsWith("/") ? target : `${cur}/${target}`;
      const resolved = cleanPath("/" + base).slice(1);
      const rest = segs.slice(i + 1).join("/");
      return resolveInTree(tree, rest ? (resolved ? `${resolved}/${rest}` : rest) : resolved, depth + 1);
    }
    cur = next;
  }
  return tree.get(cur);
}

/** Expands a source pattern to matching paths (sorted). */
function matchPattern(tree: SourceTree, pattern: string): string[] {
  const segs = pattern === "" ? [] : pattern.split("/");
  let current = [""];
  for (const seg of segs) {
    const next: string[] = [];
    for (const dir of current) {
      if (!hasWildcard(seg)) {
        const p = dir === "" ? seg.replace(/\\(.)/g, "$1") : `${dir}/${seg.replace(/\\(.)/g, "$1")}`;
        if (tree.get(p) || resolveInTree(tree, p)) next.push(p);
        continue;
      }
      const re = segmentRegExp(seg);
      const dirEntry = resolveInTree(tree, dir);
      if (!dirEntry || dirEntry.type !== "dir") continue;
      for (const child of tree.children(dirEntry.path)) {
        const name = child.path.slice(child.path.lastIndexOf("/") + 1);
        if (re.test(name)) next.push(dir === "" ? name : `${dir}/${name}`);
      }
    }
    current = next;
  }
  return current.sort();
}

function joinAbs(base: string, rel: string): string {
  return cleanPath(rel.startsWith("/") ? rel : `${base}/${rel}`);
}

/** Lists a directory's contents recursively (pre-order, sorted). */
function walk(tree: SourceTree, dir: TreeEntry, out: TreeEntry[]): void {
  for (const child of tree.children(dir.path)) {
    out.push(child);
    if (child.type === "dir") walk(tree, child, out);
  }
}

/**
 * Computes the entries a COPY/ADD creates. Throws {@linkcode CopySourceError} for missing
 * sources and for several sources with a destination not ending in `/`.
 *
 * @example
 * ```ts
 * const tree = new MemoryTree([{ path: "app/main.js", type: "file", mode: 0o644, uid: 0, gid: 0, size: 1, mtimeMs: 0 }]);
 * planCopy(tree, ["app"], "/srv/", { workdir: "/" }).map((i) => i.to); // ["/srv/main.js"]
 * ```
 */
export function planCopy(
  tree: SourceTree,
  sources: string[],
  dest: string,
  options: CopyPlanOptions,
): CopyItem[] {
  const instruction = options.instruction ?? "COPY";
  const destEndsWithSlash = dest.endsWith("/") || dest === "." || dest.endsWith("/.") || dest === "";
  if (sources.length > 1 && !destEndsWithSlash) {
    throw new CopySourceError(
      `When using ${instruction} with more than one source file, the destination must be a directory and end with a /`,
    );
  }
  const destAbs = joinAbs(options.workdir || "/", dest === "" ? "." : dest);
  const destExistsAsDir = options.destIsDir?.(destAbs) ?? false;
  const items: CopyItem[] = [];
  type Match = { path: string; entry: TreeEntry };
  const matches: Match[] = [];
  for (const src of sources) {
    const rel = cleanPath("/" + src).slice(1); // confine to the root
    const pattern = rel === "." ? "" : rel;
    const paths = matchPattern(tree, pattern);
    if (paths.length === 0) {
      if (!hasWildcard(pattern)) throw new CopySourceError(`${JSON.stringify("/" + pattern)}: not found`);
      throw new CopySourceError(`lstat ${JSON.stringify("/" + pattern)}: no such file or directory`);
    }
    for (const p of paths) {
      const entry = resolveInTree(tree, p);
      if (!entry) throw new CopySourceError(`${JSON.stringify("/" + p)}: not found`);
      matches.push({ path: p, entry });
    }
  }
  const intoDir = destEndsWithSlash || destExistsAsDir || matches.length > 1 ||
    (matches.length === 1 && matches[0].entry.type === "dir");
  for (const m of matches) {
    if (m.entry.type === "dir") {
      // A directory contributes its contents, not itself; the destination becomes it.
      items.push({ from: m.entry.path, to: destAbs, entry: m.entry, destRoot: true });
      const below: TreeEntry[] = [];
      walk(tree, m.entry, below);
      const prefix = m.entry.path === "" ? "" : m.entry.path + "/";
      for (const e of below) {
        items.push({ from: e.path, to: cleanPath(`${destAbs}/${e.path.slice(prefix.length)}`), entry: e });
      }
    } else {
      const name = m.path.slice(m.path.lastIndexOf("/") + 1);
      items.push({
        from: m.entry.path,
        to: intoDir ? cleanPath(`${destAbs}/${name}`) : destAbs,
        entry: m.entry,
      });
    }
  }
  return items;
}

/**
 * Parses a `--chmod` value: octal (`644`, `0755`) or symbolic (`u+x,g-w`, `a=r`) relative
 * to `current`. Symbolic `X` adds execute only for directories or already-executable files.
 *
 * @example
 * ```ts
 * applyChmod("755", 0o644, false); // 0o755
 * applyChmod("u+x,go-w", 0o666, false); // 0o744
 * ```
 */
export function applyChmod(spec: string, current: number, isDir: boolean): number {
  if (/^[0-7]{1,4}$/.test(spec)) return parseInt(spec, 8);
  let mode = current & 0o7777;
  for (const clause of spec.split(",")) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (!m) throw new TypeError(`invalid chmod parameter: ${JSON.stringify(spec)}`);
    const who = m[1] === "" || m[1].includes("a") ? "ugo" : m[1];
    let bits = 0;
    for (const p of m[3]) {
      for (const w of who) {
        const shift = w === "u" ? 6 : w === "g" ? 3 : 0;
        if (p === "r") bits |= 4 << shift;
        if (p === "w") bits |= 2 << shift;
        if (p === "x") bits |= 1 << shift;
        if (p === "X" && (isDir || (current & 0o111) !== 0)) bits |= 1 << shift;
        if (p === "s" && w === "u") bits |= 0o4000;
        if (p === "s" && w === "g") bits |= 0o2000;
        if (p === "t") bits |= 0o1000;
      }
    }
    let mask = 0;
    for (const w of who) mask |= w === "u" ? 0o4700 : w === "g" ? 0o2070 : 0o1007;
    if (m[2] === "+") mode |= bits;
    else if (m[2] === "-") mode &= ~bits;
    else mode = (mode & ~mask) | bits;
  }
  return mode;
}
