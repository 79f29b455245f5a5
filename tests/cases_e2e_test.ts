/**
 * Real-world cases exactly as their "Automated check" runs them, where the other tests stop
 * short of it. Layer cases 06, 08, 10: images pushed to a real `ctr serve`, pulled into an
 * empty state root with `ctr pull`, and looked at from inside a container with `ctr run` (the
 * unit tests beside `image/unpack.ts` check the same trees below the CLI); case 08 builds
 * with `ctr build`, pushes, and reads the layer blobs back from the registry. Case 18: the
 * image pulled from a registry that sends no `Docker-Content-Digest` also runs.
 *
 * @module
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { ctr, fixture, IS_ROOT, withRoot } from "./helpers.ts";
import { buildImage, storeImage } from "./image_builder.ts";
import { case06Layer1, case06Layer2, case10Layer } from "./layers.ts";
import { spawnServe } from "./registry_helpers.ts";
import { StubRegistry } from "./stub_registry.ts";
import { digestOf } from "../image/digest.ts";
import { importFixture, withContext } from "./build_helpers.ts";
import { readTar } from "../image/tar/reader.ts";
import { gunzipSync } from "node:zlib";

/** Runs `fn` with a `ctr serve` on an ephemeral loopback port (its own state root). */
async function withServe(fn: (host: string) => Promise<void>): Promise<void> {
  await withRoot(async (serveRoot) => {
    const srv = await spawnServe(serveRoot, ["--addr", "127.0.0.1:0"]);
    try {
      await fn(new URL(srv.url).host);
    } finally {
      await srv.stop();
    }
  });
}

async function ok(root: string, args: string[]): Promise<string> {
  const r = await ctr(root, args);
  assertEquals(r.code, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** busybox's root filesystem plus `layers`, pushed as `name` from one root and pulled into another. */
async function pushAndPull(
  host: string,
  name: string,
  layers: Uint8Array[],
  fn: (root: string, ref: string) => Promise<void>,
) {
  const busybox = await Deno.readFile(await fixture("busybox"));
  const img = buildImage([busybox, ...layers.map((l) => new Uint8Array(l))]);
  const ref = `${host}/${name}`;
  await withRoot(async (src) => {
    await storeImage(src, ref, img);
    await ok(src, ["push", ref]);
  });
  await withRoot(async (dst) => {
    await ok(dst, ["pull", ref]);
    await fn(dst, ref);
  });
}

Deno.test({
  name: "case 06 end to end: whiteouts and the opaque marker after push, pull and run (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withServe((host) =>
      pushAndPull(host, "cases/c06:1", [case06Layer1(), case06Layer2()], async (root, ref) => {
        const out = await ok(root, [
          "run",
          "--rm",
          ref,
          "sh",
          "-c",
          'find / -xdev -name ".wh.*" | wc -l; cat /a/b/c/new; for p in /a/b/c/old /d/sub /etc/gone; do test -e $p; echo $?; done; cat /x/new.txt /etc/keep',
        ]);
        assertEquals(out.split("\n").map((l) => l.trim()), ["0", "new", "1", "1", "1", "n", "k"]);
      })
    ),
});

Deno.test({
  name: "case 10 end to end: a FIFO and a device node survive push and pull, extraction goes on (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withServe((host) =>
      pushAndPull(host, "cases/special:1", [case10Layer()], async (root, ref) => {
        const out = await ok(root, [
          "run",
          "--rm",
          ref,
          "sh",
          "-c",
          'stat -c "%F %a %u:%g" /srv/run/ctl.fifo; stat -c "%F %t %T" /srv/devs/nullish; cat /srv/after.txt',
        ]);
        assertEquals(out, "fifo 620 0:0\ncharacter special file 1 3\nafter");
      })
    ),
});

