/**
 * Raw-HTTP tests of `ctr serve` manifests, tags, catalog and referrers: media types and
 * headers, validation, unknown blobs, size limit, tag pagination (case 12), repository name
 * grammar and routing (case 15), `subject` and the referrers API with filtering.
 *
 * @module
 */
import { digestOf } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import {
  errorCode,
  http,
  makeImage,
  pushBlob,
  pushImage,
  putManifest,
  randomBytes,
  withRegistry,
} from "./registry_helpers.ts";

const enc = new TextEncoder();

Deno.test("registry: manifests by tag and digest keep their bytes, type, digest and length", () =>
  withRegistry(async (reg) => {
    for (const docker of [false, true]) {
      const repo = docker ? "t/docker" : "t/oci";
      const img = makeImage({ layers: 2, docker });
      const put = await pushImage(reg.url, repo, "v1", img);
      assertEquals(put.headers.get("docker-content-digest"), img.digest);
      assertEquals(put.headers.get("location"), `/v2/${repo}/manifests/${img.digest}`);
      for (const ref of ["v1", img.digest]) {
        const get = await http(reg.url, "GET", `/v2/${repo}/manifests/${ref}`, {
          headers: { Accept: img.mediaType },
        });
        assertEquals(get.status, 200);
        assertEquals(get.body, img.manifest, "byte-identical");
        assertEquals(get.headers.get("content-type"), img.mediaType);
        assertEquals(get.headers.get("docker-content-digest"), img.digest);
        assertEquals(get.headers.get("content-length"), String(img.manifest.length));
        const head = await http(reg.url, "HEAD", `/v2/${repo}/manifests/${ref}`);
        assertEquals(head.status, 200);
        assertEquals(head.headers.get("content-type"), img.mediaType);
        assertEquals(head.headers.get("content-length"), String(img.manifest.length));
        assertEquals(head.body.length, 0);
      }
    }
    const missing = await http(reg.url, "GET", "/v2/t/oci/manifests/nope");
    assertEquals([missing.status, errorCode(missing)], [404, "MANIFEST_UNKNOWN"]);
    const missingDigest = await http(reg.url, "HEAD", `/v2/t/oci/manifests/sha256:${"1".repeat(64)}`);
    assertEquals(missingDigest.status, 404);
  }));

Deno.test("registry: manifest PUT validation — unknown blobs, bad JSON, wrong digest, size limit, bad tag", () =>
  withRegistry(async (reg) => {
    const img = makeImage({ layers: 2 });
    // Only the config is there: the layers are unknown.
    await pushBlob(reg.url, "t/v", img.config);
    let r = await putManifest(reg.url, "t/v", "1", img.manifest, img.mediaType);
    assertEquals([r.status, errorCode(r)], [400, "MANIFEST_BLOB_UNKNOWN"]);
    assertEquals((await http(reg.url, "GET", "/v2/t/v/manifests/1")).status, 404, "nothing stored");
    // A blob pushed to ANOTHER repository does not count.
    for (const l of img.layers) await pushBlob(reg.url, "t/elsewhere", l);
    r = await putManifest(reg.url, "t/v", "1", img.manifest, img.mediaType);
    assertEquals(errorCode(r), "MANIFEST_BLOB_UNKNOWN");
    for (const l of img.layers) await pushBlob(reg.url, "t/v", l);
    r = await putManifest(reg.url, "t/v", "1", img.manifest, img.mediaType);
    assertEquals(r.status, 201);

    const cases: [string, Uint8Array, string, number, string][] = [
      ["not JSON", enc.encode("{nope"), MediaType.OCI_MANIFEST, 400, "MANIFEST_INVALID"],
      ["schema 1", enc.encode('{"schemaVersion":1,"name":"x"}'), "application/json", 400, "MANIFEST_INVALID"],
      [
        "mediaType differs from Content-Type",
        img.manifest,
        MediaType.DOCKER_MANIFEST,
        400,
        "MANIFEST_INVALID",
      ],
      [
        "layer without digest",
        enc.encode(
          JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: {}, layers: [] }),
        ),
        MediaType.OCI_MANIFEST,
        400,
        "MANIFEST_INVALID",
      ],
    ];
    for (const [what, body, type, status, code] of cases) {
      r = await putManifest(reg.url, "t/v", "bad", body, type);
      assertEquals([r.status, errorCode(r)], [status, code], what);
    }
    // Declared size that differs from the blob's.
    const lying = JSON.parse(new TextDecoder().decode(img.manifest));
    lying.layers[0].size += 1;
    r = await putManifest(reg.url, "t/v", "liar", enc.encode(JSON.stringify(lying)), img.mediaType);
    assertEquals([r.status, errorCode(r)], [400, "MANIFEST_INVALID"]);
    // By digest: the body must hash to it.
    r = await putManifest(reg.url, "t/v", `sha256:${"2".repeat(64)}`, img.manifest, img.mediaType);
    assertEquals([r.status, errorCode(r)], [400, "DIGEST_INVALID"]);
    r = await putManifest(reg.url, "t/v", img.digest, img.manifest, img.mediaType);
    assertEquals(r.status, 201);
    // Invalid tags.
    for (const tag of [".x", "-x", "a".repeat(129), "sha256:abc"]) {
      r = await putManifest(reg.url, "t/v", encodeURIComponent(tag), img.manifest, img.mediaType);
      assertEquals(r.status, 400, `tag ${tag}`);
    }
    // Over 4 MiB: 413.
    const huge = enc.encode(JSON.stringify({ schemaVersion: 2, pad: "x".repeat(4 * 1024 * 1024) }));
    r = await putManifest(reg.url, "t/v", "huge", huge, MediaType.OCI_MANIFEST);
    assertEquals(r.status, 413);
    assertEquals(errorCode(r), "MANIFEST_INVALID");
  }));

