import { assertEquals, assertThrows } from "../tests/assert.ts";
import { parseRunMount } from "./run_mount.ts";
import { needsAccountFiles, resolveOwner } from "./user_spec.ts";

Deno.test("parseRunMount: types, defaults and keys", () => {
  assertEquals(parseRunMount("target=/src"), { type: "bind", target: "/src", readonly: true });
  assertEquals(parseRunMount("type=bind,src=a,dst=/b,rw"), {
    type: "bind",
    source: "a",
    target: "/b",
    readonly: false,
  });
  assertEquals(parseRunMount("type=cache,target=/c,sharing=locked,mode=0700,uid=1,gid=2"), {
    type: "cache",
    target: "/c",
    sharing: "locked",
    mode: 0o700,
    uid: 1,
    gid: 2,
    readonly: false,
    id: "/c",
  });
  assertEquals(parseRunMount("type=cache,id=x,target=/c,ro").readonly, true);
  assertEquals(parseRunMount("type=tmpfs,target=/t,size=64m").size, 64 * 1024 * 1024);
  assertEquals(parseRunMount("type=secret,id=tok"), {
    type: "secret",
    id: "tok",
    target: "/run/secrets/tok",
    readonly: true,
  });
  assertEquals(parseRunMount("type=secret,target=/etc/key,required").id, "key");
  assertEquals(parseRunMount("type=secret,id=t,env=TOKEN"), {
    type: "secret",
    id: "t",
    env: "TOKEN",
    target: "",
    readonly: true,
  });
  assertEquals(parseRunMount('type=bind,"source=a,b",target=/x').source, "a,b");
  assertEquals(parseRunMount("target=/x,type=cache").type, "cache");
});

Deno.test("parseRunMount: errors", () => {
  assertThrows(() => parseRunMount("type=nfs,target=/x"), Error, 'unsupported mount type "nfs"');
  assertThrows(() => parseRunMount("type=bind"), Error, "requires a target");
  assertThrows(() => parseRunMount("target=/x,color=red"), Error, "unexpected key 'color' in 'color=red'");
  assertThrows(() => parseRunMount("type=cache,target=/x,sharing=all"), Error, "unsupported sharing value");
  assertThrows(() => parseRunMount("type=cache,target=/x,uid=me"), Error, "invalid value me for uid");
  assertThrows(() => parseRunMount("type=tmpfs,target=/x,from=y"), Error, "tmpfs mounts take no source");
  assertThrows(() => parseRunMount("type=secret"), Error, "one of target, id or env is required");
});

const files = {
  passwd: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n",
  group: "root:x:0:\nstaff:x:50:\napp:x:1001:\n",
};

Deno.test("resolveOwner", () => {
  const table: [string, [number, number]][] = [
    ["0", [0, 0]],
    ["1000", [1000, 1000]],
    ["1000:1000", [1000, 1000]],
    ["1001:0", [1001, 0]],
    ["app", [1000, 1001]],
    ["app:staff", [1000, 50]],
    ["app:7", [1000, 7]],
    ["42:staff", [42, 50]],
    ["root", [0, 0]],
  ];
  for (const [spec, [uid, gid]] of table) assertEquals(resolveOwner(spec, files), { uid, gid }, spec);
  assertThrows(() => resolveOwner("nobody", files), Error, "unable to find user nobody");
  assertThrows(() => resolveOwner("app:wheel", files), Error, "unable to find group wheel");
  assertEquals(needsAccountFiles("1:2"), false);
  assertEquals(needsAccountFiles("app"), true);
  assertEquals(needsAccountFiles("1:staff"), true);
});
