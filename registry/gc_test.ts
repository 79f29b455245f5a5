import { assert, assertEquals } from "../tests/assert.ts";
import { digestOf } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";
import { collectGarbage } from "./gc.ts";
import { blobKey } from "./layout.ts";
import { openRegistry } from "./registry.ts";
import type { RegistryServices } from "./services.ts";
import { RegistryError } from "./errors.ts";

const enc = new TextEncoder();

async function withServices(fn: (s: RegistryServices, root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "ctr-gc-test-" });
  const s = openRegistry(root);
  try {
    await fn(s, root);
  } finally {
    s.metadata.close();
    await Deno.remove(root, { recursive: true });
  }
}

async function blob(
  s: RegistryServices,
  repo: string,
  text: string,
): Promise<{ digest: string; size: number }> {
  const bytes = enc.encode(text);
  const digest = digestOf(bytes);
  await s.uploads.putWhole(repo, digest, { body: ReadableStream.from([bytes]), length: bytes.length });
  return { digest, size: bytes.length };
}

async function image(
  s: RegistryServices,
  repo: string,
  ref: string,
  name: string,
  extra: Record<string, unknown> = {},
) {
  const config = await blob(s, repo, `config ${name}`);
  const layer = await blob(s, repo, `layer ${name}`);
  const shared = await blob(s, repo, "shared layer");
  const bytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, ...config },
    layers: [layer, shared].map((l) => ({ mediaType: MediaType.OCI_LAYER_GZIP, ...l })),
    ...extra,
  }));
  const { digest } = await s.manifests.put(repo, ref, bytes, MediaType.OCI_MANIFEST);
  return { digest, size: bytes.length, config, layer, shared };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

async function present(s: RegistryServices, digest: string): Promise<boolean> {
  return (await s.driver.stat(blobKey(digest))) !== undefined;
}

Deno.test("gc: keeps what tags reach — index children, referrers, shared layers — and sweeps the rest", () =>
  withServices(async (s) => {
    const kept = await image(s, "a", "v1", "kept");
    const child = await image(s, "a", "child-tmp", "child");
    await s.manifests.delete("a", "child-tmp"); // untag: reachable only through the index below
    const index = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: [{ mediaType: MediaType.OCI_MANIFEST, digest: child.digest, size: child.size }],
    }));
    await s.manifests.put("a", "multi", index, MediaType.OCI_INDEX);
    const subject = { mediaType: MediaType.OCI_MANIFEST, digest: kept.digest, size: kept.size };
    const referrer = await image(s, "a", "ref-tmp", "sbom", { subject, artifactType: "application/x-sbom" });
    await s.manifests.delete("a", "ref-tmp");
    const dropped = await image(s, "a", "drop-tmp", "dropped");
    await s.manifests.delete("a", "drop-tmp");
    const droppedReferrer = await image(s, "a", "dref-tmp", "dref", {
      subject: { mediaType: MediaType.OCI_MANIFEST, digest: dropped.digest, size: dropped.size },
    });
    await s.manifests.delete("a", "dref-tmp");
    const loose = await blob(s, "a", "uploaded, never referenced");
    // The same shared layer in another repository, referenced there.
    const other = await image(s, "b", "v1", "other");
    await tick();

    const dry = await collectGarbage(s.driver, s.metadata, { graceMs: 0, dryRun: true });
    assertEquals(dry.manifests.sort(), [`a@${dropped.digest}`, `a@${droppedReferrer.digest}`].sort());
    assert(await present(s, dropped.layer.digest), "a dry run deletes nothing");

    const report = await collectGarbage(s.driver, s.metadata, { graceMs: 0 });
    assertEquals(report.manifests.sort(), dry.manifests);
    for (const d of [kept, child, referrer, other]) {
      assert(await present(s, d.digest), "kept manifest bytes");
      for (const b of [d.config, d.layer, d.shared]) assert(await present(s, b.digest), "kept blob");
    }
    assertEquals((await s.manifests.get("a", "v1")).record.digest, kept.digest);
    assertEquals((await s.manifests.get("a", child.digest)).record.digest, child.digest);
    assertEquals((await s.manifests.get("a", referrer.digest)).record.digest, referrer.digest);
    const refs = JSON.parse(new TextDecoder().decode(await s.manifests.referrers("a", kept.digest)));
    assertEquals(refs.manifests.map((m: { digest: string }) => m.digest), [referrer.digest]);
    for (
      const d of [
        dropped.digest,
        dropped.layer.digest,
        dropped.config.digest,
        droppedReferrer.digest,
        loose.digest,
      ]
    ) {
      assertEquals(await present(s, d), false, `swept ${d}`);
    }
    assertEquals(report.blobs.length, report.filesDeleted);
    let gone: unknown;
    try {
      await s.blobs.stat("a", loose.digest);
    } catch (e) {
      gone = e;
    }
    assert(gone instanceof RegistryError && gone.code === "BLOB_UNKNOWN", "the link went too");
    const again = await collectGarbage(s.driver, s.metadata, { graceMs: 0 });
    assertEquals([again.manifests, again.links, again.blobs], [[], [], []]);
  }));

