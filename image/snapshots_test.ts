import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "../tests/assert.ts";
import { fixture, IS_ROOT, withRoot } from "../tests/helpers.ts";
import { case06Layer1, case06Layer2, dir, file, layer, storeImage, symlink } from "../tests/layers.ts";
import { ImageStore } from "./image_store.ts";
import { chainIds, overlayMountData, SnapshotStore } from "./snapshots.ts";
import { LayerError } from "./unpack.ts";
import { digestOf } from "./digest.ts";

const root = { ignore: !IS_ROOT };
const enc = new TextEncoder();

function open(state: string) {
  const images = ImageStore.open(state);
  return { images, snapshots: SnapshotStore.open(state, images) };
}

async function dirNames(path: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

Deno.test("chainIds follow the OCI definition", () => {
  const a = digestOf("a"), b = digestOf("b"), c = digestOf("c");
  const ids = chainIds([a, b, c]);
  assertEquals(ids[0], a);
  assertEquals(ids[1], digestOf(`${a} ${b}`));
  assertEquals(ids[2], digestOf(`${ids[1]} ${c}`));
  assertEquals(chainIds([]), []);
});

Deno.test("prepare unpacks each layer once and shares snapshots between images (root)", root, async () => {
  await withRoot(async (state) => {
    const { images, snapshots } = open(state);
    try {
      const base = layer(dir("etc/"), file("etc/os", "test"));
      await storeImage(images, [base, layer(file("a", "1"))], "one:1");
      await storeImage(images, [base, layer(file("b", "2"))], "two:1", { compression: "zstd" });
      const one = await snapshots.prepare(await images.load("one:1"));
      const two = await snapshots.prepare(await images.load("two:1"));
      assertEquals(one.lowerDirs.length, 2);
      assertEquals(one.lowerDirs[1], two.lowerDirs[1], "the base layer is shared");
      assertNotEquals(one.lowerDirs[0], two.lowerDirs[0]);
      assertEquals(one.relativeLowerDirs.map((r) => `${one.snapshotsDir}/${r}`), one.lowerDirs);
      assertEquals(await Deno.readTextFile(`${one.lowerDirs[0]}/a`), "1");
      assertEquals(await Deno.readTextFile(`${two.lowerDirs[1]}/etc/os`), "test");
      assertEquals(snapshots.list().length, 3);
      const again = await snapshots.prepare(await images.load("one:1"));
      assertEquals(again.lowerDirs, one.lowerDirs);
      assertEquals(one.topChainId, one.chainIds[1]);
      assert(one.relativeLowerDirs.every((r) => r.length === 16));
    } finally {
      images.close();
    }
  });
});

Deno.test("adopt moves a ready layer dir into place instead of unpacking its blob (root)", root, async () => {
  await withRoot(async (state) => {
    const { images, snapshots } = open(state);
    try {
      await storeImage(images, [layer(dir("etc/"), file("etc/os", "test"))], "base:1");
      const base = await snapshots.prepare(await images.load("base:1"));
      const ready = await Deno.makeTempDir({ dir: state });
      await Deno.writeTextFile(`${ready}/made`, "by a build step");
      const diffId = digestOf("pretend layer");
      const rec = await snapshots.adopt(ready, { parent: base.topChainId, diffId, size: 15 });
      assertEquals(rec.chainId, chainIds([base.chainIds[0], diffId])[1]);
      assertEquals(rec.parent, base.topChainId);
      assertEquals(rec.size, 15);
      assertEquals(await Deno.readTextFile(`${snapshots.path(rec.id)}/made`), "by a build step");
      await assertRejects(() => Deno.lstat(ready), Deno.errors.NotFound);
      // The same chain again: the existing snapshot wins, the new directory is removed.
      const again = await Deno.makeTempDir({ dir: state });
      assertEquals((await snapshots.adopt(again, { parent: base.topChainId, diffId, size: 15 })).id, rec.id);
      await assertRejects(() => Deno.lstat(again), Deno.errors.NotFound);
      // An unknown parent chain is refused and the directory stays where it was.
      const orphan = await Deno.makeTempDir({ dir: state });
      await assertRejects(() => snapshots.adopt(orphan, { parent: digestOf("nope"), diffId, size: 0 }));
      assert((await Deno.lstat(orphan)).isDirectory);
      assertEquals(await dirNames(`${state}/snapshots/tmp`), []);
    } finally {
      images.close();
    }
  });
});

Deno.test("case 06 through the snapshot store: layer order and markers (root)", root, async () => {
  await withRoot(async (state) => {
    const { images, snapshots } = open(state);
    try {
      await storeImage(images, [case06Layer1(), case06Layer2()], "c06:1");
      const r = await snapshots.prepare(await images.load("c06:1"));
      assertEquals(await Deno.readTextFile(`${r.lowerDirs[0]}/a/b/c/new`), "new\n");
      assertEquals(await Deno.readTextFile(`${r.lowerDirs[1]}/a/b/c/old`), "old\n");
    } finally {
      images.close();
    }
  });
});

Deno.test("a refused layer leaves no snapshot and no partial directory (root)", root, async () => {
  await withRoot(async (state) => {
    const { images, snapshots } = open(state);
    try {
      await storeImage(images, [
        layer(dir("ok/"), file("ok/f", "1"), symlink("l", "/etc"), file("l/passwd", "x")),
      ], "bad:1");
      const err = await assertRejects(async () => snapshots.prepare(await images.load("bad:1")), LayerError);
      assertStringIncludes(err.message, '"l/passwd"');
      assertEquals(snapshots.list(), []);
      assertEquals(await dirNames(`${state}/snapshots/tmp`), []);
      assertEquals((await dirNames(`${state}/snapshots`)).filter((n) => !["tmp", "locks"].includes(n)), []);
    } finally {
      images.close();
    }
  });
});

Deno.test("a layer whose content does not match its diff ID is refused (root)", root, async () => {
  await withRoot(async (state) => {
    const { images, snapshots } = open(state);
    try {
      const good = layer(file("a", "1"));
      await storeImage(images, [good], "lie:1", {
        config: { rootfs: { type: "layers", diff_ids: [digestOf("something else")] } },
      });
      await assertRejects(
        async () => snapshots.prepare(await images.load("lie:1")),
        LayerError,
        "has diff ID",
      );
      assertEquals(snapshots.list(), []);
    } finally {
      images.close();
    }
  });
});

Deno.test("refs keep snapshots alive through prune; without refs they go (root)", root, async () => {
  await withRoot(async (state) => {
    const { images, snapshots } = open(state);
    try {
      await storeImage(images, [layer(file("a", "1")), layer(file("b", "2"))], "r:1");
      const r = await snapshots.prepare(await images.load("r:1"), { holder: "container:abc" });
      assertEquals(snapshots.refs().map((x) => [x.holder, x.chainId]), [["container:abc", r.topChainId]]);
      assertEquals(snapshots.referencedChains(), new Set(r.chainIds));
      assertEquals((await snapshots.prune(snapshots.referencedChains())).length, 0);
      snapshots.removeRef("container:abc");
      const removed = await snapshots.prune(new Set());
      assertEquals(removed.length, 2);
      for (const d of r.lowerDirs) assertEquals(await dirNames(d), []);
      assertEquals(snapshots.list(), []);
    } finally {
      images.close();
    }
  });
});

/** A small program that prepares an image; used to run several processes at once. */
async function prepareScript(state: string): Promise<string> {
  const script = `${state}/prepare.ts`;
  await Deno.writeTextFile(
    script,
    `import { ImageStore } from ${JSON.stringify(new URL("./image_store.ts", import.meta.url).href)};
     import { SnapshotStore } from ${JSON.stringify(new URL("./snapshots.ts", import.meta.url).href)};
     const images = ImageStore.open(Deno.args[0]);
     const r = await SnapshotStore.open(Deno.args[0], images).prepare(await images.load(Deno.args[1]));
     console.log(JSON.stringify(r.lowerDirs));`,
  );
  return script;
}

Deno.test(
  "a killed unpack leaves nothing under its chain ID; the next prepare succeeds (root)",
  root,
  async () => {
    const debian = await fixture("debian");
    await withRoot(async (state) => {
      const { images, snapshots } = open(state);
      try {
        const blob = await Deno.readFile(debian);
        const tarBytes = new Uint8Array(
          await new Response(new Blob([blob]).stream().pipeThrough(new DecompressionStream("gzip")))
            .arrayBuffer(),
        );
        const b = await images.content.put(blob);
        const c = await images.content.put(enc.encode(JSON.stringify({
          architecture: "amd64",
          os: "linux",
          rootfs: { type: "layers", diff_ids: [digestOf(tarBytes)] },
        })));
        const m = await images.content.put(enc.encode(JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: c.digest, size: c.size },
          layers: [{
            mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
            digest: b.digest,
            size: b.size,
          }],
        })));
        await images.addImage(m.digest);
        images.tag("deb:1", m.digest);
        const script = await prepareScript(state);
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--unstable-worker-options", "--quiet", script, state, "deb:1"],
          stdout: "null",
          stderr: "null",
        }).spawn();
        // Wait until the unpack is under way (files appear in tmp/), then kill it.
        for (let i = 0; i < 200; i++) {
          const tmp = await dirNames(`${state}/snapshots/tmp`);
          if (tmp.length && (await dirNames(`${state}/snapshots/tmp/${tmp[0]}`)).length) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        child.kill("SIGKILL");
        await child.status;
        assertEquals(snapshots.list(), [], "no record");
        assertEquals(
          (await dirNames(`${state}/snapshots`)).filter((n) => !["tmp", "locks"].includes(n)),
          [],
          "no snapshot directory",
        );
        assertEquals((await dirNames(`${state}/snapshots/tmp`)).length, 1, "the killed unpack's leftovers");
        const r = await snapshots.prepare(await images.load("deb:1"));
        assertEquals(r.lowerDirs.length, 1);
        await snapshots.prune(new Set(r.chainIds));
        assertEquals(await dirNames(`${state}/snapshots/tmp`), [], "stale unpack swept");
        assert((await dirNames(r.lowerDirs[0])).includes("usr"));
      } finally {
        images.close();
      }
    });
  },
);

