import { assert, assertEquals } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import { describeTree, diffTrees } from "../tests/tree.ts";
import { libc } from "../ffi/libc.ts";
import { MS } from "../ffi/constants.ts";
import { writeLayerBlob, writeLayerFromDir } from "./layer_writer.ts";
import { readTar } from "./tar/reader.ts";
import type { TarHeader } from "./tar/header.ts";
import { unpackTar } from "./unpack.ts";
import { ContentStore } from "./content_store.ts";
import { digestOf } from "./digest.ts";
import { decompressStream } from "./compression.ts";

const root = { ignore: !IS_ROOT };

async function headers(stream: ReadableStream<Uint8Array>): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of readTar(stream)) out.push(e.header);
  return out;
}

async function sh(script: string, cwd: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-ec", script], cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`${script}: ${new TextDecoder().decode(out.stderr)}`);
  return text;
}

async function temp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-layerw-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Mounts lower(s)+upper on `merged`, runs `fn`, unmounts. */
async function withOverlay(
  base: string,
  lowers: string[],
  fn: (merged: string) => Promise<void> | void,
): Promise<void> {
  for (const d of ["upper", "work", "merged"]) await Deno.mkdir(`${base}/${d}`, { recursive: true });
  libc.mount(
    "overlay",
    `${base}/merged`,
    "overlay",
    0,
    `lowerdir=${lowers.join(":")},upperdir=${base}/upper,workdir=${base}/work,redirect_dir=off,index=off`,
  );
  try {
    await fn(`${base}/merged`);
  } finally {
    libc.umount(`${base}/merged`);
  }
}

Deno.test("layer writer turns an overlayfs upper dir into OCI form and back (root)", root, async () => {
  await temp(async (base) => {
    await Deno.mkdir(`${base}/lower`);
    await sh(
      "mkdir -p lower/etc lower/opq/sub lower/gone && echo a > lower/etc/a && echo b > lower/etc/b && " +
        "echo o > lower/opq/sub/old && echo x > lower/gone/x && printf data > lower/f1",
      base,
    );
    await withOverlay(base, [`${base}/lower`], async (merged) => {
      await sh(
        "rm etc/b && rm -r gone && rm -r opq && mkdir opq && echo new > opq/new && ln f1 f2 && " +
          "echo same > g1 && ln g1 g2 && ln g1 g3 && mkfifo etc/fifo && ln -s ../f1 etc/link",
        merged,
      );
    });
    const hs = await headers(writeLayerFromDir(`${base}/upper`));
    const names = hs.map((h) => h.name);
    // Sorted by the names on disk (a whiteout sorts as the name it hides).
    assertEquals(names, [
      "etc/",
      "etc/.wh.b",
      "etc/fifo",
      "etc/link",
      "f1",
      "f2",
      "g1",
      "g2",
      "g3",
      ".wh.gone",
      "opq/",
      "opq/.wh..wh..opq",
      "opq/new",
    ]);
    // Order: the opaque marker right after its directory; hard links after their target.
    assertEquals(names.indexOf("opq/.wh..wh..opq"), names.indexOf("opq/") + 1);
    const byName = new Map(hs.map((h) => [h.name, h]));
    assertEquals([byName.get("f1")!.type, byName.get("f1")!.size], ["file", 4]);
    assertEquals([byName.get("f2")!.type, byName.get("f2")!.linkname], ["link", "f1"]);
    assertEquals(["g2", "g3"].map((n) => [byName.get(n)!.type, byName.get(n)!.linkname]), [["link", "g1"], [
      "link",
      "g1",
    ]]);
    assert(names.indexOf("f2") > names.indexOf("f1"));
    for (const h of hs) {
      assertEquals(h.uname, undefined);
      for (const x of Object.keys(h.xattrs ?? {})) assert(!x.includes("overlay"), `no overlay xattrs: ${x}`);
    }
    // Round trip: unpacking the layer above the same lower gives the same merged view.
    const expected = await (async () => {
      let t = new Map<string, string>();
      await withOverlay(base, [`${base}/lower`], (m) => {
        t = describeTree(m, { mtimes: false, xattrs: false });
      });
      return t;
    })();
    await Deno.mkdir(`${base}/snap`);
    await unpackTar(writeLayerFromDir(`${base}/upper`), `${base}/snap`, { lowerDirs: [`${base}/lower`] });
    await Deno.mkdir(`${base}/m2`);
    libc.mount("overlay", `${base}/m2`, "overlay", MS.RDONLY, `lowerdir=${base}/snap:${base}/lower`);
    try {
      assertEquals(diffTrees(expected, describeTree(`${base}/m2`, { mtimes: false, xattrs: false })), []);
    } finally {
      libc.umount(`${base}/m2`);
    }
  });
});

