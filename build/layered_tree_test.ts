import { assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import { libc } from "../ffi/libc.ts";
import { LayeredTree } from "./layered_tree.ts";
import { layerSubdirs } from "./run_mounts.ts";
import { planCopy } from "./copy_plan.ts";

/**
 * Three layers, bottom to top:
 *   a: /out/{keep,gone,old/x}, /etc/os, /opq/{below}, /f/inner
 *   b: /out/gone whited out, /out/new, /opq opaque with /opq/mine, /f replaced by a file
 *   c: /out/keep replaced, /out/old whited out
 */
async function layers(): Promise<{ dirs: string[]; cleanup: () => Promise<void> }> {
  const base = await Deno.makeTempDir();
  const [c, b, a] = ["c", "b", "a"].map((n) => `${base}/${n}`);
  const w = async (p: string, text: string) => {
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(p, text);
  };
  await w(`${a}/out/keep`, "a-keep");
  await w(`${a}/out/gone`, "a-gone");
  await w(`${a}/out/old/x`, "a-x");
  await w(`${a}/etc/os`, "debian");
  await w(`${a}/opq/below`, "hidden by opaque");
  await w(`${a}/f/inner`, "hidden by a file");
  await Deno.mkdir(`${b}/out`, { recursive: true });
  libc.mknod(`${b}/out/gone`, 0o20000, 0, 0);
  await w(`${b}/out/new`, "b-new");
  await w(`${b}/opq/mine`, "b-mine");
  libc.lsetxattr(`${b}/opq`, "trusted.overlay.opaque", new TextEncoder().encode("y"));
  await w(`${b}/f`, "now a file");
  await w(`${c}/out/keep`, "c-keep");
  libc.mknod(`${c}/out/old`, 0o20000, 0, 0);
  return { dirs: [c, b, a], cleanup: () => Deno.remove(base, { recursive: true }) };
}

const root = { ignore: !IS_ROOT };

Deno.test(
  "LayeredTree merges layers as overlayfs does: whiteouts, opaque dirs, files over dirs (root)",
  root,
  async () => {
    const { dirs, cleanup } = await layers();
    try {
      const tree = new LayeredTree(dirs);
      assertEquals(tree.children("out").map((e) => e.path), ["out/keep", "out/new"]);
      assertEquals(tree.children("opq").map((e) => e.path), ["opq/mine"]);
      assertEquals(tree.get("out/gone"), undefined);
      assertEquals(tree.get("out/old/x"), undefined);
      assertEquals(tree.get("opq/below"), undefined);
      assertEquals(tree.get("f")?.type, "file");
      assertEquals(tree.get("f/inner"), undefined);
      assertEquals(await Deno.readTextFile(tree.hostPath("out/keep")), "c-keep");
      assertEquals(await Deno.readTextFile(tree.hostPath("etc/os")), "debian");
      assertEquals(tree.children("").map((e) => e.path), ["etc", "f", "opq", "out"]);
      const items = planCopy(tree, ["/out/"], "/www/", { workdir: "/" });
      assertEquals(items.map((i) => i.to), ["/www", "/www/keep", "/www/new"]);
      assertEquals(await tree.digest("out/new"), await tree.digest("out/new"));
      assertThrows(() => tree.hostPath("out/gone"));
    } finally {
      await cleanup();
    }
  },
);

Deno.test(
  "layerSubdirs gives the overlay of one directory across layers, or its single file (root)",
  root,
  async () => {
    const { dirs, cleanup } = await layers();
    try {
      const [c, b, a] = dirs;
      assertEquals(await layerSubdirs(dirs, "/out"), { dirs: [`${c}/out`, `${b}/out`, `${a}/out`] });
      assertEquals(await layerSubdirs(dirs, "opq"), { dirs: [`${b}/opq`] });
      assertEquals(await layerSubdirs(dirs, "/etc/os"), { file: `${a}/etc/os` });
      assertEquals(await layerSubdirs(dirs, "/"), { dirs });
      await assertRejects(() => layerSubdirs(dirs, "/out/old"), Error, "not found");
      await assertRejects(() => layerSubdirs(dirs, "/f/inner"), Error, "not found");
    } finally {
      await cleanup();
    }
  },
);
