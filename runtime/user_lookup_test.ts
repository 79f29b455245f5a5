import { assertEquals, assertThrows } from "../tests/assert.ts";
import { CommandLookupError, findExecutable, type PathKind, resolveUser } from "./user_lookup.ts";

const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n# c\nbroken\n";
const GROUP = "root:x:0:\napp:x:1000:\nwheel:x:10:app,root\nstaff:x:50:\n";

Deno.test("resolveUser: Docker's rules for names, numbers and groups", () => {
  const cases: [string, string[], object][] = [
    ["", [], { uid: 0, gid: 0, additionalGids: [0, 10], home: "/root" }],
    ["app", [], { uid: 1000, gid: 1000, additionalGids: [1000, 10], home: "/home/app" }],
    ["1000", [], { uid: 1000, gid: 1000, additionalGids: [1000, 10], home: "/home/app" }],
    ["4242", [], { uid: 4242, gid: 0, additionalGids: [0], home: "/" }],
    ["app:staff", [], { uid: 1000, gid: 50, additionalGids: [50], home: "/home/app" }],
    ["app:77", ["staff", "9"], { uid: 1000, gid: 77, additionalGids: [77, 50, 9], home: "/home/app" }],
  ];
  for (const [user, add, want] of cases) assertEquals(resolveUser(user, PASSWD, GROUP, add), want, user);
});

Deno.test("resolveUser: unknown names are errors, as Docker words them", () => {
  assertThrows(() => resolveUser("ghost", PASSWD, GROUP, []), Error, "Unable to find user ghost");
  assertThrows(() => resolveUser("app:ghosts", PASSWD, GROUP, []), Error, "Unable to find group ghosts");
  assertThrows(() => resolveUser("app", PASSWD, GROUP, ["nope"]), Error, "Unable to find group nope");
  // No passwd at all: root still works, a number too.
  assertEquals(resolveUser("", null, null, []).uid, 0);
  assertEquals(resolveUser("7", null, null, []).uid, 7);
});

Deno.test("findExecutable: PATH search, paths, and the 126/127 distinction", () => {
  const fs: Record<string, PathKind> = {
    "/bin/sh": "executable",
    "/usr/bin/data": "not-executable",
    "/etc": "directory",
  };
  const kind = (p: string) => fs[p] ?? "missing";
  assertEquals(findExecutable("sh", "/usr/bin:/bin", kind), "/bin/sh");
  assertEquals(findExecutable("/bin/sh", undefined, kind), "/bin/sh");
  assertEquals(findExecutable("./sh", undefined, kind, "/bin"), "./sh");
  const cases: [string, number, string][] = [
    ["nope", 127, 'exec: "nope": executable file not found in $PATH'],
    ["/nope", 127, 'exec: "/nope": stat /nope: no such file or directory'],
    ["data", 126, 'exec: "data": permission denied'],
    ["/etc", 126, 'exec: "/etc": is a directory'],
  ];
  for (const [cmd, code, message] of cases) {
    const e = assertThrows(() => findExecutable(cmd, "/usr/bin:/bin", kind), CommandLookupError);
    assertEquals([e.code, e.message], [code, message]);
  }
});
