/**
 * Resolving a container path inside a root filesystem on the host, the way the kernel would
 * resolve it if that root were `/`: `..` never climbs above the root and symlinks (absolute
 * or relative) are followed *within* the root. Mount targets, `cp` paths and WORKDIR creation
 * go through this, so an image whose `/etc/hosts` is a symlink to `/../../host/file` cannot
 * make ctr mount or write outside the container.
 *
 * @module
 */

/** What {@linkcode secureJoin} needs to know about the filesystem. */
export interface PathInspector {
  /** The target of `hostPath` when it is a symlink, else null (also when it does not exist). */
  readlink(hostPath: string): string | null;
}

/** The real filesystem, through Deno's synchronous calls (they run on the calling thread). */
export const hostInspector: PathInspector = {
  readlink(hostPath: string): string | null {
    try {
      if (!Deno.lstatSync(hostPath).isSymlink) return null;
      return Deno.readLinkSync(hostPath);
    } catch {
      return null;
    }
  },
};

const MAX_SYMLINKS = 40;

/**
 * The host path of `path` inside `root`, every symlink on the way resolved within `root`.
 * Components that do not exist are kept as they are (so the result can be created).
 *
 * @example
 * ```ts
 * // with /r/etc/hosts -> /../../outside
 * secureJoin("/r", "/etc/hosts"); // "/r/outside"
 * ```
 */
export function secureJoin(root: string, path: string, fs: PathInspector = hostInspector): string {
  const base = root.replace(/\/+$/, "");
  let pending = path.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = `${base}/${[...resolved, part].join("/")}`;
    const target = fs.readlink(candidate);
    if (target === null) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Error(`Too many levels of symbolic links: ${path}`);
    const parts = target.split("/").filter((p) => p !== "" && p !== ".");
    if (target.startsWith("/")) resolved.length = 0;
    pending = [...parts, ...pending];
  }
  return resolved.length ? `${base}/${resolved.join("/")}` : (base || "/");
}

/**
 * Normalises an absolute container path: collapses `//`, `.` and `..` (never above `/`).
 *
 * @example
 * ```ts
 * cleanPath("/a/./b/../c/"); // "/a/c"
 * ```
 */
export function cleanPath(path: string): string {
  const out: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return "/" + out.join("/");
}
