import { assertEquals } from "../tests/assert.ts";
import {
  cleanPath,
  ignoreFileCandidates,
  isIgnored,
  mayReinclude,
  parseDockerignore,
} from "./dockerignore.ts";

/** [patterns, path, ignored?] */
const table: [string, string, boolean][] = [
  ["foo", "foo", true],
  ["foo", "foo/bar", true],
  ["foo", "foobar", false],
  ["foo", "a/foo", false],
  ["/foo", "foo", true],
  ["./foo/", "foo/x", true],
  ["foo/../bar", "bar", true],
  ["*.md", "README.md", true],
  ["*.md", "docs/README.md", false],
  ["*/*.md", "docs/README.md", true],
  ["**/*.md", "docs/a/README.md", true],
  ["**/*.md", "README.md", true],
  ["**", "anything/at/all", true],
  ["docs/**", "docs/a/b", true],
  ["docs/**", "docs", false], // only what is below
  ["docs/**", "other", false],
  ["a/**/b", "a/b", true],
  ["a/**/b", "a/x/y/b", true],
  ["a/**/b", "a/x/y/c", false],
  ["?.txt", "a.txt", true],
  ["?.txt", "ab.txt", false],
  ["?.txt", "/.txt", false],
  ["[a-c].txt", "b.txt", true],
  ["[a-c].txt", "d.txt", false],
  ["[^a-c].txt", "d.txt", true],
  ["[^a-c].txt", "a.txt", false],
  ["\\*.txt", "*.txt", true],
  ["\\*.txt", "a.txt", false],
  ["a.b", "a.b", true],
  ["a.b", "axb", false],
  ["a+b(c)", "a+b(c)", true],
  ["*", "x", true],
  ["*", "x/y", true], // the parent `x` matches
  ["# comment\n\n  spaced  \n", "spaced", true],
  ["# comment", "# comment", false],
  ["*.log\n!keep.log", "keep.log", false],
  ["*.log\n!keep.log", "drop.log", true],
  ["!keep.log\n*.log", "keep.log", true], // later lines win
  ["docs\n!docs/README.md", "docs/README.md", false],
  ["docs\n!docs/README.md", "docs/other.md", true],
  ["docs\n!docs/README.md", "docs", true],
  ["**/node_modules\n!app/node_modules/keep", "app/node_modules/keep/x.js", false],
  ["**/node_modules\n!app/node_modules/keep", "app/node_modules/other/x.js", true],
  ["*\n!src\nsrc/*.tmp", "src/a.ts", false],
  ["*\n!src\nsrc/*.tmp", "src/a.tmp", true],
  ["*\n!src\nsrc/*.tmp", "Dockerfile", true],
  ["Dockerfile\n.dockerignore", ".dockerignore", true],
  ["", "x", false],
];

Deno.test("dockerignore: matching table", () => {
  for (const [patterns, path, want] of table) {
    assertEquals(
      isIgnored(parseDockerignore(patterns), path),
      want,
      `${JSON.stringify(patterns)} vs ${path}`,
    );
  }
});

Deno.test("dockerignore: CRLF and exceptions parse", () => {
  const p = parseDockerignore("a\r\n! b \r\n");
  assertEquals(p.map((x) => [x.pattern, x.exclusion]), [["a", false], ["b", true]]);
});

Deno.test("dockerignore: mayReinclude", () => {
  assertEquals(mayReinclude(parseDockerignore("docs\n!docs/README.md"), "docs"), true);
  assertEquals(mayReinclude(parseDockerignore("docs\n!src"), "docs"), false);
  assertEquals(mayReinclude(parseDockerignore("docs\n!**/*.md"), "docs"), true);
});

Deno.test("dockerignore: cleanPath and candidates", () => {
  assertEquals(cleanPath("a/./b/../c/"), "a/c");
  assertEquals(cleanPath("/../a"), "/a");
  assertEquals(cleanPath("../a"), "../a");
  assertEquals(cleanPath(""), ".");
  assertEquals(ignoreFileCandidates("./Dockerfile"), ["Dockerfile.dockerignore", ".dockerignore"]);
});