Deno.test("registry: indexes need their child manifests; Docker manifest lists too; non-distributable layers are exempt", () =>
  withRegistry(async (reg) => {
    const a = makeImage({ layers: 1, label: "a" }), b = makeImage({ layers: 1, label: "b" });
    await pushImage(reg.url, "t/idx", a.digest, a);
    const index = (mediaType: string, children: typeof a[]) =>
      enc.encode(JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: children.map((c) => ({
          mediaType: c.mediaType,
          digest: c.digest,
          size: c.manifest.length,
          platform: { os: "linux", architecture: "amd64" },
        })),
      }));
    let r = await putManifest(
      reg.url,
      "t/idx",
      "multi",
      index(MediaType.OCI_INDEX, [a, b]),
      MediaType.OCI_INDEX,
    );
    assertEquals([r.status, errorCode(r)], [400, "MANIFEST_BLOB_UNKNOWN"]);
    await pushImage(reg.url, "t/idx", b.digest, b);
    r = await putManifest(reg.url, "t/idx", "multi", index(MediaType.OCI_INDEX, [a, b]), MediaType.OCI_INDEX);
    assertEquals(r.status, 201);
    const list = index(MediaType.DOCKER_LIST, [a, b]);
    r = await putManifest(reg.url, "t/idx", "list", list, MediaType.DOCKER_LIST);
    assertEquals(r.status, 201);
    const got = await http(reg.url, "GET", "/v2/t/idx/manifests/list");
    assertEquals(got.headers.get("content-type"), MediaType.DOCKER_LIST);
    assertEquals(got.body, list);

    const foreign = makeImage({ layers: 1 });
    const m = JSON.parse(new TextDecoder().decode(foreign.manifest));
    m.layers.push({
      mediaType: MediaType.DOCKER_LAYER_FOREIGN,
      digest: `sha256:${"3".repeat(64)}`,
      size: 10,
      urls: ["https://example.com/layer"],
    });
    await pushBlob(reg.url, "t/idx", foreign.config);
    await pushBlob(reg.url, "t/idx", foreign.layers[0]);
    r = await putManifest(reg.url, "t/idx", "foreign", enc.encode(JSON.stringify(m)), MediaType.OCI_MANIFEST);
    assertEquals(r.status, 201);
  }));