Deno.test("processes preparing the same image at once both succeed and share it (root)", root, async () => {
  await withRoot(async (state) => {
    const { images, snapshots } = open(state);
    try {
      const big = new Uint8Array(8 << 20).map((_, i) => (i * 7) % 256);
      await storeImage(images, [layer(file("big", big)), layer(file("top", "t"))], "con:1");
      const script = await prepareScript(state);
      const run = () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--unstable-worker-options", "--quiet", script, state, "con:1"],
          stdout: "piped",
          stderr: "piped",
        }).output();
      const [a, b] = await Promise.all([run(), run()]);
      const dec = new TextDecoder();
      assertEquals([a.code, b.code], [0, 0], dec.decode(a.stderr) + dec.decode(b.stderr));
      assertEquals(dec.decode(a.stdout), dec.decode(b.stdout));
      assertEquals(snapshots.list().length, 2);
    } finally {
      images.close();
    }
  });
});

Deno.test("a 128-layer image mounts with relative lower dirs that fit in one page (root)", root, async () => {
  await withRoot(async (state) => {
    const { images, snapshots } = open(state);
    try {
      const layers = Array.from({ length: 128 }, (_, i) => layer(file(`f${i}`, String(i))));
      await storeImage(images, layers, "tall:1", { compression: "none" });
      const r = await snapshots.prepare(await images.load("tall:1"));
      assertEquals(r.lowerDirs.length, 128);
      assert(
        r.lowerDirs.join(":").length > 4096,
        "the absolute form would not fit (this test would prove nothing)",
      );
      const { data: option, cwd: mountCwd } = overlayMountData(r);
      assertEquals(mountCwd, r.snapshotsDir);
      assertEquals(option, `lowerdir=${r.relativeLowerDirs.join(":")}`);
      assert(
        option.length < 4096 - 1000,
        `mount data ${option.length} bytes leaves room for upper/work dirs`,
      );
      await Deno.mkdir(`${state}/merged`);
      const { libc } = await import("../ffi/libc.ts");
      // Paths in mount data resolve against the caller's working directory: mount from a
      // child process started there (chdir here would move every test of this process).
      const m = await new Deno.Command("mount", {
        args: ["-t", "overlay", "overlay", "-o", `ro,${option}`, `${state}/merged`],
        cwd: mountCwd,
        stderr: "piped",
      }).output();
      assertEquals(m.code, 0, new TextDecoder().decode(m.stderr));
      try {
        assertEquals(await Deno.readTextFile(`${state}/merged/f0`), "0");
        assertEquals(await Deno.readTextFile(`${state}/merged/f127`), "127");
        assertEquals((await dirNames(`${state}/merged`)).length, 128);
      } finally {
        libc.umount(`${state}/merged`);
      }
    } finally {
      images.close();
    }
  });
});
