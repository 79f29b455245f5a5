/**
 * ctr's registry client against an independent peer: the CNCF distribution registry
 * (`docker-registry`), with and without htpasswd auth, and `skopeo` on the other side of
 * each round trip — digests must come out byte-identical.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr, fixture, IS_ROOT, type RunResult, withRoot } from "./helpers.ts";

import { buildImage, randomBytes, storeImage } from "./image_builder.ts";
import { FaultProxy } from "./fault_proxy.ts";
import { havePeers, skopeo, startDistribution, writeOciLayout } from "./peers/distribution.ts";
import { digestOf } from "../image/digest.ts";
import { ImageStore } from "../image/image_store.ts";

const ignore = !havePeers();

async function run(root: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return await ctr(root, args, { env: { DOCKER_CONFIG: `${root}/.docker`, ...env } });
}

function recorded(root: string, name: string): string | undefined {
  const store = ImageStore.open(root);
  try {
    return store.find(name).digest;
  } catch {
    return undefined;
  } finally {
    store.close();
  }
}

const image = () =>
  buildImage([{ "etc/": "", "etc/hello": "hello from ctr\n" }, { data: randomBytes(3 << 20) }, {
    "bin/": "",
    "bin/t": "t",
  }]);

Deno.test({
  name: "peer: ctr push → docker-registry → skopeo copy to an oci: layout, byte-identical",
  ignore,
  fn: async () => {
    const reg = await startDistribution();
    try {
      await withRoot(async (root) => {
        const img = image();
        const name = `${reg.host}/peer/app:1`;
        await storeImage(root, name, img);
        const r = await run(root, ["push", name]);
        assertEquals(r.code, 0, r.stderr);
        const layout = `${root}/layout`;
        await skopeo([
          "copy",
          "--preserve-digests",
          "--src-tls-verify=false",
          `docker://${name}`,
          `oci:${layout}:1`,
        ]);
        const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
        assertEquals(index.manifests[0].digest, img.manifest.digest);
        for (const b of [...img.layers, img.config, img.manifest]) {
          assertEquals(await Deno.readFile(`${layout}/blobs/sha256/${b.digest.slice(7)}`), b.bytes);
        }
        // a second repository of the same registry: blobs are mounted, not uploaded
        await storeImage(root, `${reg.host}/peer/other:1`, img);
        const m = await run(root, ["push", `${reg.host}/peer/other:1`]);
        assertEquals(m.code, 0, m.stderr);
        assertStringIncludes(m.stdout, `${img.layers[1].digest.slice(7, 19)}: Mounted from peer/app`);
        const inspect = JSON.parse(
          await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/peer/other:1`]),
        );
        assertEquals(inspect.config.digest, img.config.digest);
      });
    } finally {
      await reg.stop();
    }
  },
});

Deno.test({
  name: "peer: skopeo copy → docker-registry → ctr pull, byte-identical",
  ignore,
  fn: async () => {
    const reg = await startDistribution();
    try {
      await withRoot(async (root) => {
        const img = image();
        const layout = `${root}/layout`;
        await writeOciLayout(layout, img, "1");
        await skopeo([
          "copy",
          "--preserve-digests",
          "--dest-tls-verify=false",
          `oci:${layout}:1`,
          `docker://${reg.host}/from/skopeo:1`,
        ]);
        const r = await run(root, ["pull", `${reg.host}/from/skopeo:1`]);
        assertEquals(r.code, 0, r.stderr);
        assertStringIncludes(r.stdout, `Digest: ${img.manifest.digest}`);
        assertEquals(recorded(root, `${reg.host}/from/skopeo:1`), img.manifest.digest);
        for (const b of [...img.layers, img.config, img.manifest]) {
          assertEquals(await Deno.readFile(`${root}/blobs/sha256/${b.digest.slice(7)}`), b.bytes);
        }
        // the registry sends Docker-Content-Digest; pulling by digest works too
        await withRoot(async (other) => {
          const d = await run(other, ["pull", `${reg.host}/from/skopeo@${img.manifest.digest}`]);
          assertEquals(d.code, 0, d.stderr);
        });
      });
    } finally {
      await reg.stop();
    }
  },
});

Deno.test({
  name: "peer: docker-registry with htpasswd — login, wrong password, skopeo --authfile",
  ignore,
  fn: async () => {
    const reg = await startDistribution({ users: { alice: "correct horse" } });
    try {
      await withRoot(async (root) => {
        const img = image();
        const name = `${reg.host}/secure/app:1`;
        await storeImage(root, name, img);
        const anon = await run(root, ["push", name]);
        assertEquals(anon.code, 1);
        assertMatch(anon.stderr, /unauthorized/i);
        assertStringIncludes(anon.stderr, `ctr login ${reg.host}`);
        const wrong = await run(root, ["login", "-u", "alice", "-p", "battery staple", reg.host]);
        assertEquals(wrong.code, 1);
        assertMatch(wrong.stderr, /incorrect username or password/);
        const ok = await ctr(root, ["login", "-u", "alice", "--password-stdin", reg.host], {
          stdin: "correct horse\n",
          env: { DOCKER_CONFIG: `${root}/.docker` },
        });
        assertEquals(ok.code, 0, ok.stderr);
        assertEquals(ok.stdout, "Login Succeeded\n");
        const pushed = await run(root, ["push", name]);
        assertEquals(pushed.code, 0, pushed.stderr);
        // skopeo reads the file ctr login wrote
        const raw = await skopeo([
          "inspect",
          "--raw",
          "--tls-verify=false",
          "--authfile",
          `${root}/.docker/config.json`,
          `docker://${name}`,
        ]);
        assertEquals(digestOf(raw), img.manifest.digest);
        await withRoot(async (other) => {
          await Deno.mkdir(`${other}/.docker`);
          await Deno.copyFile(`${root}/.docker/config.json`, `${other}/.docker/config.json`);
          const p = await run(other, ["pull", name]);
          assertEquals(p.code, 0, p.stderr);
          assertEquals((await run(other, ["logout", reg.host])).code, 0);
          const refused = await run(other, ["pull", name]);
          assertEquals(refused.code, 1);
          assertMatch(refused.stderr, /unauthorized/i);
        });
      });
    } finally {
      await reg.stop();
    }
  },
});

Deno.test({
  name: "peer: pull and push through the fault proxy in front of docker-registry",
  ignore,
  fn: async () => {
    const reg = await startDistribution();
    let patches = 0;
    const proxy = new FaultProxy(`http://${reg.host}`, (req, url, seen) => {
      if (req.method === "PATCH" && patches++ === 0) return { kind: "lose-answer" };
      if (seen > 0) return undefined;
      if (req.method === "GET" && url.pathname.includes("/blobs/sha256:")) {
        return { kind: "drop", after: 70_000 };
      }
      if (req.method === "HEAD" && url.pathname.includes("/manifests/")) {
        return { kind: "status", status: 503 };
      }

      if (req.method === "POST") return { kind: "status", status: 429, retryAfter: 0 };
      return undefined;
    });
    try {
      await withRoot(async (root) => {
        const img = buildImage([{ data: randomBytes(36 << 20) }, { data: randomBytes(500_000) }]);
        const name = `${proxy.host}/faulty/app:1`;
        await storeImage(root, name, img);
        const r = await run(root, ["push", name]);
        assertEquals(
          r.code,
          0,
          r.stderr + proxy.log.map((l) => `${l.method} ${l.path} ${l.fault}`).join("\n"),
        );
        assert(proxy.log.some((l) => l.fault === "lose-answer"), "a PATCH answer was lost");
        await withRoot(async (other) => {
          const p = await run(other, ["pull", name]);
          assertEquals(p.code, 0, p.stderr);
          assertEquals(recorded(other, name), img.manifest.digest);
          for (const l of img.layers) {
            assertEquals(await Deno.readFile(`${other}/blobs/sha256/${l.digest.slice(7)}`), l.bytes);
          }
          assert(proxy.log.some((l) => l.range?.startsWith("bytes=")), "resumed with Range");
        });
      });
    } finally {
      await proxy.close();
      await reg.stop();
    }
  },
});

Deno.test({
  name: "peer: skopeo → docker-registry → ctr pull → ctr run of what was pulled (root)",
  ignore: ignore || !IS_ROOT,
  fn: async () => {
    const reg = await startDistribution();
    try {
      await withRoot(async (root) => {
        const busybox = await Deno.readFile(await fixture("busybox"));
        const img = buildImage([busybox, { "etc/": "", "etc/greeting": "hello through the registry\n" }], {
          architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
        });
        const layout = `${root}/layout`;
        await writeOciLayout(layout, img, "1");
        await skopeo([
          "copy",
          "--preserve-digests",
          "--dest-tls-verify=false",
          `oci:${layout}:1`,
          `docker://${reg.host}/run/busybox:1`,
        ]);
        const name = `${reg.host}/run/busybox:1`;
        const p = await run(root, ["pull", name]);
        assertEquals(p.code, 0, p.stderr);
        const r = await run(root, ["run", "--rm", name, "cat", "/etc/greeting"]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, "hello through the registry\n");
      });
    } finally {
      await reg.stop();
    }
  },
});