Deno.test("registry: deleting manifests by digest removes their tags; deleting a tag keeps the manifest", () =>
  withRegistry(async (reg) => {
    const img = makeImage();
    await pushImage(reg.url, "t/d", "a", img);
    await putManifest(reg.url, "t/d", "b", img.manifest, img.mediaType);
    let r = await http(reg.url, "DELETE", "/v2/t/d/manifests/a");
    assertEquals(r.status, 202);
    assertEquals((await http(reg.url, "GET", "/v2/t/d/manifests/a")).status, 404);
    assertEquals((await http(reg.url, "GET", `/v2/t/d/manifests/${img.digest}`)).status, 200);
    r = await http(reg.url, "DELETE", `/v2/t/d/manifests/${img.digest}`);
    assertEquals(r.status, 202);
    assertEquals((await http(reg.url, "GET", "/v2/t/d/manifests/b")).status, 404);
    assertEquals((await http(reg.url, "GET", `/v2/t/d/manifests/${img.digest}`)).status, 404);
    r = await http(reg.url, "DELETE", "/v2/t/d/manifests/b");
    assertEquals([r.status, errorCode(r)], [404, "MANIFEST_UNKNOWN"]);
    assertEquals((await http(reg.url, "GET", "/v2/t/d/tags/list")).json, { name: "t/d", tags: [] });
  }));

Deno.test("registry: case 12 — tag listing in byte order with n, last (even a missing tag) and Link", () =>
  withRegistry(async (reg) => {
    const img = makeImage();
    await pushImage(reg.url, "t/tags", "latest", img);
    for (const tag of ["1.10", "1.9", "1.0", "Alpha", "beta"]) {
      assertEquals((await putManifest(reg.url, "t/tags", tag, img.manifest, img.mediaType)).status, 201);
    }
    const all = ["1.0", "1.10", "1.9", "Alpha", "beta", "latest"];
    const a = await http(reg.url, "GET", "/v2/t/tags/tags/list");
    assertEquals(a.status, 200);
    assertEquals(a.json, { name: "t/tags", tags: all });
    assertEquals(a.headers.get("content-type"), "application/json");
    assertEquals(a.headers.get("link"), null);

    const b = await http(reg.url, "GET", "/v2/t/tags/tags/list?n=2");
    assertEquals((b.json as { tags: string[] }).tags, ["1.0", "1.10"]);
    const link = b.headers.get("link")!;
    assertMatch(link, /^<[^>]*[?&]last=1\.10(&|>)[^>]*>;\s*rel="next"$/);
    const pages: string[][] = [(b.json as { tags: string[] }).tags];
    let next: string | null = link;
    while (next) {
      const url = /^<([^>]*)>/.exec(next)![1];
      const page = await http(reg.url, "GET", url);
      assertEquals(page.status, 200);
      pages.push((page.json as { tags: string[] }).tags);
      next = page.headers.get("link");
      assert(pages.length < 10, "pagination ends");
    }
    assertEquals(pages.slice(1, 3), [["1.9", "Alpha"], ["beta", "latest"]]);
    assertEquals(pages.flat(), all);

    const d = await http(reg.url, "GET", "/v2/t/tags/tags/list?n=2&last=1.5");
    assertEquals((d.json as { tags: string[] }).tags, ["1.9", "Alpha"]);
    const e = await http(reg.url, "GET", "/v2/t/tags/tags/list?n=0");
    assertEquals([e.status, (e.json as { tags: string[] }).tags, e.headers.get("link")], [200, [], null]);
    const f = await http(reg.url, "GET", "/v2/t/tags/tags/list?last=beta");
    assertEquals((f.json as { tags: string[] }).tags, ["latest"]);
    const g = await http(reg.url, "GET", "/v2/nope/tags/list");
    assertEquals([g.status, errorCode(g)], [404, "NAME_UNKNOWN"]);
    const bad = await http(reg.url, "GET", "/v2/t/tags/tags/list?n=-1");
    assertEquals(bad.status, 400);
    // Exactly n left: the last full page may point to an empty one, which has no Link.
    const six = await http(reg.url, "GET", "/v2/t/tags/tags/list?n=6");
    assertEquals((six.json as { tags: string[] }).tags, all);
    assertEquals(six.headers.get("link"), null);
  }));