Deno.test({
  name:
    "case 08 end to end: built hard-link layers are self-contained in the registry and keep identity (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withServe((host) =>
      withRoot(async (root) => {
        await importFixture(root, "busybox");
        const dockerfile = "FROM busybox\nRUN printf 'data' > /f1\nRUN ln /f1 /f2\n" +
          "RUN printf 'same' > /g1 && ln /g1 /g2 && ln /g1 /g3\n";
        const ref = `${host}/cases/t08:1`;
        await withContext({ Dockerfile: dockerfile }, async (dir) => {
          await ok(root, ["build", "-q", "-t", ref, dir]);
        });
        await ok(root, ["push", ref]);
        // The layers as the registry holds them.
        const manifest = await (await fetch(`http://${host}/v2/cases/t08/manifests/1`, {
          headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
        })).json() as { layers: { digest: string }[] };
        const layers: Uint8Array[] = [];
        for (const l of manifest.layers) {
          layers.push(
            new Uint8Array(
              await (await fetch(`http://${host}/v2/cases/t08/blobs/${l.digest}`)).arrayBuffer(),
            ),
          );
        }
        const [, lnLayer, tripleLayer] = layers.slice(-3);
        // Each extracts on its own with plain tar.
        for (const blob of layers.slice(-3)) {
          const dir = await Deno.makeTempDir({ prefix: "ctr-case08-" });
          try {
            const file = `${dir}.tgz`;
            await Deno.writeFile(file, blob);
            const out = await new Deno.Command("tar", { args: ["-xzf", file, "-C", dir], stderr: "piped" })
              .output();
            await Deno.remove(file);
            assert(out.success, new TextDecoder().decode(out.stderr));
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        }
        const entries = async (gz: Uint8Array) => {
          const out: { name: string; type: string; size: number; linkname?: string }[] = [];
          for await (const e of readTar(ReadableStream.from([new Uint8Array(gunzipSync(gz))]))) {
            out.push({
              name: e.header.name,
              type: e.header.type,
              size: e.header.size,
              linkname: e.header.linkname,
            });
          }
          return out;
        };
        const ln = (await entries(lnLayer)).filter((e) => /^\.?\/?f[12]$/.test(e.name));
        assertEquals(ln.length, 2, JSON.stringify(ln));
        assertEquals(ln[0].type, "file");
        assertEquals(ln[0].size, 4);
        assertEquals(ln[1].type, "link");
        assertEquals(ln[1].linkname, ln[0].name);
        const triple = (await entries(tripleLayer)).filter((e) => /^\.?\/?g[123]$/.test(e.name));
        assertEquals(triple.map((e) => e.type), ["file", "link", "link"]);
        assertEquals(triple[0].size, 4);
        assertEquals(triple.slice(1).map((e) => e.linkname), [triple[0].name, triple[0].name]);
        // Pulled into an empty root, the links are one inode.
        await withRoot(async (dst) => {
          await ok(dst, ["pull", ref]);
          const f = (await ok(dst, ["run", "--rm", ref, "stat", "-c", "%i %h", "/f1", "/f2"])).trim().split(
            "\n",
          );
          assertEquals(f.length, 2);
          assertEquals(f[0], f[1]);
          assertMatch(f[0], / 2$/);
          const g = (await ok(dst, ["run", "--rm", ref, "stat", "-c", "%i %h", "/g1", "/g2", "/g3"])).trim()
            .split("\n");
          assertEquals(new Set(g).size, 1);
          assertMatch(g[0], / 3$/);
        });
      })
    ),
});

Deno.test({
  name:
    "case 18 end to end: pulled without Docker-Content-Digest, recorded under the bytes' digest, it runs (root)",
  ignore: !IS_ROOT,
  fn: async () => {
    const img = buildImage([await Deno.readFile(await fixture("busybox"))]);
    for (const omit of [["HEAD", "GET"], ["GET"]] as ("HEAD" | "GET")[][]) {
      const stub = new StubRegistry({ omitDigestOn: omit });
      try {
        stub.seed("static/app", "1", img);
        await withRoot(async (root) => {
          const ref = `${stub.host}/static/app:1`;
          await ok(root, ["pull", ref]);
          const digest = await ok(root, ["images", "--digests", "--format", "{{.Digest}}", ref]);
          assertEquals(digest.trim(), digestOf(img.manifest.bytes));
          assertEquals((await ctr(root, ["run", "--rm", ref, "true"])).code, 0);
        });
      } finally {
        await stub.close();
      }
    }
  },
});