Deno.test("gc: the grace period and --keep-untagged keep recent and untagged content", () =>
  withServices(async (s) => {
    const img = await image(s, "a", "tmp", "x");
    await s.manifests.delete("a", "tmp");
    const loose = await blob(s, "a", "loose");
    await tick();
    let r = await collectGarbage(s.driver, s.metadata, { graceMs: 3600_000 });
    assertEquals([r.manifests, r.links, r.blobs], [[], [], []]);
    r = await collectGarbage(s.driver, s.metadata, { graceMs: 0, keepUntagged: true });
    assertEquals(r.manifests, []);
    assertEquals(r.blobs, [loose.digest]);
    assert(await present(s, img.layer.digest), "the untagged manifest keeps its layers");
  }));

Deno.test("gc: pinned blobs survive, tombstones make writers wait, orphan files go by age", () =>
  withServices(async (s, root) => {
    const loose = await blob(s, "a", "pinned soon");
    await tick();
    const pin = await s.metadata.pinBlob(loose.digest);
    assert(pin, "pinned");
    let r = await collectGarbage(s.driver, s.metadata, { graceMs: 0 });
    assertEquals(r.links, [`a@${loose.digest}`]);
    assertEquals(r.blobs, [], "a pinned blob is kept even without links");
    await s.metadata.releasePin(pin!);

    // A tombstone blocks pinning until GC clears it.
    const t = await blob(s, "a", "tombstoned");
    await tick();
    r = await collectGarbage(s.driver, s.metadata, { graceMs: 0, dryRun: true });
    assert(r.blobs.includes(t.digest), "would be swept");
    await s.metadata.sweep({ cutoff: Date.now(), filesOnDisk: [] });
    assertEquals(await s.metadata.pinBlob(t.digest), undefined, "writers wait while GC deletes");
    assertEquals(await s.metadata.tombstones(), [t.digest, loose.digest].sort());
    // The next collection finishes the tombstones a dead one left.
    r = await collectGarbage(s.driver, s.metadata, { graceMs: 0 });
    assertEquals(await s.metadata.tombstones(), []);
    assertEquals(await present(s, t.digest), false);
    assert(await s.metadata.pinBlob(t.digest), "pinnable again");

    // Files without a row: an old one goes, a recent one stays.
    const oldBytes = enc.encode("orphan old"), newBytes = enc.encode("orphan new");
    for (const b of [oldBytes, newBytes]) await s.driver.write(blobKey(digestOf(b)), b);
    const past = new Date(Date.now() - 7200_000);
    await Deno.utime(`${root}/${blobKey(digestOf(oldBytes))}`, past, past);
    r = await collectGarbage(s.driver, s.metadata, { graceMs: 3600_000 });
    assertEquals(r.blobs, [digestOf(oldBytes)]);
    assert(await present(s, digestOf(newBytes)), "recent orphan kept");
  }));

Deno.test("gc: a manifest pushed after its blob was collected is refused, never stored dangling", () =>
  withServices(async (s) => {
    const config = await blob(s, "a", "config");
    const layer = await blob(s, "a", "layer");
    await tick();
    await collectGarbage(s.driver, s.metadata, { graceMs: 0 });
    const bytes = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, ...config },
      layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, ...layer }],
    }));
    let err: unknown;
    try {
      await s.manifests.put("a", "v1", bytes, MediaType.OCI_MANIFEST);
    } catch (e) {
      err = e;
    }
    assert(err instanceof RegistryError && err.code === "MANIFEST_BLOB_UNKNOWN", String(err));
    // The client pushes the blobs again and succeeds.
    await blob(s, "a", "config");
    await blob(s, "a", "layer");
    await s.manifests.put("a", "v1", bytes, MediaType.OCI_MANIFEST);
    assertEquals((await s.manifests.get("a", "v1")).bytes, bytes);
  }));
