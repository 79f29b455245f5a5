/**
 * The build context: a directory (or a tar unpacked into one) filtered by `.dockerignore`,
 * seen as a {@linkcode SourceTree} for COPY/ADD, plus the Dockerfile to build.
 *
 * As Docker's client does, context files are presented with owner 0:0 (their modes and
 * mtimes are kept); the ignore file that applies is `<Dockerfile>.dockerignore` when it
 * exists, else `.dockerignore` at the context root. Files are hashed lazily, once per
 * build, for cache keys.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { MemoryTree, type SourceTree, type TreeEntry } from "./copy_plan.ts";
import { cleanPath, type IgnorePattern, isIgnored, mayReinclude, parseDockerignore } from "./dockerignore.ts";

/** A loaded context. */
export interface BuildContext {
  /** Absolute directory holding the context files. */
  dir: string;
  /** The context's files after `.dockerignore` filtering. */
  tree: HostTree;
  /** The ignore patterns in force. */
  ignore: IgnorePattern[];
}

/** A {@linkcode SourceTree} backed by files on the host. */
export class HostTree implements SourceTree {
  readonly root: string;
  readonly #tree: MemoryTree;
  readonly #digests = new Map<string, string>();

  constructor(root: string, entries: TreeEntry[]) {
    this.root = root;
    this.#tree = new MemoryTree(entries);
  }

  get(path: string): TreeEntry | undefined {
    return this.#tree.get(path);
  }

  children(path: string): TreeEntry[] {
    return this.#tree.children(path);
  }

  /** Host path of a tree path. */
  hostPath(path: string): string {
    return path === "" ? this.root : `${this.root}/${path}`;
  }

  /** sha256 of a regular file's bytes (cached for the tree's lifetime). */
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

function entryType(info: Deno.FileInfo): TreeEntry["type"] {
  if (info.isSymlink) return "symlink";
  if (info.isDirectory) return "dir";
  if (info.isFile) return "file";
  if (info.isFifo) return "fifo";
  if (info.isCharDevice) return "char";
  if (info.isBlockDevice) return "block";
  return "socket";
}

/**
 * Lists a directory tree as entries, leaving out what `ignore` excludes. Owners are
 * reported as `owner` when given (the build context uses 0:0), else as on disk.
 *
 * @example
 * ```ts
 * const tree = await scanTree("/src/app", parseDockerignore("node_modules"));
 * ```
 */
export async function scanTree(
  root: string,
  ignore: IgnorePattern[] = [],
  owner?: { uid: number; gid: number },
): Promise<HostTree> {
  const entries: TreeEntry[] = [];
  const rootInfo = await Deno.stat(root);
  if (!rootInfo.isDirectory) throw new TypeError(`Not a directory: ${root}`);
  entries.push({
    path: "",
    type: "dir",
    mode: (rootInfo.mode ?? 0o755) & 0o7777,
    uid: owner?.uid ?? rootInfo.uid ?? 0,
    gid: owner?.gid ?? rootInfo.gid ?? 0,
    size: 0,
    mtimeMs: rootInfo.mtime?.getTime() ?? 0,
  });
  const walk = async (rel: string): Promise<boolean> => {
    // Returns whether anything below `rel` was kept (an ignored directory stays only then).
    let kept = false;
    const names: string[] = [];
    for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) names.push(e.name);
    names.sort();
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const info = await Deno.lstat(`${root}/${path}`);
      const ignored = ignore.length > 0 && isIgnored(ignore, path);
      const type = entryType(info);
      if (ignored && !(type === "dir" && mayReinclude(ignore, path))) continue;
      const entry: TreeEntry = {
        path,
        type,
        mode: (info.mode ?? 0) & 0o7777,
        uid: owner?.uid ?? info.uid ?? 0,
        gid: owner?.gid ?? info.gid ?? 0,
        size: info.size,
        mtimeMs: info.mtime?.getTime() ?? 0,
      };
      if (type === "symlink") entry.linkname = await Deno.readLink(`${root}/${path}`);
      const at = entries.length;
      entries.push(entry);
      if (type === "dir") {
        const below = await walk(path);
        if (ignored && !below) entries.splice(at, 1);
        else kept = true;
      } else {
        kept = true;
      }
    }
    return kept;
  };
  await walk("");
  return new HostTree(root, entries);
}

/**
 * Loads the context at `dir` with the ignore file that applies to `dockerfile`: a path
 * relative to the context, or an absolute host path (a Dockerfile outside the context);
 * `<Dockerfile>.dockerignore` beside it wins over the context's `.dockerignore`.
 *
 * @example
 * ```ts
 * const ctx = await loadContext("/src/app", "Dockerfile");
 * ctx.tree.get("package.json");
 * ```
 */
export async function loadContext(dir: string, dockerfile?: string): Promise<BuildContext> {
  const abs = await Deno.realPath(dir);
  let ignoreText = "";
  const candidates = [`${abs}/.dockerignore`];
  if (dockerfile) {
    candidates.unshift(
      dockerfile.startsWith("/")
        ? `${dockerfile}.dockerignore`
        : `${abs}/${cleanPath(dockerfile)}.dockerignore`,
    );
  }
  for (const c of candidates) {
    try {
      ignoreText = await Deno.readTextFile(c);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const ignore = parseDockerignore(ignoreText);
  return { dir: abs, tree: await scanTree(abs, ignore, { uid: 0, gid: 0 }), ignore };
}

/**
 * Finds the Dockerfile: `-f` as given (absolute, or relative to the current directory as
 * Docker's CLI reads it), else `Dockerfile` (or `dockerfile`) in the context.
 *
 * @example
 * ```ts
 * const { path, text } = await findDockerfile("/src/app");
 * ```
 */
export async function findDockerfile(
  contextDir: string,
  file?: string,
): Promise<{ path: string; text: string; name: string }> {
  const candidates = file ? [file] : [`${contextDir}/Dockerfile`, `${contextDir}/dockerfile`];
  for (const c of candidates) {
    try {
      const text = await Deno.readTextFile(c);
      return { path: c, text, name: file ?? c.slice(c.lastIndexOf("/") + 1) };
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  throw new Deno.errors.NotFound(
    `Cannot locate specified Dockerfile: ${file ?? "Dockerfile"}`,
  );
}