Deno.test(
  "case 08: a layer with hard links is self-contained and extracts with plain tar (root)",
  root,
  async () => {
    await temp(async (base) => {
      await sh(
        "mkdir up && printf data > up/f1 && ln up/f1 up/f2 && printf same > up/g1 && ln up/g1 up/g2 && ln up/g1 up/g3",
        base,
      );
      await Deno.writeFile(`${base}/layer.tar`, writeLayerFromDir(`${base}/up`));
      await Deno.mkdir(`${base}/e`);
      await sh("tar -xf layer.tar -C e", base);
      assertEquals(await sh("stat -c '%h' e/f1 e/f2 e/g1 e/g3", base), "2\n2\n3\n3\n");
      const hs = await headers((await Deno.open(`${base}/layer.tar`)).readable);
      assertEquals(hs.map((h) => [h.name, h.type, h.size, h.linkname ?? ""]), [
        ["f1", "file", 4, ""],
        ["f2", "link", 0, "f1"],
        ["g1", "file", 4, ""],
        ["g2", "link", 0, "g1"],
        ["g3", "link", 0, "g1"],
      ]);
    });
  },
);

Deno.test("layer writer is deterministic and clamps mtimes to SOURCE_DATE_EPOCH (root)", root, async () => {
  await temp(async (base) => {
    await sh(
      "mkdir -p up/b up/a && echo 1 > up/b/x && echo 2 > up/a/y && touch -d @2000000000.5 up/a/y && " +
        "touch -d @100 up/b/x && chown 12:34 up/b/x && chmod 4711 up/b/x",
      base,
    );
    const digest = async () =>
      digestOf(
        new Uint8Array(
          await new Response(writeLayerFromDir(`${base}/up`, { sourceDateEpoch: 1000 })).arrayBuffer(),
        ),
      );
    const d1 = await digest();
    await sh("touch up/a up/b", base); // directory mtimes now, clamped anyway
    assertEquals(await digest(), d1);
    const hs = await headers(writeLayerFromDir(`${base}/up`, { sourceDateEpoch: 1000 }));
    assertEquals(hs.map((h) => [h.name, h.mtime, h.mtimeNsec]), [
      ["a/", 1000, undefined],
      ["a/y", 1000, undefined],
      ["b/", 1000, undefined],
      ["b/x", 100, undefined],
    ]);
    const x = hs[3];
    assertEquals([x.uid, x.gid, x.mode], [12, 34, 0o4711]);
  });
});

Deno.test("writeLayerBlob stores a compressed blob and reports its diff ID (root)", root, async () => {
  await temp(async (base) => {
    await sh("mkdir up && echo hi > up/f", base);
    const store = new ContentStore(`${base}/state`);
    for (const compression of ["gzip", "zstd", "none"] as const) {
      const r = await writeLayerBlob(store, `${base}/up`, { compression });
      const blob = await store.readBytes(r.descriptor.digest, { verify: true });
      assertEquals(r.descriptor.size, blob.length);
      const { stream, compression: detected } = await decompressStream(ReadableStream.from([blob]));
      assertEquals(detected, compression);
      const tar = new Uint8Array(await new Response(stream).arrayBuffer());
      assertEquals(digestOf(tar), r.diffId);
      assertEquals(r.tarSize, tar.length);
    }
  });
});
