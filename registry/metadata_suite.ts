/**
 * The shared test suite every {@linkcode MetadataStore} must pass (SQLite now; a PostgreSQL
 * store later adds one line to `metadata_test.ts`). Garbage-collection semantics are
 * covered end to end in `gc_test.ts`.
 *
 * @module
 */
import { assert, assertEquals } from "../tests/assert.ts";
import type { MetadataStore } from "./metadata.ts";

/** Creates a fresh, empty store and a function that disposes of it. */
export type MetadataFactory = () => Promise<{ store: MetadataStore; dispose: () => Promise<void> }>;

const d = (c: string) => "sha256:" + c.repeat(64);

/**
 * Registers the suite's tests under `name`.
 *
 * @example
 * ```ts
 * runMetadataSuite("sqlite", async () => ({ store: SqliteMetadataStore.open(path), dispose }));
 * ```
 */
export function runMetadataSuite(name: string, factory: MetadataFactory): void {
  const t = (what: string, fn: (m: MetadataStore) => Promise<void>) =>
    Deno.test(`metadata ${name}: ${what}`, async () => {
      const { store, dispose } = await factory();
      try {
        await fn(store);
      } finally {
        await dispose();
      }
    });

  async function blob(m: MetadataStore, repo: string, digest: string, size = 1) {
    const pin = await m.pinBlob(digest);
    assert(pin, "pinned");
    await m.commitBlob(pin!, repo, digest, size);
  }

  t("blobs are linked per repository, mounted only from where they are", async (m) => {
    assertEquals(await m.repositoryExists("a"), false);
    await blob(m, "a", d("1"), 11);
    assertEquals(await m.repositoryExists("a"), true);
    assertEquals(await m.linkedBlobSize("a", d("1")), 11);
    assertEquals(await m.linkedBlobSize("b", d("1")), undefined);
    assertEquals(await m.mountBlob("b", "nope", d("1")), undefined);
    assertEquals(await m.mountBlob("b", "a", d("2")), undefined);
    assertEquals(await m.mountBlob("b", "a", d("1")), 11);
    assertEquals(await m.linkedBlobSize("b", d("1")), 11);
    assertEquals(await m.unlinkBlob("a", d("1")), true);
    assertEquals(await m.unlinkBlob("a", d("1")), false);
    assertEquals(await m.linkedBlobSize("b", d("1")), 11);
    assertEquals(await m.listRepositories({}), ["a", "b"]);
    assertEquals(await m.listRepositories({ last: "a", n: 5 }), ["b"]);
  });

  t("manifests check their references atomically; tags list in byte order", async (m) => {
    await blob(m, "r", d("c"), 2);
    const refs = [{ digest: d("c"), kind: "blob" as const, size: 2 }, {
      digest: d("l"),
      kind: "blob" as const,
      size: 3,
    }];
    let pin = (await m.pinBlob(d("m")))!;
    const missing = await m.putManifest("r", { digest: d("m"), mediaType: "x", size: 9 }, refs, {
      tag: "v1",
      pin,
    });
    assertEquals(missing, [{ reference: refs[1], problem: "unknown" }]);
    await m.releasePin(pin);
    assertEquals(await m.getManifest("r", { tag: "v1" }), undefined);
    await blob(m, "r", d("l"), 4);
    pin = (await m.pinBlob(d("m")))!;
    const wrongSize = await m.putManifest("r", { digest: d("m"), mediaType: "x", size: 9 }, refs, {
      tag: "v1",
      pin,
    });
    assertEquals(wrongSize, [{ reference: refs[1], problem: "size", actualSize: 4 }]);
    await m.releasePin(pin);
    refs[1].size = 4;
    for (const tag of ["latest", "1.10", "1.9", "Alpha", "beta", "1.0"]) {
      pin = (await m.pinBlob(d("m")))!;
      assertEquals(
        await m.putManifest("r", { digest: d("m"), mediaType: "x", size: 9 }, refs, { tag, pin }),
        [],
      );
    }
    assertEquals(await m.listTags("r", {}), ["1.0", "1.10", "1.9", "Alpha", "beta", "latest"]);
    assertEquals(await m.listTags("r", { last: "1.5", n: 2 }), ["1.9", "Alpha"]);
    assertEquals(await m.listTags("nope", {}), undefined);
    assertEquals((await m.getManifest("r", { tag: "beta" }))?.digest, d("m"));
    assertEquals(await m.deleteTag("r", "beta"), true);
    assertEquals(await m.deleteTag("r", "beta"), false);
    assertEquals(await m.deleteManifest("r", d("m")), true);
    assertEquals(await m.listTags("r", {}), []);
    assertEquals(await m.getManifest("r", { digest: d("m") }), undefined);
  });

  t("referrers by subject, filtered by artifact type", async (m) => {
    for (
      const [c, type] of [["a", "application/sbom"], ["b", "application/sig"], ["e", undefined]] as const
    ) {
      const pin = (await m.pinBlob(d(c)))!;
      await m.putManifest(
        "r",
        {
          digest: d(c),
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          size: 5,
          subject: d("s"),
          artifactType: type,
          annotations: { k: c },
        },
        [],
        { pin },
      );
    }
    assertEquals((await m.referrers("r", d("s"))).map((x) => x.digest), [d("a"), d("b"), d("e")]);
    const sbom = await m.referrers("r", d("s"), "application/sbom");
    assertEquals(sbom.map((x) => [x.digest, x.artifactType, x.annotations]), [[d("a"), "application/sbom", {
      k: "a",
    }]]);
    assertEquals(await m.referrers("other", d("s")), []);
  });

  t("upload sessions", async (m) => {
    await m.createUpload({ id: "u1", repository: "r", started: 1000 });
    await m.createUpload({ id: "u2", repository: "r", started: Date.now() });
    assertEquals(await m.getUpload("u1"), { id: "u1", repository: "r", started: 1000 });
    assertEquals((await m.uploadsStartedBefore(2000)).map((u) => u.id), ["u1"]);
    await m.deleteUpload("u1");
    assertEquals(await m.getUpload("u1"), undefined);
    assertEquals((await m.storageStats()).uploads, 1);
  });
}
