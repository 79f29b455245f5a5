import { assertEquals, assertThrows } from "../tests/assert.ts";
import {
  applyChmod,
  CopySourceError,
  hasWildcard,
  MemoryTree,
  planCopy,
  type TreeEntry,
} from "./copy_plan.ts";

function f(path: string, extra: Partial<TreeEntry> = {}): TreeEntry {
  return { path, type: "file", mode: 0o644, uid: 0, gid: 0, size: 1, mtimeMs: 0, ...extra };
}
function d(path: string): TreeEntry {
  return { path, type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 0 };
}

const tree = new MemoryTree([
  f("a.txt"),
  f("b.txt"),
  f("c.md"),
  d("dir"),
  f("dir/x"),
  d("dir/sub"),
  f("dir/sub/y"),
  d("dir2"),
  f("dir2/z"),
  f("we[ird].txt"),
  { path: "link", type: "symlink", mode: 0o777, uid: 0, gid: 0, size: 0, mtimeMs: 0, linkname: "dir" },
  { path: "flink", type: "symlink", mode: 0o777, uid: 0, gid: 0, size: 0, mtimeMs: 0, linkname: "./a.txt" },
]);

function plan(sources: string[], dest: string, workdir = "/", destIsDir?: (p: string) => boolean): string[] {
  return planCopy(tree, sources, dest, { workdir, destIsDir }).map((i) => `${i.from}>${i.to}`);
}

/** [sources, dest, workdir, expected from>to] */
const table: [string[], string, string, string[]][] = [
  [["a.txt"], "/x", "/", ["a.txt>/x"]],
  [["a.txt"], "/x/", "/", ["a.txt>/x/a.txt"]],
  [["a.txt"], ".", "/app", ["a.txt>/app/a.txt"]],
  [["a.txt"], "rel", "/app", ["a.txt>/app/rel"]],
  [["a.txt"], "rel/", "/app", ["a.txt>/app/rel/a.txt"]],
  [["/a.txt"], "/x", "/", ["a.txt>/x"]],
  [["../../a.txt"], "/x", "/", ["a.txt>/x"]],
  [["./dir/../a.txt"], "/x", "/", ["a.txt>/x"]],
  [["dir"], "/d", "/", ["dir>/d", "dir/sub>/d/sub", "dir/sub/y>/d/sub/y", "dir/x>/d/x"]],
  [["dir/"], "/d/", "/", ["dir>/d", "dir/sub>/d/sub", "dir/sub/y>/d/sub/y", "dir/x>/d/x"]],
  [["a.txt", "b.txt"], "/t/", "/", ["a.txt>/t/a.txt", "b.txt>/t/b.txt"]],
  [["*.txt"], "/t/", "/", ["a.txt>/t/a.txt", "b.txt>/t/b.txt", "we[ird].txt>/t/we[ird].txt"]],
  [["*.txt"], "/t", "/", ["a.txt>/t/a.txt", "b.txt>/t/b.txt", "we[ird].txt>/t/we[ird].txt"]],
  [["?.md"], "/t", "/", ["c.md>/t"]],
  [["[ab].txt"], "/t/", "/", ["a.txt>/t/a.txt", "b.txt>/t/b.txt"]],
  [["we\\[ird\\].txt"], "/t", "/", ["we[ird].txt>/t"]],
  [["dir*"], "/all/", "/", [
    "dir>/all",
    "dir/sub>/all/sub",
    "dir/sub/y>/all/sub/y",
    "dir/x>/all/x",
    "dir2>/all",
    "dir2/z>/all/z",
  ]],
  [["dir/*/y"], "/y", "/", ["dir/sub/y>/y"]],
  [["link"], "/l", "/", ["dir>/l", "dir/sub>/l/sub", "dir/sub/y>/l/sub/y", "dir/x>/l/x"]],
  [["link/x"], "/lx", "/", ["dir/x>/lx"]],
  [["flink"], "/t/", "/", ["a.txt>/t/flink"]],
  [["."], "/c/", "/", ["" + ">/c", "a.txt>/c/a.txt"]],
];

Deno.test("planCopy: table", () => {
  for (const [sources, dest, workdir, want] of table) {
    let got = plan(sources, dest, workdir);
    if (sources[0] === ".") got = got.slice(0, 2);
    assertEquals(got, want, `${sources.join(" ")} -> ${dest} (workdir ${workdir})`);
  }
});

Deno.test("planCopy: an existing destination directory receives the file", () => {
  assertEquals(plan(["a.txt"], "/etc", "/", (p) => p === "/etc"), ["a.txt>/etc/a.txt"]);
});

Deno.test("planCopy: errors", () => {
  assertThrows(
    () => plan(["a.txt", "b.txt"], "/t", "/"),
    CopySourceError,
    "must be a directory and end with a /",
  );
  assertThrows(() => plan(["nope"], "/t", "/"), CopySourceError, '"/nope": not found');
  assertThrows(() => plan(["*.none"], "/t", "/"), CopySourceError, "no such file or directory");
  assertThrows(() => plan(["dir/nope/x"], "/t", "/"), CopySourceError, "not found");
});

Deno.test("hasWildcard", () => {
  assertEquals(hasWildcard("a*"), true);
  assertEquals(hasWildcard("a?"), true);
  assertEquals(hasWildcard("[ab]"), true);
  assertEquals(hasWildcard("a\\*"), false);
  assertEquals(hasWildcard("plain/path"), false);
});

Deno.test("applyChmod: octal and symbolic", () => {
  const table: [string, number, boolean, number][] = [
    ["755", 0o644, false, 0o755],
    ["0640", 0o777, false, 0o640],
    ["4755", 0o644, false, 0o4755],
    ["u+x", 0o644, false, 0o744],
    ["go-w", 0o666, false, 0o644],
    ["a=r", 0o777, false, 0o444],
    ["=rw", 0o777, false, 0o666],
    ["u=rwx,g=rx,o=", 0o000, false, 0o750],
    ["a+X", 0o644, true, 0o755],
    ["a+X", 0o644, false, 0o644],
    ["a+X", 0o744, false, 0o755],
    ["u+s", 0o755, false, 0o4755],
    ["+t", 0o777, true, 0o1777],
  ];
  for (const [spec, cur, dir, want] of table) assertEquals(applyChmod(spec, cur, dir), want, spec);
  assertThrows(() => applyChmod("u+q", 0, false), TypeError);
  assertThrows(() => applyChmod("999", 0, false), TypeError);
});
