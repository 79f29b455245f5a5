import { assertEquals, assertThrows } from "../tests/assert.ts";
import { cleanPath, type PathInspector, secureJoin } from "./secure_join.ts";

function fakeFs(links: Record<string, string>): PathInspector {
  return { readlink: (p) => links[p] ?? null };
}

Deno.test("secureJoin: plain paths are joined under the root", () => {
  assertEquals(secureJoin("/r", "/etc/hosts", fakeFs({})), "/r/etc/hosts");
  assertEquals(secureJoin("/r/", "etc//./hosts", fakeFs({})), "/r/etc/hosts");
  assertEquals(secureJoin("/r", "/", fakeFs({})), "/r");
});

Deno.test("secureJoin: .. never climbs above the root", () => {
  assertEquals(secureJoin("/r", "/../../etc/passwd", fakeFs({})), "/r/etc/passwd");
  assertEquals(secureJoin("/r", "/a/b/../../../c", fakeFs({})), "/r/c");
});

Deno.test("secureJoin: absolute symlinks resolve inside the root", () => {
  const fs = fakeFs({ "/r/etc/hosts": "/../../outside/file" });
  assertEquals(secureJoin("/r", "/etc/hosts", fs), "/r/outside/file");
});

Deno.test("secureJoin: relative symlinks and symlinked directories on the way", () => {
  const fs = fakeFs({ "/r/var/run": "../run", "/r/run/x": "y" });
  assertEquals(secureJoin("/r", "/var/run/x/z", fs), "/r/run/y/z");
});

Deno.test("secureJoin: symlink loops are refused", () => {
  const fs = fakeFs({ "/r/a": "/b", "/r/b": "/a" });
  assertThrows(() => secureJoin("/r", "/a/x", fs), Error, "Too many levels");
});

Deno.test("cleanPath: collapses dots and slashes", () => {
  assertEquals(cleanPath("/a/./b/../c/"), "/a/c");
  assertEquals(cleanPath("/../x"), "/x");
  assertEquals(cleanPath("/"), "/");
});
