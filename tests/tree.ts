/**
 * Describes a directory tree for comparisons in tests: one line per path with its type,
 * mode, owner, size (regular files), link target or device numbers, mtime (ns) and xattrs,
 * plus which paths share an inode. Never follows symlinks.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { AT, S } from "../ffi/constants.ts";

/** Options for {@linkcode describeTree}. */
export interface DescribeOptions {
  /** Include mtimes (default true). */
  mtimes?: boolean;
  /** Include xattrs (default true). */
  xattrs?: boolean;
  /** Leave out the root directory's own line (default false). */
  skipRoot?: boolean;
}

const TYPES: Record<number, string> = {
  [S.IFDIR]: "dir",
  [S.IFREG]: "file",
  [S.IFLNK]: "symlink",
  [S.IFCHR]: "char",
  [S.IFBLK]: "block",
  [S.IFIFO]: "fifo",
  [S.IFSOCK]: "socket",
};

/**
 * Path → description of everything under `root` (the root itself is ".").
 *
 * @example
 * ```ts
 * assertEquals(describeTree(a), describeTree(b));
 * ```
 */
export function describeTree(root: string, options: DescribeOptions = {}): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<string, string[]>();
  const visit = (rel: string) => {
    const full = rel === "." ? root : `${root}/${rel}`;
    const st = libc.statx(AT.FDCWD, full)!;
    const type = TYPES[st.mode & S.IFMT] ?? "?";
    const parts = [type, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`];
    if (type === "file") parts.push(`size=${st.size}`);
    if (type === "symlink") parts.push(`-> ${Deno.readLinkSync(full)}`);
    if (type === "char" || type === "block") parts.push(`dev=${st.rdevMajor},${st.rdevMinor}`);
    if (options.mtimes !== false) {
      parts.push(`mtime=${st.mtime.sec}.${String(st.mtime.nsec).padStart(9, "0")}`);
    }
    if (options.xattrs !== false) {
      for (const name of libc.llistxattr(full).sort()) {
        const v = libc.lgetxattr(full, name);
        parts.push(`xattr:${name}=${v ? [...v].map((b) => b.toString(16).padStart(2, "0")).join("") : ""}`);
      }
    }
    if (type !== "dir" && st.nlink > 1) {
      const key = `${st.ino}`;
      inodes.set(key, [...(inodes.get(key) ?? []), rel]);
    }
    if (!(rel === "." && options.skipRoot)) out.set(rel, parts.join(" "));
    if (type === "dir") {
      for (const name of [...Deno.readDirSync(full)].map((e) => e.name).sort()) {
        visit(rel === "." ? name : `${rel}/${name}`);
      }
    }
  };
  visit(".");
  for (const names of inodes.values()) {
    if (names.length < 2) continue;
    for (const n of names) out.set(n, `${out.get(n)} links=${names.join(",")}`);
  }
  return out;
}

/**
 * The differences between two descriptions, as readable lines (empty when equal).
 *
 * @example
 * ```ts
 * assertEquals(diffTrees(describeTree(a), describeTree(b)), []);
 * ```
 */
export function diffTrees(a: Map<string, string>, b: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [k, v] of a) {
    if (!b.has(k)) lines.push(`only in first: ${k} ${v}`);
    else if (b.get(k) !== v) lines.push(`differs: ${k}\n    ${v}\n    ${b.get(k)}`);
  }
  for (const [k, v] of b) if (!a.has(k)) lines.push(`only in second: ${k} ${v}`);
  return lines;
}
