/**
 * Pinning by digest: `name@sha256:…` is accepted wherever a name is — pull, push (the
 * manifest goes under its digest, no tag), tag, inspect, history, save and run.
 *
 * @module
 */
import { assertEquals, assertStringIncludes } from "./assert.ts";
import { ctr, IS_ROOT, type RunResult, withRoot } from "./helpers.ts";
import { http, withRegistry } from "./registry_helpers.ts";
import { importFixtureImage } from "./fixture_image.ts";
import { buildImage, storeImage } from "./image_builder.ts";

async function run(root: string, args: string[]): Promise<RunResult> {
  return await ctr(root, args, { env: { DOCKER_CONFIG: `${root}/.docker` } });
}

async function ok(root: string, args: string[]): Promise<string> {
  const r = await run(root, args);
  assertEquals(r.code, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

Deno.test("pinning: push and pull by digest, tag/inspect/history/save by name@digest", () =>
  withRegistry((reg) =>
    withRoot(async (src) => {
      const img = buildImage([{ "etc/": "", "etc/pinned": "yes\n" }]);
      const repo = `${reg.host}/pin/app`;
      await storeImage(src, `${repo}:1`, img);
      const d = img.manifest.digest;
      const pushed = await ok(src, ["push", `${repo}@${d}`]);
      assertStringIncludes(pushed, `digest: ${d}`);
      // under its digest, and no tag was made
      assertEquals((await http(reg.url, "HEAD", `/v2/pin/app/manifests/${d}`)).status, 200);
      assertEquals((await http(reg.url, "GET", "/v2/pin/app/tags/list")).json, { name: "pin/app", tags: [] });
      const other = await run(src, ["push", `${repo}@sha256:${"0".repeat(64)}`]);
      assertEquals(other.code, 1);
      assertStringIncludes(other.stderr, "No such image");
      await withRoot(async (dst) => {
        const p = await ok(dst, ["pull", `${repo}@${d}`]);
        assertStringIncludes(p, `Digest: ${d}`);
        assertEquals((await ok(dst, ["inspect", "-f", "{{.Id}}", `${repo}@${d}`])).trim(), img.config.digest);
        await ok(dst, ["tag", `${repo}@${d}`, "local/pinned:2"]);
        assertEquals(
          (await ok(dst, ["inspect", "-f", "{{.Id}}", "local/pinned:2"])).trim(),
          img.config.digest,
        );
        assertEquals((await ok(dst, ["history", "-q", `${repo}@${d}`])).trim().length > 0, true);
        await ok(dst, ["save", "-o", `${dst}/out.tar`, `${repo}@${d}`]);
        assertEquals((await Deno.stat(`${dst}/out.tar`)).size > 0, true);
        // a digest the name does not hold
        const miss = await run(dst, ["inspect", `${repo}@sha256:${"1".repeat(64)}`]);
        assertEquals(miss.code, 1);
      });
    })
  ));

Deno.test({
  name: "pinning: run name@digest (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRoot(async (root) => {
      await importFixtureImage(root, "busybox");
      const d = (await ok(root, ["images", "--digests", "--format", "{{.Digest}}", "busybox"])).trim();
      assertEquals(await ok(root, ["run", "--rm", `busybox@${d}`, "echo", "pinned"]), "pinned\n");
      const miss = await run(root, ["run", "--rm", `busybox@sha256:${"2".repeat(64)}`, "true"]);
      assertEquals(miss.code, 125);
      assertStringIncludes(miss.stderr, "Unable to find image");
    }),
});
