import { assertEquals, assertThrows } from "../tests/assert.ts";
import { digestOf, Hasher, isDigest, parseDigest } from "./digest.ts";

Deno.test("digest: sha256 of 'hello world'", () => {
  assertEquals(
    digestOf("hello world"),
    "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
  );
});

Deno.test("digest: incremental hashing equals one-shot", () => {
  const h = new Hasher();
  h.update(new TextEncoder().encode("hello "));
  h.update(new TextEncoder().encode("world"));
  assertEquals(h.size, 11);
  assertEquals(h.digest(), digestOf("hello world"));
});

Deno.test("digest: sha512 is supported", () => {
  const d = digestOf("x", "sha512");
  assertEquals(parseDigest(d).algorithm, "sha512");
});

for (
  const bad of [
    "",
    "sha256",
    "sha256:",
    "sha256:abc",
    "sha256:" + "A".repeat(64),
    "sha256:" + "g".repeat(64),
    "md5:" + "a".repeat(32),
    "SHA256:" + "a".repeat(64),
    "sha256:" + "a".repeat(65),
    ":" + "a".repeat(64),
  ]
) {
  Deno.test(`digest: ${JSON.stringify(bad.slice(0, 20))}… is invalid`, () => {
    assertEquals(isDigest(bad), false);
    assertThrows(() => parseDigest(bad), TypeError);
  });
}
