/**
 * Image trust end to end against `ctr serve` on loopback (referrers API) and the CNCF
 * distribution registry (no referrers API: the referrers tag schema): key generation,
 * `trust sign` / `trust verify`, and `--verify` on `pull` and `run`. An unsigned image, an
 * image signed by another key, and an image whose manifest changed after signing are
 * refused; a signed one is pulled (by its verified digest) and runs.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr, IS_ROOT, type RunResult, withRoot } from "./helpers.ts";
import { buildImage, randomBytes, storeImage } from "./image_builder.ts";
import { http, putManifest, withRegistry } from "./registry_helpers.ts";
import { importFixtureImage } from "./fixture_image.ts";
import { havePeers, startDistribution } from "./peers/distribution.ts";
import { ImageStore } from "../image/image_store.ts";
import { digestOf } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";

async function run(root: string, args: string[], stdin?: string): Promise<RunResult> {
  return await ctr(root, args, { env: { DOCKER_CONFIG: `${root}/.docker` }, stdin });
}

async function ok(root: string, args: string[], stdin?: string): Promise<string> {
  const r = await run(root, args, stdin);
  assertEquals(r.code, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function imageCount(root: string): number {
  try {
    Deno.statSync(`${root}/ctr.db`);
  } catch {
    return 0;
  }
  const store = ImageStore.open(root);
  try {
    return store.list().length;
  } finally {
    store.close();
  }
}

const smallImage = (text: string) =>
  buildImage([{ "etc/": "", "etc/hello": text }, { data: randomBytes(4096) }], {
    architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
  });

Deno.test("trust: key generate writes a 0600 private key, prints its public key; names are checked", () =>
  withRoot(async (root) => {
    const out = await ok(root, ["trust", "key", "generate", "--name", "release"]);
    assertMatch(out, /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/);
    const st = await Deno.stat(`${root}/trust/keys/release.key`);
    assertEquals(st.mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(`${root}/trust/keys`)).mode! & 0o777, 0o700);
    assertStringIncludes(await Deno.readTextFile(`${root}/trust/keys/release.key`), "BEGIN PRIVATE KEY");
    assertEquals(await ok(root, ["trust", "key", "export", "release"]), out);
    const again = await run(root, ["trust", "key", "generate", "release"]);
    assertEquals(again.code, 125);
    assertStringIncludes(again.stderr, 'A key named "release" already exists');
    const bad = await run(root, ["trust", "key", "generate", "../x"]);
    assertEquals(bad.code, 125);
    assertStringIncludes(bad.stderr, "Invalid key name");
    // a leaked private key is refused for signing
    await Deno.chmod(`${root}/trust/keys/release.key`, 0o644);
    const loose = await run(root, ["trust", "sign", "--key", "release", "127.0.0.1:1/x/y:1"]);
    assertEquals(loose.code, 1);
    assertStringIncludes(loose.stderr, "are too open");
    const ls = await ok(root, ["trust", "key", "ls"]);
    assertMatch(ls, /^NAME\s+KEY ID\s+PRIVATE\nrelease\s+[0-9a-f]{12}\s+yes\n$/);
  }));

Deno.test("trust: sign and verify on ctr serve; unsigned, other key, changed manifest and copied signature refused", () =>
  withRegistry((reg) =>
    withRoot(async (signer) => {
      const repo = `${reg.host}/trust/app`;
      const img = smallImage("signed\n");
      await storeImage(signer, `${repo}:1`, img);
      await ok(signer, ["push", `${repo}:1`]);
      const pub = await ok(signer, ["trust", "key", "generate"]);

      // unsigned
      const unsigned = await run(signer, ["trust", "verify", `${repo}:1`]);
      assertEquals(unsigned.code, 1);
      assertStringIncludes(unsigned.stderr, `No signatures found for ${repo}@${img.manifest.digest}`);

      const signed = await ok(signer, ["trust", "sign", `${repo}:1`]);
      assertStringIncludes(signed, `Signed ${repo}@${img.manifest.digest} with key "default"`);
      assert(!signed.includes("referrers tag"), "ctr serve indexes subjects itself");
      const v = await ok(signer, ["trust", "verify", `${repo}:1`]);
      assertMatch(
        v,
        new RegExp(`^Verified ${repo}@${img.manifest.digest}: signed by "default" .*\\(referrers\\)\\n$`),
      );
      // the signature is an OCI referrer of the manifest, with cosign's payload and annotation
      const refs = await http(reg.url, "GET", `/v2/trust/app/referrers/${img.manifest.digest}`);
      const index = refs.json as { manifests: { digest: string; artifactType: string }[] };
      assertEquals(index.manifests.length, 1);
      assertEquals(index.manifests[0].artifactType, "application/vnd.dev.cosign.artifact.sig.v1+json");
      const sigManifest = (await http(reg.url, "GET", `/v2/trust/app/manifests/${index.manifests[0].digest}`))
        .json as {
          subject: { digest: string };
          layers: { digest: string; mediaType: string; annotations: Record<string, string> }[];
        };
      assertEquals(sigManifest.subject.digest, img.manifest.digest);
      assertEquals(sigManifest.layers[0].mediaType, "application/vnd.dev.cosign.simplesigning.v1+json");
      assert(sigManifest.layers[0].annotations["dev.cosignproject.cosign/signature"]);
      const payload = (await http(reg.url, "GET", `/v2/trust/app/blobs/${sigManifest.layers[0].digest}`))
        .json;
      assertEquals(payload, {
        critical: {
          identity: { "docker-reference": repo },
          image: { "docker-manifest-digest": img.manifest.digest },
          type: "cosign container image signature",
        },
        optional: {},
      });
      // verify with the exported public key as a PEM file (what another host would hold)
      await Deno.writeTextFile(`${signer}/release.pub`, pub);
      await ok(signer, ["trust", "verify", "--key", `${signer}/release.pub`, `${repo}:1`]);
      // by digest too
      await ok(signer, ["trust", "verify", `${repo}@${img.manifest.digest}`]);

      await withRoot(async (other) => {
        // a verifier that trusts only another key
        await ok(other, ["trust", "key", "generate", "other"]);
        const wrongKey = await run(other, ["trust", "verify", `${repo}:1`]);
        assertEquals(wrongKey.code, 1);
        assertStringIncludes(wrongKey.stderr, "is not by a trusted key");
        const pull = await run(other, ["pull", "--verify", `${repo}:1`]);
        assertEquals(pull.code, 1);
        assertStringIncludes(pull.stderr, "No valid signature by a trusted key");
        assertEquals(imageCount(other), 0, "nothing pulled");
        // trusting the signer's key makes it pass
        await ok(other, ["trust", "key", "import", "signer", "-"], pub);
        await ok(other, ["trust", "verify", `${repo}:1`]);
      });

      // the manifest changed after signing: the tag now names other bytes
      const changed = smallImage("tampered\n");
      await storeImage(signer, `${repo}:1`, changed);
      await ok(signer, ["push", `${repo}:1`]);
      const moved = await run(signer, ["trust", "verify", `${repo}:1`]);
      assertEquals(moved.code, 1);
      assertStringIncludes(moved.stderr, `No signatures found for ${repo}@${changed.manifest.digest}`);
      // …and the old signature copied onto the changed manifest: the payload names the old one
      const copy = JSON.parse(JSON.stringify(sigManifest));
      copy.subject = {
        mediaType: MediaType.OCI_MANIFEST,
        digest: changed.manifest.digest,
        size: changed.manifest.size,
      };
      const copyBytes = new TextEncoder().encode(JSON.stringify(copy));
      const put = await putManifest(
        reg.url,
        "trust/app",
        digestOf(copyBytes),
        copyBytes,
        MediaType.OCI_MANIFEST,
      );
      assertEquals(put.status, 201, put.text);
      const copied = await run(signer, ["trust", "verify", `${repo}:1`]);
      assertEquals(copied.code, 1);
      assertStringIncludes(copied.stderr, `is for manifest ${img.manifest.digest}`);
      const pull = await withRoot(async (dst) => {
        await ok(dst, ["trust", "key", "import", "signer", "-"], pub);
        const r = await run(dst, ["pull", "--verify", `${repo}:1`]);
        return { r, count: imageCount(dst) };
      });
      assertEquals(pull.r.code, 1);
      assertEquals(pull.count, 0);
      // the same signature is still good for the digest it names
      await ok(signer, ["trust", "verify", `${repo}@${img.manifest.digest}`]);
      // …but not in another repository (the payload names trust/app)
      await storeImage(signer, `${reg.host}/trust/elsewhere:1`, img);
      await ok(signer, ["push", `${reg.host}/trust/elsewhere:1`]);
      const sigCopy = JSON.parse(JSON.stringify(sigManifest));
      for (
        const d of [
          sigManifest.layers[0].digest,
          "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        ]
      ) {
        const m = await http(reg.url, "POST", `/v2/trust/elsewhere/blobs/uploads/?mount=${d}&from=trust/app`);
        assertEquals(m.status, 201, m.text);
      }
      const sigBytes = new TextEncoder().encode(JSON.stringify(sigCopy));
      assertEquals(
        (await putManifest(reg.url, "trust/elsewhere", digestOf(sigBytes), sigBytes, MediaType.OCI_MANIFEST))
          .status,
        201,
      );
      const elsewhere = await run(signer, ["trust", "verify", `${reg.host}/trust/elsewhere:1`]);
      assertEquals(elsewhere.code, 1);
      assertStringIncludes(elsewhere.stderr, `is for repository ${repo}`);
    })
  ));

Deno.test("trust: a signature edited after signing is refused", () =>
  withRegistry((reg) =>
    withRoot(async (root) => {
      const repo = `${reg.host}/trust/edit`;
      const img = smallImage("edit\n");
      const other = smallImage("other\n");
      await storeImage(root, `${repo}:1`, img);
      await storeImage(root, `${repo}:2`, other);
      await ok(root, ["push", `${repo}:1`]);
      await ok(root, ["push", `${repo}:2`]);
      await ok(root, ["trust", "key", "generate"]);
      await ok(root, ["trust", "sign", `${repo}:1`]);
      // rewrite the payload to name the other manifest, keep the signature, attach it there
      const refs = (await http(reg.url, "GET", `/v2/trust/edit/referrers/${img.manifest.digest}`)).json as {
        manifests: { digest: string }[];
      };
      const sig = (await http(reg.url, "GET", `/v2/trust/edit/manifests/${refs.manifests[0].digest}`))
        .json as {
          subject: Record<string, unknown>;
          layers: { digest: string; size: number }[];
        };
      const payload = new TextEncoder().encode(
        JSON.stringify({
          critical: {
            identity: { "docker-reference": repo },
            image: { "docker-manifest-digest": other.manifest.digest },
            type: "cosign container image signature",
          },
          optional: {},
        }),
      );
      const up = await http(reg.url, "POST", `/v2/trust/edit/blobs/uploads/?digest=${digestOf(payload)}`, {
        body: payload,
      });
      assertEquals(up.status, 201);
      sig.layers[0] = { ...sig.layers[0], digest: digestOf(payload), size: payload.length };
      sig.subject = {
        mediaType: MediaType.OCI_MANIFEST,
        digest: other.manifest.digest,
        size: other.manifest.size,
      };
      const bytes = new TextEncoder().encode(JSON.stringify(sig));
      assertEquals(
        (await putManifest(reg.url, "trust/edit", digestOf(bytes), bytes, MediaType.OCI_MANIFEST)).status,
        201,
      );
      const r = await run(root, ["trust", "verify", `${repo}:2`]);
      assertEquals(r.code, 1);
      assertStringIncludes(r.stderr, "is not by a trusted key");
    })
  ));

Deno.test("trust: policy file — reject scope, sigstoreSigned scope enforced on plain pull, accept elsewhere", () =>
  withRegistry((reg) =>
    withRoot(async (root) => {
      const img = smallImage("policy\n");
      for (const r of ["team/signed", "team/unsigned", "open/app", "banned/app"]) {
        await storeImage(root, `${reg.host}/${r}:1`, img);
        await ok(root, ["push", `${reg.host}/${r}:1`]);
      }
      await ok(root, ["trust", "key", "generate", "release"]);
      await ok(root, ["trust", "sign", `${reg.host}/team/signed:1`]);
      await Deno.writeTextFile(
        `${root}/trust/policy.json`,
        JSON.stringify({
          default: [{ type: "insecureAcceptAnything" }],
          transports: {
            docker: {
              [`${reg.host}/team`]: [{ type: "sigstoreSigned", keys: ["release"] }],
              [`${reg.host}/banned`]: [{ type: "reject" }],
            },
          },
        }),
      );
      const pulled = await run(root, ["pull", `${reg.host}/team/signed:1`]);
      assertEquals(pulled.code, 0, pulled.stderr);
      assertStringIncludes(pulled.stdout, 'Verified signature by "release"');
      const unsigned = await run(root, ["pull", `${reg.host}/team/unsigned:1`]);
      assertEquals(unsigned.code, 1);
      assertStringIncludes(unsigned.stderr, "No signatures found");
      const banned = await run(root, ["pull", `${reg.host}/banned/app:1`]);
      assertEquals(banned.code, 1);
      assertStringIncludes(banned.stderr, "refused by the trust policy");
      const open = await run(root, ["pull", `${reg.host}/open/app:1`]);
      assertEquals(open.code, 0, open.stderr);
      // a broken policy file is an error naming the file, not a silent accept
      await Deno.writeTextFile(`${root}/trust/policy.json`, '{"default": [{"type": "maybe"}]}');
      const broken = await run(root, ["pull", `${reg.host}/open/app:1`]);
      assertEquals(broken.code, 1);
      assertStringIncludes(
        broken.stderr,
        `${root}/trust/policy.json: default[0]: unknown requirement type "maybe"`,
      );
    })
  ));

Deno.test({
  name: "trust: docker-registry without the referrers API — signatures kept under the referrers tag",
  ignore: !havePeers(),
  fn: async () => {
    const reg = await startDistribution();
    try {
      await withRoot(async (root) => {
        const repo = `${reg.host}/trust/peer`;
        const img = smallImage("peer\n");
        await storeImage(root, `${repo}:1`, img);
        await ok(root, ["push", `${repo}:1`]);
        await ok(root, ["trust", "key", "generate"]);
        const s1 = await ok(root, ["trust", "sign", "--key", "default", `${repo}:1`]);
        assertStringIncludes(s1, "(referrers tag)");
        // a second signer's signature joins the same index (the same key signing the same
        // digest again makes the same artifact: Deno's ECDSA is deterministic, RFC 6979)
        await ok(root, ["trust", "key", "generate", "second"]);
        await ok(root, ["trust", "sign", "--key", "second", `${repo}:1`]);
        await ok(root, ["trust", "sign", "--key", "second", `${repo}:1`]);
        const tag = `sha256-${img.manifest.digest.slice(7)}`;
        const idx = await http(`http://${reg.host}`, "GET", `/v2/trust/peer/manifests/${tag}`, {
          headers: { Accept: MediaType.OCI_INDEX },
        });
        assertEquals(idx.status, 200);
        assertEquals((idx.json as { manifests: unknown[] }).manifests.length, 2);
        const v = await ok(root, ["trust", "verify", `${repo}:1`]);
        assertStringIncludes(v, "(referrers-tag)");
        await withRoot(async (dst) => {
          await ok(
            dst,
            ["trust", "key", "import", "k", "-"],
            await ok(root, ["trust", "key", "export", "default"]),
          );
          const p = await run(dst, ["pull", "--verify", `${repo}:1`]);
          assertEquals(p.code, 0, p.stderr);
          assertEquals(imageCount(dst), 1);
        });
      });
    } finally {
      await reg.stop();
    }
  },
});

Deno.test({
  name: "trust: pull --verify and run --verify — a signed image runs, pinned by digest (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRegistry((reg) =>
      withRoot(async (src) => {
        await importFixtureImage(src, "busybox");
        const repo = `${reg.host}/trust/busybox`;
        await ok(src, ["tag", "busybox", `${repo}:signed`]);
        await ok(src, ["tag", "busybox", `${repo}-unsigned:1`]);
        await ok(src, ["push", `${repo}:signed`]);
        await ok(src, ["push", `${repo}-unsigned:1`]);
        const pub = await ok(src, ["trust", "key", "generate"]);
        await ok(src, ["trust", "sign", `${repo}:signed`]);
        await withRoot(async (dst) => {
          await ok(dst, ["trust", "key", "import", "src", "-"], pub);
          const p = await run(dst, ["pull", "--verify", `${repo}:signed`]);
          assertEquals(p.code, 0, p.stderr);
          assertStringIncludes(p.stdout, `${repo}:signed\n`);
          const r = await run(dst, ["run", "--rm", "--verify", `${repo}:signed`, "echo", "trusted"]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stdout, "trusted\n");
          const digest = (await ok(dst, ["images", "--digests", "--format", "{{.Digest}}", `${repo}:signed`]))
            .trim();
          const pinned = await run(dst, ["run", "--rm", "--verify", `${repo}@${digest}`, "true"]);
          assertEquals(pinned.code, 0, pinned.stderr);
          // the same image in a repository where nobody signed it is refused
          const u = await run(dst, ["pull", `${repo}-unsigned:1`]);
          assertEquals(u.code, 0, u.stderr);
          const refused = await run(dst, ["run", "--rm", "--verify", `${repo}-unsigned:1`, "true"]);
          assertEquals(refused.code, 125);
          assertStringIncludes(refused.stderr, "No signatures found");
        });
        await withRoot(async (dst) => {
          // run --verify of an image not here: pulled by its verified digest, then run
          await ok(dst, ["trust", "key", "import", "src", "-"], pub);
          const r = await run(dst, [
            "run",
            "--rm",
            "--verify",
            `${repo}:signed`,
            "echo",
            "pulled and trusted",
          ]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stdout, "pulled and trusted\n");
          const unsigned = await run(dst, ["run", "--rm", "--verify", `${repo}-unsigned:1`, "true"]);
          assertEquals(unsigned.code, 125);
          assertStringIncludes(unsigned.stderr, "No signatures found");
          assertEquals(imageCount(dst), 1, "the unsigned image was not pulled");
          // the policy holds for run's own pulls too
          await Deno.writeTextFile(
            `${dst}/trust/policy.json`,
            JSON.stringify({ transports: { docker: { [`${repo}-unsigned`]: [{ type: "reject" }] } } }),
          );
          const rejected = await run(dst, ["run", "--rm", `${repo}-unsigned:1`, "true"]);
          assertEquals(rejected.code, 125);
          assertStringIncludes(rejected.stderr, "refused by the trust policy");
          assertEquals(imageCount(dst), 1);
        });
      })
    ),
});

Deno.test("trust: sign --cosign-tag also writes cosign's sha256-<hex>.sig manifest, which verify reads", () =>
  withRegistry((reg) =>
    withRoot(async (root) => {
      const repo = `${reg.host}/trust/cosign`;
      const img = smallImage("cosign\n");
      await storeImage(root, `${repo}:1`, img);
      await ok(root, ["push", `${repo}:1`]);
      await ok(root, ["trust", "key", "generate"]);
      const out = await ok(root, ["trust", "sign", "--cosign-tag", `${repo}:1`]);
      const sigDigest = /Signature: (sha256:[0-9a-f]{64})/.exec(out)![1];
      const tag = `sha256-${img.manifest.digest.slice(7)}.sig`;
      const sig = (await http(reg.url, "GET", `/v2/trust/cosign/manifests/${tag}`, {
        headers: { Accept: MediaType.OCI_MANIFEST },
      })).json as { layers: { mediaType: string; annotations: Record<string, string> }[] };
      assertEquals(sig.layers.length, 1);
      assertEquals(sig.layers[0].mediaType, "application/vnd.dev.cosign.simplesigning.v1+json");
      assert(sig.layers[0].annotations["dev.cosignproject.cosign/signature"]);
      // signing again adds no duplicate layer
      const out2 = await ok(root, ["trust", "sign", "--cosign-tag", `${repo}:1`]);
      const sigDigest2 = /Signature: (sha256:[0-9a-f]{64})/.exec(out2)![1];
      const again = (await http(reg.url, "GET", `/v2/trust/cosign/manifests/${tag}`, {
        headers: { Accept: MediaType.OCI_MANIFEST },
      })).json as { layers: unknown[] };
      assertEquals(again.layers.length, 1);
      // With the referrers gone, the .sig tag alone carries the signature. The two signings
      // made one referrer when they fell in the same second (signatures are deterministic, the
      // created annotation has whole seconds), else two.
      for (const d of new Set([sigDigest, sigDigest2])) {
        const del = await http(reg.url, "DELETE", `/v2/trust/cosign/manifests/${d}`);
        assertEquals(del.status, 202, del.text);
      }
      const v = await ok(root, ["trust", "verify", `${repo}:1`]);
      assertStringIncludes(v, "(cosign-tag)");
    })
  ));
