import { assertEquals, assertThrows } from "../tests/assert.ts";
import { MediaType } from "../image/oci.ts";
import { RegistryError } from "./errors.ts";
import { parseManifest } from "./manifest_validation.ts";

const d = (c: string) => "sha256:" + c.repeat(64);
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const config = { mediaType: MediaType.OCI_CONFIG, digest: d("c"), size: 2 };
const layer = { mediaType: MediaType.OCI_LAYER_GZIP, digest: d("1"), size: 10 };

Deno.test("manifest validation: references, artifact type and subject", () => {
  const m = parseManifest(
    enc({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers: [layer, layer] }),
  );
  assertEquals(m.mediaType, MediaType.OCI_MANIFEST);
  assertEquals(m.references, [
    { digest: d("c"), kind: "blob", size: 2 },
    { digest: d("1"), kind: "blob", size: 10 },
    { digest: d("1"), kind: "blob", size: 10 },
  ]);
  assertEquals(m.artifactType, MediaType.OCI_CONFIG);
  const a = parseManifest(
    enc({
      schemaVersion: 2,
      config,
      layers: [],
      artifactType: "application/x",
      subject: { ...layer, digest: d("5") },
    }),
    MediaType.OCI_MANIFEST,
  );
  assertEquals([a.artifactType, a.subject], ["application/x", d("5")]);
  const i = parseManifest(
    enc({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OCI_MANIFEST, digest: d("9"), size: 3 }] }),
  );
  assertEquals(i.mediaType, MediaType.OCI_INDEX);
  assertEquals(i.references, [{ digest: d("9"), kind: "manifest", size: 3 }]);
  assertEquals(i.artifactType, undefined);
  const docker = parseManifest(
    enc({ schemaVersion: 2, mediaType: MediaType.DOCKER_MANIFEST, config, layers: [] }),
    `${MediaType.DOCKER_MANIFEST}; charset=utf-8`,
  );
  assertEquals(docker.mediaType, MediaType.DOCKER_MANIFEST);
});

Deno.test("manifest validation: every malformed manifest is MANIFEST_INVALID, naming the problem", () => {
  const cases: [unknown, string | null, string][] = [
    ["x", null, "not a JSON object"],
    [{ schemaVersion: 1 }, null, "Schema 1"],
    [
      { schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers: [] },
      MediaType.DOCKER_MANIFEST,
      "does not match",
    ],
    [
      { schemaVersion: 2, mediaType: "application/x-custom", config, layers: [] },
      null,
      "Unsupported manifest media type",
    ],
    [
      { schemaVersion: 2, config: { ...config, digest: "sha256:zz" }, layers: [] },
      null,
      "config has an invalid digest",
    ],
    [{ schemaVersion: 2, config: { ...config, size: -1 }, layers: [] }, null, "invalid size"],
    [{ schemaVersion: 2, config, layers: [{ digest: d("1"), size: 1 }] }, null, "layers[0] has no mediaType"],
    [{ schemaVersion: 2, config }, null, "layers array"],
    [{ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, config }, null, "manifests array"],
    [{ schemaVersion: 2, config, layers: [], annotations: { a: 1 } }, null, "annotations"],
    [{ schemaVersion: 2 }, null, "Cannot tell"],
  ];
  for (const [doc, type, want] of cases) {
    const bytes = typeof doc === "string" ? new TextEncoder().encode(JSON.stringify(doc)) : enc(doc);
    const e = assertThrows(() => parseManifest(bytes, type), RegistryError, want);
    assertEquals(e.code, "MANIFEST_INVALID");
  }
  assertThrows(() => parseManifest(new Uint8Array([0xff, 0xfe])), RegistryError, "not valid JSON");
});