Deno.test("registry: the catalog lists repositories in byte order, paginated", () =>
  withRegistry(async (reg) => {
    const names = ["b/x", "a", "a/b", "a-b", "c"];
    for (const n of names) await pushBlob(reg.url, n, enc.encode(n));
    const all = await http(reg.url, "GET", "/v2/_catalog");
    assertEquals(all.json, { repositories: ["a", "a-b", "a/b", "b/x", "c"] });
    const p1 = await http(reg.url, "GET", "/v2/_catalog?n=2");
    assertEquals((p1.json as { repositories: string[] }).repositories, ["a", "a-b"]);
    assertMatch(p1.headers.get("link")!, /^<\/v2\/_catalog\?last=a-b&n=2>; rel="next"$/);
    const p2 = await http(reg.url, "GET", "/v2/_catalog?n=2&last=a-b");
    assertEquals((p2.json as { repositories: string[] }).repositories, ["a/b", "b/x"]);
  }));

Deno.test("registry: case 15 — name grammar, API words inside names, and a name beside its children", () =>
  withRegistry(async (reg) => {
    const valid = ["a/b/c/d/e", "x__y/z", "x.y-z/w---v", "team/blobs", "team/manifests/tags", "ns/sub", "ns"];
    for (const name of valid) {
      const img = makeImage({ label: name });
      await pushImage(reg.url, name, "1", img);
      const tags = await http(reg.url, "GET", `/v2/${name}/tags/list`);
      assertEquals([tags.status, tags.json], [200, { name, tags: ["1"] }], name);
      const m = await http(reg.url, "GET", `/v2/${name}/manifests/1`);
      assertEquals(m.body, img.manifest, name);
    }
    const invalid = ["Team/app", "-lead/x", "trail_/x", "a//b", "a/b/", "x___y", "a".repeat(256)];
    const img = makeImage();
    for (const name of invalid) {
      for (
        const [method, path, body] of [
          ["POST", `/v2/${name}/blobs/uploads/?digest=${digestOf(img.config)}`, img.config],
          ["POST", `/v2/${name}/blobs/uploads/`, null],
          ["PUT", `/v2/${name}/manifests/1`, img.manifest],
        ] as const
      ) {
        const r = await http(reg.url, method, path, { body: body as Uint8Array<ArrayBuffer> | null });
        assert(r.status >= 400 && r.status < 500, `${method} ${path}: ${r.status}`);
        if (r.json) {
          assert(["NAME_INVALID", "NAME_UNKNOWN"].includes(errorCode(r)!), `${name}: ${errorCode(r)}`);
        }
      }
      const lower = name.toLowerCase();
      if (lower !== name) {
        const t = await http(reg.url, "GET", `/v2/${lower}/tags/list`);
        assertEquals([t.status, errorCode(t)], [404, "NAME_UNKNOWN"]);
      }
    }
    const catalog = await http(reg.url, "GET", "/v2/_catalog");
    assertEquals((catalog.json as { repositories: string[] }).repositories, [...valid].sort());
    const r = await http(reg.url, "GET", "/v2/Team/app/tags/list");
    assertEquals([r.status, errorCode(r)], [400, "NAME_INVALID"]);
  }));

