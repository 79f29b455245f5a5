/**
 * `.dockerignore` files: parsing and matching, with the semantics of Docker's pattern
 * matcher — Go `filepath.Match` syntax per path segment (`*`, `?`, `[a-z]`, `[^a]`, `\`
 * escapes), `**` for any number of directories, `!` for exceptions, later lines winning,
 * and a pattern that matches a directory excluding everything below it.
 *
 * Which file applies: `<Dockerfile>.dockerignore` beside the Dockerfile wins over the
 * context's `.dockerignore` (see {@linkcode ignoreFileCandidates}).
 *
 * Pure: no I/O.
 *
 * @module
 */

/** One compiled pattern. */
export interface IgnorePattern {
  /** The cleaned pattern text (without `!`). */
  pattern: string;
  /** `!pattern`: re-include what earlier patterns excluded. */
  exclusion: boolean;
  regexp: RegExp;
}

/** Cleans a slash path as Go's `path.Clean` does. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const joined = out.join("/");
  if (rooted) return "/" + joined;
  return joined === "" ? "." : joined;
}

function compile(pattern: string): RegExp {
  let re = "^";
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        i++;
        if (chars[i + 1] === "/") i++; // `**/` is treated as `**`
        // `**` at the end matches everything below; elsewhere any number of directories.
        re += i + 1 >= chars.length ? ".*" : "(.*/)?";
      } else {
        re += "[^/]*";
      }
    } else if (ch === "?") {
      re += "[^/]";
    } else if (ch === "\\") {
      if (i + 1 < chars.length) re += "\\" + chars[++i];
      else re += "\\\\";
    } else if (ch === "[") {
      // A character class; Go's `[^…]` negation carries over to RegExp unchanged.
      const end = chars.indexOf("]", i + 2);
      if (end < 0) {
        throw new SyntaxError(`Invalid .dockerignore pattern ${JSON.stringify(pattern)}: unclosed [`);
      }
      let cls = chars.slice(i + 1, end).join("");
      if (cls.startsWith("!")) cls = "^" + cls.slice(1);
      re += "[" + cls.replace(/\\(?!\\)/g, "\\\\").replace(/\//g, "") + "]";
      i = end;
    } else if (".+()|{}$^]".includes(ch)) {
      re += "\\" + ch;
    } else {
      re += ch;
    }
  }
  return new RegExp(re + "$", "u");
}

/**
 * Parses `.dockerignore` text into patterns: blank lines and `#` comments are skipped,
 * surrounding whitespace trimmed, paths cleaned and made relative to the context root.
 *
 * @example
 * ```ts
 * const p = parseDockerignore("node_modules\n*.log\n!keep.log\n");
 * isIgnored(p, "b.log"); // true
 * isIgnored(p, "keep.log"); // false
 * ```
 */
export function parseDockerignore(text: string): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    let exclusion = false;
    if (line.startsWith("!")) {
      exclusion = true;
      line = line.slice(1).trim();
      if (line === "") throw new SyntaxError('Invalid .dockerignore pattern: "!" on its own');
    }
    let pattern = cleanPath(line);
    if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    patterns.push({ pattern, exclusion, regexp: compile(pattern) });
  }
  return patterns;
}

/**
 * Whether `path` (relative to the context root, `/`-separated) is excluded. A pattern
 * that matches one of the path's parent directories matches the path too.
 *
 * @example
 * ```ts
 * isIgnored(parseDockerignore("build"), "build/out/a.o"); // true
 * ```
 */
export function isIgnored(patterns: readonly IgnorePattern[], path: string): boolean {
  const p = cleanPath(path).replace(/^\/+/, "");
  const parents = p.split("/").slice(0, -1);
  let matched = false;
  for (const pat of patterns) {
    // An exception cannot change anything while nothing is excluded.
    if (pat.exclusion && !matched) continue;
    let match = pat.regexp.test(p);
    for (let i = 1; !match && i <= parents.length; i++) {
      match = pat.regexp.test(parents.slice(0, i).join("/"));
    }
    if (match) matched = !pat.exclusion;
  }
  return matched;
}

/**
 * Whether any exception pattern could re-include something below the excluded directory
 * `dir` (then a walker must still descend into it).
 *
 * @example
 * ```ts
 * mayReinclude(parseDockerignore("docs\n!docs/README.md"), "docs"); // true
 * ```
 */
export function mayReinclude(patterns: readonly IgnorePattern[], dir: string): boolean {
  const d = cleanPath(dir);
  return patterns.some((p) =>
    p.exclusion && (p.pattern.startsWith(d + "/") || p.pattern.includes("*") || p.pattern.includes("?") ||
      p.pattern.includes("["))
  );
}

/**
 * The ignore files to try, in order, for a Dockerfile at `dockerfilePath` (relative to
 * the context): `<Dockerfile>.dockerignore` first, then the context's `.dockerignore`.
 *
 * @example
 * ```ts
 * ignoreFileCandidates("docker/app.Dockerfile"); // ["docker/app.Dockerfile.dockerignore", ".dockerignore"]
 * ```
 */
export function ignoreFileCandidates(dockerfilePath: string): string[] {
  return [`${cleanPath(dockerfilePath)}.dockerignore`, ".dockerignore"];
}
