import { assertEquals, assertThrows } from "../tests/assert.ts";
import { familiarName, formatReference, parseReference, withDefaultTag } from "./reference.ts";

const H = "sha256:" + "a".repeat(64);

/** [input, normalised full reference, familiar form] */
const valid: [string, string, string][] = [
  ["busybox", "docker.io/library/busybox", "busybox"],
  ["busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"],
  ["busybox:1.36.1", "docker.io/library/busybox:1.36.1", "busybox:1.36.1"],
  ["library/busybox", "docker.io/library/busybox", "busybox"],
  ["docker.io/busybox", "docker.io/library/busybox", "busybox"],
  ["docker.io/library/busybox:1", "docker.io/library/busybox:1", "busybox:1"],
  ["index.docker.io/busybox", "docker.io/library/busybox", "busybox"],
  ["index.docker.io/team/app:x", "docker.io/team/app:x", "team/app:x"],
  ["team/app", "docker.io/team/app", "team/app"],
  ["team/sub/app:v2", "docker.io/team/sub/app:v2", "team/sub/app:v2"],
  ["localhost/app", "localhost/app", "localhost/app"],
  ["localhost:5000/app", "localhost:5000/app", "localhost:5000/app"],
  ["localhost:5000/team/app:1", "localhost:5000/team/app:1", "localhost:5000/team/app:1"],
  ["127.0.0.1:5000/a/b/c:d", "127.0.0.1:5000/a/b/c:d", "127.0.0.1:5000/a/b/c:d"],
  ["[::1]:5000/app:1", "[::1]:5000/app:1", "[::1]:5000/app:1"],
  ["quay.io/org/app", "quay.io/org/app", "quay.io/org/app"],
  ["registry.example.com:443/x", "registry.example.com:443/x", "registry.example.com:443/x"],
  ["Registry.Example.com/x", "Registry.Example.com/x", "Registry.Example.com/x"],
  ["x__y/z", "docker.io/x__y/z", "x__y/z"],
  ["x.y-z/w---v", "x.y-z/w---v", "x.y-z/w---v"], // a dot makes the first component a registry
  ["xy-z/w---v", "docker.io/xy-z/w---v", "xy-z/w---v"],
  ["a/b/c/d/e", "docker.io/a/b/c/d/e", "a/b/c/d/e"],
  ["app:Latest", "docker.io/library/app:Latest", "app:Latest"],
  ["app:_underscore", "docker.io/library/app:_underscore", "app:_underscore"],
  ["app:" + "t".repeat(128), "docker.io/library/app:" + "t".repeat(128), "app:" + "t".repeat(128)],
  [`app@${H}`, `docker.io/library/app@${H}`, `app@${H}`],
  [`app:1@${H}`, `docker.io/library/app:1@${H}`, `app:1@${H}`],
  [`localhost:5000/app@${H}`, `localhost:5000/app@${H}`, `localhost:5000/app@${H}`],
  ["my-registry:5000/x", "my-registry:5000/x", "my-registry:5000/x"],
  ["host.with.dots/x", "host.with.dots/x", "host.with.dots/x"],
  ["a1/b2", "docker.io/a1/b2", "a1/b2"],
  ["0/1", "docker.io/0/1", "0/1"],
  ["team/blobs", "docker.io/team/blobs", "team/blobs"],
  ["team/manifests/tags", "docker.io/team/manifests/tags", "team/manifests/tags"],
];

/** [input, part of the error message] */
const invalidRefs: [string, string][] = [
  ["", "invalid reference format"],
  ["Team/App", "repository name must be lowercase"],
  ["localhost:5000/Team/App:1", "repository name must be lowercase"],
  ["UPPER", "repository name must be lowercase"],
  ["-lead/x", "invalid reference format"],
  ["trail_/x", "invalid reference format"],
  ["a//b", "invalid reference format"],
  ["a/b/", "invalid reference format"],
  ["x___y", "invalid reference format"],
  ["app:", "invalid reference format"],
  ["app:-tag", "invalid reference format"],
  ["app:.tag", "invalid reference format"],
  ["app:" + "t".repeat(129), "invalid reference format"],
  ["app:tag with space", "invalid reference format"],
  ["app@sha256:abc", "invalid reference format"],
  ["app@md5:" + "a".repeat(32), "invalid reference format"],
  ["app@" + "a".repeat(64), "invalid reference format"],
  ["a".repeat(64), "cannot specify 64-byte hexadecimal strings"],
  ["localhost:port/app", "invalid reference format"],
  ["-host.com/app", "invalid reference format"],
  ["host.com:5000/", "invalid reference format"],
  [":tag", "invalid reference format"],
  ["@" + H, "invalid reference format"],
  ["app/../etc", "invalid reference format"],
  ["app/.hidden", "invalid reference format"],
  ["x/" + "a".repeat(250), "must not be more than 255 characters"],
];

for (const [input, full, familiar] of valid) {
  Deno.test(`reference: ${JSON.stringify(input)} → ${full}`, () => {
    const ref = parseReference(input);
    assertEquals(formatReference(ref), full);
    assertEquals(familiarName(ref), familiar);
  });
}

for (const [input, why] of invalidRefs) {
  Deno.test(`reference: ${JSON.stringify(input.slice(0, 60))} is refused (${why})`, () => {
    assertThrows(() => parseReference(input), TypeError, why);
  });
}

Deno.test("reference: the default tag is added only without tag and digest", () => {
  assertEquals(withDefaultTag(parseReference("busybox")).tag, "latest");
  assertEquals(withDefaultTag(parseReference("busybox:1")).tag, "1");
  assertEquals(withDefaultTag(parseReference(`busybox@${H}`)).tag, undefined);
});

Deno.test("reference: a port is not mistaken for a tag", () => {
  const r = parseReference("localhost:5000/app");
  assertEquals([r.domain, r.path, r.tag], ["localhost:5000", "app", undefined]);
});