Deno.test("registry: subject, OCI-Subject and the referrers API with artifactType filtering", () =>
  withRegistry(async (reg) => {
    const img = makeImage();
    await pushImage(reg.url, "t/ref", "v1", img);
    const subject = { mediaType: img.mediaType, digest: img.digest, size: img.manifest.length };
    const sbom = makeImage({
      artifactType: "application/vnd.example.sbom.v1",
      subject,
      annotations: { "org.example.kind": "sbom" },
      layers: [enc.encode("sbom!")],
    });
    const sig = makeImage({ subject, layers: [enc.encode("signature")] });
    let r = await pushImage(reg.url, "t/ref", sbom.digest, sbom);
    assertEquals(r.headers.get("oci-subject"), img.digest);
    r = await pushImage(reg.url, "t/ref", sig.digest, sig);
    assertEquals(r.headers.get("oci-subject"), img.digest);
    // An index may have a subject too; without artifactType its descriptor has none.
    const idx = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: [],
      subject,
      annotations: { "org.example.kind": "index" },
    }));
    r = await putManifest(reg.url, "t/ref", digestOf(idx), idx, MediaType.OCI_INDEX);
    assertEquals([r.status, r.headers.get("oci-subject")], [201, img.digest]);

    const all = await http(reg.url, "GET", `/v2/t/ref/referrers/${img.digest}`);
    assertEquals(all.status, 200);
    assertEquals(all.headers.get("content-type"), MediaType.OCI_INDEX);
    assertEquals(all.headers.get("oci-filters-applied"), null);
    const body = all.json as {
      schemaVersion: number;
      mediaType: string;
      manifests: Record<string, unknown>[];
    };
    assertEquals(body.schemaVersion, 2);
    assertEquals(body.mediaType, MediaType.OCI_INDEX);
    const byDigest = new Map(body.manifests.map((m) => [m.digest as string, m]));
    assertEquals(byDigest.size, 3);
    assertEquals(byDigest.get(sbom.digest), {
      mediaType: MediaType.OCI_MANIFEST,
      digest: sbom.digest,
      size: sbom.manifest.length,
      artifactType: "application/vnd.example.sbom.v1",
      annotations: { "org.example.kind": "sbom" },
    });
    assertEquals(byDigest.get(sig.digest)!.artifactType, MediaType.OCI_CONFIG, "config media type stands in");
    assertEquals(byDigest.get(digestOf(idx))!.artifactType, undefined);
    assertEquals(byDigest.get(digestOf(idx))!.annotations, { "org.example.kind": "index" });

    const filtered = await http(
      reg.url,
      "GET",
      `/v2/t/ref/referrers/${img.digest}?artifactType=application/vnd.example.sbom.v1`,
    );
    assertEquals(filtered.headers.get("oci-filters-applied"), "artifactType");
    assertEquals((filtered.json as typeof body).manifests.map((m) => m.digest), [sbom.digest]);
    const none = await http(
      reg.url,
      "GET",
      `/v2/t/ref/referrers/${img.digest}?artifactType=application/x-none`,
    );
    assertEquals((none.json as typeof body).manifests, []);

    // A subject that does not exist is fine, and so is asking for its referrers.
    const orphanSubject = { mediaType: img.mediaType, digest: `sha256:${"4".repeat(64)}`, size: 5 };
    const orphan = makeImage({ subject: orphanSubject, layers: [enc.encode("o")] });
    r = await pushImage(reg.url, "t/ref", orphan.digest, orphan);
    assertEquals(r.headers.get("oci-subject"), orphanSubject.digest);
    const o = await http(reg.url, "GET", `/v2/t/ref/referrers/${orphanSubject.digest}`);
    assertEquals((o.json as typeof body).manifests.map((m) => m.digest), [orphan.digest]);
    const empty = await http(reg.url, "GET", `/v2/t/unknown-repo/referrers/${img.digest}`);
    assertEquals([empty.status, (empty.json as typeof body).manifests], [200, []]);
    const bad = await http(reg.url, "GET", "/v2/t/ref/referrers/sha256:nope");
    assertEquals([bad.status, errorCode(bad)], [400, "DIGEST_INVALID"]);
    // Referrers of another repository are not visible here.
    await pushImage(reg.url, "t/other", "v1", img);
    const other = await http(reg.url, "GET", `/v2/t/other/referrers/${img.digest}`);
    assertEquals((other.json as typeof body).manifests, []);
  }));

Deno.test("registry: unknown routes and methods answer 404 and 405 with the API version header", () =>
  withRegistry(async (reg) => {
    const v2 = await http(reg.url, "GET", "/v2/");
    assertEquals([v2.status, v2.json, v2.headers.get("docker-distribution-api-version")], [
      200,
      {},
      "registry/2.0",
    ]);
    assertEquals((await http(reg.url, "GET", "/nope")).status, 404);
    assertEquals((await http(reg.url, "GET", "/v2/t/x/nonsense/y")).status, 404);
    const m = await http(reg.url, "POST", "/v2/t/x/manifests/1");
    assertEquals([m.status, errorCode(m)], [405, "UNSUPPORTED"]);
    assertEquals(m.headers.get("docker-distribution-api-version"), "registry/2.0");
    const big = randomBytes(10);
    const t = await http(reg.url, "PUT", "/v2/t/x/tags/list", { body: big });
    assertEquals(t.status, 405);
  }));
