import { assertEquals } from "../tests/assert.ts";
import {
  isRepositoryName,
  isTag,
  parseManifestReference,
  repositoryNameProblem,
  routePath,
} from "./names.ts";

Deno.test("names: repository grammar of the spec, with its length limit", () => {
  const valid = ["a", "a/b/c/d/e", "x__y/z", "x.y-z/w---v", "team/blobs", "0", "a-b_c.d", "a".repeat(255)];
  const invalid = [
    "",
    "Team/app",
    "-lead/x",
    "trail_/x",
    "a//b",
    "a/b/",
    "/a",
    "x___y",
    "a..b",
    "a._b",
    "a".repeat(256),
    "a b",
    "é",
  ];
  for (const n of valid) assertEquals(isRepositoryName(n), true, n);
  for (const n of invalid) assertEquals(isRepositoryName(n), false, n);
  assertEquals(repositoryNameProblem("Team/App"), "repository name must be lowercase");
  assertEquals(repositoryNameProblem("team/app"), undefined);
});

Deno.test("names: tags and references", () => {
  for (const t of ["latest", "Latest", "1.0", "_x", "a".repeat(128), "v1-rc.2_b"]) {
    assertEquals(isTag(t), true, t);
  }
  for (const t of ["", ".x", "-x", "a".repeat(129), "a/b", "a:b", "a+b"]) assertEquals(isTag(t), false, t);
  const d = "sha256:" + "a".repeat(64);
  assertEquals(parseManifestReference("v1"), { tag: "v1" });
  assertEquals(parseManifestReference(d), { digest: d });
  assertEquals(parseManifestReference("sha256:abc"), undefined);
  assertEquals(parseManifestReference("..%2f"), undefined);
});

Deno.test("names: the router splits on the LAST API keyword", () => {
  const d = "sha256:" + "b".repeat(64);
  const table: [string, unknown][] = [
    ["/v2/", { kind: "base" }],
    ["/v2", { kind: "base" }],
    ["/v2/_catalog", { kind: "catalog" }],
    ["/v2/a/tags/list", { kind: "tags", name: "a" }],
    ["/v2/x/tags/tags/list", { kind: "tags", name: "x/tags" }],
    ["/v2/team/manifests/tags/manifests/1", {
      kind: "manifest",
      name: "team/manifests/tags",
      reference: "1",
    }],
    ["/v2/team/manifests/tags/tags/list", { kind: "tags", name: "team/manifests/tags" }],
    ["/v2/team/blobs/blobs/" + d, { kind: "blob", name: "team/blobs", digest: d }],
    ["/v2/team/blobs/blobs/uploads/", { kind: "uploads", name: "team/blobs" }],
    ["/v2/a/blobs/uploads", { kind: "uploads", name: "a" }],
    ["/v2/a/blobs/uploads/abc", { kind: "upload", name: "a", id: "abc" }],
    ["/v2/a/blobs/uploads/blobs/uploads/x", { kind: "upload", name: "a/blobs/uploads", id: "x" }],
    ["/v2/a/referrers/" + d, { kind: "referrers", name: "a", digest: d }],
    ["/v2/a/manifests/sha256%3Aabc", { kind: "manifest", name: "a", reference: "sha256:abc" }],
    ["/v2/manifests/x", { kind: "unknown" }],
    ["/v2/a/b", { kind: "unknown" }],
    ["/v2x", { kind: "unknown" }],
    ["/token", { kind: "token" }],
    ["/healthz", { kind: "healthz" }],
    ["/metrics", { kind: "metrics" }],
    ["/", { kind: "unknown" }],
  ];
  for (const [path, want] of table) assertEquals(routePath(path), want, path);
});
