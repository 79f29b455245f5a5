/**
 * End-to-end tests of the image commands, driving `./ctr` as a user would: import of the
 * busybox and Debian fixtures compared against GNU tar, save/load round trips in both
 * formats, interchange with skopeo, concurrent imports, rmi/prune garbage collection.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr, fixture, IS_ROOT, REPO, withRoot } from "./helpers.ts";
import { describeTree, diffTrees } from "./tree.ts";
import { case06Layer1, dir, file, layer } from "./layers.ts";

const root = { ignore: !IS_ROOT };
const dec = new TextDecoder();

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-ec", script], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${script}\n${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

async function ok(state: string, args: string[], options: Parameters<typeof ctr>[2] = {}): Promise<string> {
  const r = await ctr(state, args, options);
  assertEquals(r.code, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The snapshot directories of an image (topmost first), from `ctr inspect`. */
async function lowerDirs(state: string, image: string): Promise<string[]> {
  const out = await ok(state, ["inspect", "--format", "{{json .GraphDriver.Data}}", image]);
  return JSON.parse(out).LowerDir.split(":");
}

async function blobCount(state: string): Promise<number> {
  try {
    return (await Array.fromAsync(Deno.readDir(`${state}/blobs/sha256`))).length;
  } catch {
    return 0;
  }
}

async function snapshotDirs(state: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(`${state}/snapshots`))).map((e) => e.name)
      .filter((n) => !["tmp", "locks", "empty"].includes(n)).sort();
  } catch {
    return [];
  }
}

for (const name of ["busybox", "debian"] as const) {
  Deno.test(`import of the ${name} fixture unpacks to the same tree as GNU tar (root)`, root, async () => {
    const tarball = await fixture(name);
    await withRoot(async (state) => {
      const id = (await ok(state, ["import", tarball, `${name}:fixture`])).trim();
      assertMatch(id, /^sha256:[a-f0-9]{64}$/);
      const [snap] = await lowerDirs(state, `${name}:fixture`);
      const gnu = `${state}/gnu`;
      await Deno.mkdir(gnu);
      await sh(`tar --numeric-owner -p --xattrs --xattrs-include='*' -xf ${tarball} -C ${gnu}`);
      // names, types, modes, owners, sizes, link targets, device numbers, mtimes (ns), xattrs, hard links
      assertEquals(diffTrees(describeTree(gnu), describeTree(snap)), []);
      const sums = (dir: string) => sh(`cd ${dir} && find . -type f -print0 | sort -z | xargs -0r sha256sum`);
      assertEquals(await sums(snap), await sums(gnu), "file contents equal");
    });
  });
}

Deno.test("import: --change, -m, stdin, and the image's config (root)", root, async () => {
  await withRoot(async (state) => {
    const tar = layer(dir("bin/"), file("bin/hello", "#!/bin/sh\necho hi\n", { mode: 0o755 }));
    const id = (await ok(state, [
      "import",
      "-c",
      "CMD /bin/hello",
      "--change",
      'ENV A=1 B="two words"',
      "-c",
      "WORKDIR /srv",
      "-m",
      "hello image",
      "-",
      "hello:1",
    ], { stdin: tar })).trim();
    const doc = JSON.parse(await ok(state, ["inspect", "hello:1"]))[0];
    assertEquals(doc.Id, id);
    assertEquals(doc.RepoTags, ["hello:1"]);
    assertEquals(doc.Comment, "hello image");
    assertEquals(doc.Config.Cmd, ["/bin/sh", "-c", "/bin/hello"]);
    assertEquals(doc.Config.Env, ["A=1", "B=two words"]);
    assertEquals(doc.Config.WorkingDir, "/srv");
    const hist = await ok(state, ["history", "hello:1"]);
    assertMatch(hist.split("\n")[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assertStringIncludes(hist, "hello image");
    const bad = await ctr(state, ["import", "-c", "RUN true", "-", "x:1"], { stdin: tar });
    assertEquals(bad.code, 1);
    assertStringIncludes(bad.stderr, "run is not a valid change command");
  });
});

Deno.test("images, tag, -q, --digests, --format json and filters (root)", root, async () => {
  await withRoot(async (state) => {
    await ok(state, ["import", "-", "one:1"], { stdin: layer(file("a", "1")) });
    await ok(state, ["tag", "one:1", "localhost:5000/team/one:v2"]);
    await ok(state, ["import", "-"], { stdin: layer(file("b", "2")) }); // dangling
    const table = (await ok(state, ["images"])).trim().split("\n");
    assertMatch(table[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assertEquals(table.length, 4);
    assert(table.some((l) => /^<none>\s+<none>\s+[a-f0-9]{12}\s/.test(l)));
    assert(table.some((l) => /^localhost:5000\/team\/one\s+v2\s/.test(l)));
    const ids = (await ok(state, ["images", "-q"])).trim().split("\n");
    assert(ids.every((i) => /^[a-f0-9]{12}$/.test(i)));
    const json = (await ok(state, ["images", "--format", "json", "one"])).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assertEquals(json.map((j) => [j.Repository, j.Tag]), [["one", "1"]]);
    assertEquals(Object.keys(json[0]), Object.keys(json[0]).sort());
    const dangling =
      (await ok(state, ["images", "-f", "dangling=true", "--format", "{{.Repository}}:{{.Tag}}"]))
        .trim();
    assertEquals(dangling, "<none>:<none>");
    assertMatch((await ok(state, ["images", "--digests"])).split("\n")[0], /DIGEST/);
    assertMatch(await ok(state, ["images", "--no-trunc", "-q", "one:1"]), /^sha256:[a-f0-9]{64}\n$/);
    const missing = await ctr(state, ["tag", "nope:1", "x:1"]);
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.stderr, "No such image: nope:1");
    const notFound = await ctr(state, ["inspect", "nope"]);
    assertEquals([notFound.code, notFound.stdout.trim()], [1, "[]"]);
    assertStringIncludes(notFound.stderr, "No such object: nope");
  });
});

for (const format of ["docker", "oci"]) {
  Deno.test(
    `save --format ${format} then load into an empty root keeps every digest (root)`,
    root,
    async () => {
      await withRoot(async (a) => {
        await withRoot(async (b) => {
          await ok(a, ["import", await fixture("busybox"), "bb:1"]);
          await ok(a, ["import", "-", "small:1"], { stdin: layer(dir("x/"), file("x/y", "z")) });
          const archive = `${a}/out.tar`;
          await ok(a, ["save", "--format", format, "-o", archive, "bb:1", "small:1"]);
          const listing = await sh(`tar tf ${archive}`);
          assertStringIncludes(listing, "index.json");
          assertEquals(listing.includes("manifest.json"), format === "docker");
          const loaded = await ok(b, ["load", "-i", archive]);
          assertEquals(loaded.trim().split("\n").sort(), ["Loaded image: bb:1", "Loaded image: small:1"]);
          const digests = async (s: string) =>
            (await ok(s, ["images", "--digests", "--format", "{{.Repository}} {{.Digest}} {{.ID}}"])).split(
              "\n",
            ).sort();
          assertEquals(await digests(b), await digests(a));
          // And the loaded image is unpacked, identical to the original.
          assertEquals(
            diffTrees(
              describeTree((await lowerDirs(a, "bb:1"))[0]),
              describeTree((await lowerDirs(b, "bb:1"))[0]),
            ),
            [],
          );
        });
      });
    },
  );
}

Deno.test(
  "ctr save output is accepted by skopeo as docker-archive and oci-archive (root)",
  root,
  async () => {
    await withRoot(async (state) => {
      await ok(state, ["import", await fixture("busybox"), "bb:1"]);
      const archive = `${state}/bb.tar`;
      await ok(state, ["save", "-o", archive, "bb:1"]);
      const manifestDigest = (await ok(state, ["images", "--format", "{{.Digest}}", "bb:1"])).trim();
      const d = JSON.parse(await sh(`skopeo inspect --raw docker-archive:${archive}:bb:1`));
      assertEquals(d.layers.length, 1);
      const o = JSON.parse(await sh(`skopeo inspect oci-archive:${archive}:1`));
      assertEquals(o.Digest, manifestDigest);
      // skopeo can copy the whole image out of it.
      await sh(`skopeo copy -q docker-archive:${archive}:bb:1 oci:${state}/layout:x`);
    });
  },
);

Deno.test("archives written by skopeo (docker-archive and oci-archive) load (root)", root, async () => {
  await withRoot(async (state) => {
    await ok(state, ["import", "-", "src:1"], {
      stdin: layer(
        dir("etc/"),
        file("etc/os-release", "ID=test\n"),
        dir("usr/"),
        file("usr/big", "x".repeat(100_000)),
      ),
    });
    await ok(state, ["save", "--format", "oci", "-o", `${state}/src.tar`, "src:1"]);
    await sh(
      `skopeo copy -q oci-archive:${state}/src.tar:1 docker-archive:${state}/sk-docker.tar:sk/docker:1 && ` +
        `skopeo copy -q oci-archive:${state}/src.tar:1 oci-archive:${state}/sk-oci.tar:sk/oci:2`,
    );
    await withRoot(async (fresh) => {
      assertEquals(
        (await ok(fresh, ["load", "-i", `${state}/sk-docker.tar`])).trim(),
        "Loaded image: sk/docker:1",
      );
      assertEquals((await ok(fresh, ["load", "-i", `${state}/sk-oci.tar`])).trim(), "Loaded image: sk/oci:2");
      for (const img of ["sk/docker:1", "sk/oci:2"]) {
        const [snap] = await lowerDirs(fresh, img);
        assertEquals(await Deno.readTextFile(`${snap}/etc/os-release`), "ID=test\n");
      }
      const ids = await ok(fresh, ["images", "--no-trunc", "--format", "{{.ID}}"]);
      assertEquals(new Set(ids.trim().split("\n")).size, 1, "same config, same image ID");
    });
  });
});

Deno.test("load refuses a broken archive and records nothing (root)", root, async () => {
  await withRoot(async (state) => {
    const r = await ctr(state, ["load"], { stdin: layer(file("hello.txt", "not an image")) });
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, "no index.json or manifest.json");
    const truncated = await ctr(state, ["load"], { stdin: new Uint8Array(700).fill(7) });
    assertEquals(truncated.code, 1);
    assertEquals((await ok(state, ["images", "-q"])).trim(), "");
  });
});

Deno.test("two ctr import processes at once both succeed and share the layer (root)", root, async () => {
  const tarball = await fixture("debian");
  await withRoot(async (state) => {
    const [a, b] = await Promise.all([
      ctr(state, ["import", tarball, "deb:a"]),
      ctr(state, ["import", tarball, "deb:b"]),
    ]);
    assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
    assertEquals(await lowerDirs(state, "deb:a"), await lowerDirs(state, "deb:b"));
    assertEquals((await snapshotDirs(state)).length, 1, "one snapshot on disk");
    assertEquals(
      (await Array.fromAsync(Deno.readDir(`${state}/snapshots/tmp`))).length,
      0,
      "nothing left in tmp",
    );
  });
});

Deno.test("rmi untags, deletes and garbage-collects blobs and snapshots; prune (root)", root, async () => {
  await withRoot(async (state) => {
    const base = case06Layer1();
    await ok(state, ["import", "-", "keep:1"], { stdin: base });
    await ok(state, ["tag", "keep:1", "keep:2"]);
    await ok(state, ["import", "-", "gone:1"], { stdin: layer(file("only-here", "1")) });
    const blobsBefore = await blobCount(state);
    assertEquals((await snapshotDirs(state)).length, 2);
    // By name with another name left: only untagged.
    assertEquals(await ok(state, ["rmi", "keep:2"]), "Untagged: keep:2\n");
    // By ID when the names span two repositories: must be forced.
    await ok(state, ["tag", "keep:1", "other/repo:1"]);
    const conflict = await ctr(state, ["rmi", (await ok(state, ["images", "-q", "keep:1"])).trim()]);
    assertEquals(conflict.code, 1);
    assertStringIncludes(conflict.stderr, "image is referenced in multiple repositories");
    await ok(state, ["rmi", "other/repo:1"]);
    // The last name: image, its blobs (layer, config, manifest) and its snapshot go.
    const out = await ok(state, ["rmi", "gone:1"]);
    assertMatch(out, /^Untagged: gone:1\nDeleted: sha256:[a-f0-9]{64}\nDeleted: sha256:[a-f0-9]{64}\n$/);
    assertEquals(await blobCount(state), blobsBefore - 3);
    assertEquals((await snapshotDirs(state)).length, 1);
    const missing = await ctr(state, ["rmi", "gone:1", "keep:1"]);
    assertEquals(missing.code, 1, "one failure makes the exit code 1");
    assertStringIncludes(missing.stderr, "No such image: gone:1");
    assertStringIncludes(missing.stdout, "Untagged: keep:1", "the other one is still removed");
    assertEquals(await blobCount(state), 0);
    assertEquals(await snapshotDirs(state), []);
    // prune: dangling only, then -a.
    await ok(state, ["import", "-"], { stdin: layer(file("d", "1")) });
    await ok(state, ["import", "-", "named:1"], { stdin: layer(file("n", "1")) });
    const pruned = await ok(state, ["image", "prune", "-f"]);
    assertMatch(
      pruned,
      /^Deleted Images:\ndeleted: sha256:[a-f0-9]{64}\ndeleted: sha256:[a-f0-9]{64}\n\nTotal reclaimed space: [\d.]+k?B\n$/,
    );
    assertEquals((await ok(state, ["image", "ls", "-q"])).trim().split("\n").length, 1);
    const declined = await ok(state, ["image", "prune", "-a"], { stdin: "n\n" });
    assertStringIncludes(declined, "Are you sure you want to continue? [y/N]");
    assertEquals((await ok(state, ["image", "ls", "-q"])).trim().split("\n").length, 1);
    assertStringIncludes(await ok(state, ["image", "prune", "-a", "-f"]), "untagged: named:1");
    assertEquals(await blobCount(state), 0);
  });
});

Deno.test("save to stdout piped into load from stdin; import from an http URL (root)", root, async () => {
  const busybox = await fixture("busybox");
  await withRoot(async (a) => {
    await withRoot(async (b) => {
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        async () => new Response((await Deno.open(busybox)).readable),
      );
      try {
        const url = `http://127.0.0.1:${server.addr.port}/busybox.tar`;
        const id = (await ok(a, ["import", url, "bb:url"])).trim();
        const doc = JSON.parse(await ok(a, ["inspect", "bb:url"]))[0];
        assertEquals(doc.Comment, `Imported from ${url}`);
        await sh(`${REPO}/ctr --root ${a} save bb:url | ${REPO}/ctr --root ${b} load`);
        assertEquals((await ok(b, ["images", "--no-trunc", "-q"])).trim(), id);
        // save refuses to write an archive to a terminal only; a missing image fails cleanly.
        const bad = await ctr(a, ["save", "-o", `${a}/x.tar`, "nope:1"]);
        assertEquals(bad.code, 1);
        assertStringIncludes(bad.stderr, "No such image: nope:1");
        assertEquals(await Deno.stat(`${a}/x.tar`).then(() => true, () => false), false, "no partial file");
      } finally {
        await server.shutdown();
      }
    });
  });
});

Deno.test("load picks the host's platform from a multi-platform index (root)", root, async () => {
  await withRoot(async (state) => {
    const { ImageStore } = await import("../image/image_store.ts");
    const { storeImage } = await import("./layers.ts");
    const { hostPlatform } = await import("../image/oci.ts");
    const { encodeTar } = await import("../image/tar/writer.ts");
    const { digestOf } = await import("../image/digest.ts");
    // Two single-platform images in a scratch store: the host's and a foreign one.
    const scratch = `${state}/scratch`;
    const images = ImageStore.open(scratch);
    const host = hostPlatform().architecture;
    const other = host === "amd64" ? "arm64" : "amd64";
    const mine = await storeImage(images, [layer(file("arch", host))], "m:1", {
      config: { architecture: host },
    });
    const theirs = await storeImage(images, [layer(file("arch", other))], "t:1", {
      config: { architecture: other },
    });
    const enc = new TextEncoder();
    const entries: { header: Parameters<typeof encodeTar>[0][0]["header"]; data?: Uint8Array }[] = [];
    const add = (name: string, data: Uint8Array) =>
      entries.push({
        header: { name, type: "file", mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0 },
        data,
      });
    for await (const digest of images.content.list()) {
      add(`blobs/sha256/${digest.slice(7)}`, await images.content.readBytes(digest));
    }
    const desc = async (digest: string, architecture: string) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest,
      size: (await images.content.readBytes(digest)).length,
      platform: { os: "linux", architecture },
    });
    const nested = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [await desc(theirs, other), await desc(mine, host)],
    }));
    add(`blobs/sha256/${digestOf(nested).slice(7)}`, nested);
    add(
      "index.json",
      enc.encode(JSON.stringify({
        schemaVersion: 2,
        manifests: [{
          mediaType: "application/vnd.oci.image.index.v1+json",
          digest: digestOf(nested),
          size: nested.length,
          annotations: { "io.containerd.image.name": "docker.io/library/multi:1" },
        }],
      })),
    );
    add("oci-layout", enc.encode('{"imageLayoutVersion":"1.0.0"}'));
    images.close();
    const target = `${state}/target`;
    assertEquals((await ok(target, ["load"], { stdin: encodeTar(entries) })).trim(), "Loaded image: multi:1");
    const [snap] = await lowerDirs(target, "multi:1");
    assertEquals(await Deno.readTextFile(`${snap}/arch`), host);
    assertEquals(
      (await ok(target, ["images", "--digests", "--format", "{{.Digest}}"])).trim(),
      digestOf(nested),
      "the repo digest is the index's",
    );
  });
});

Deno.test("an import or load refused for an unsafe layer leaves nothing behind (root)", root, async () => {
  await withRoot(async (state) => {
    const evil = layer(dir("ok/"), file("ok/f", "1"), file("../escape", "x"));
    const r = await ctr(state, ["import", "-", "evil:1"], { stdin: evil });
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, 'Refusing layer entry "../escape"');
    assertEquals(await blobCount(state), 0);
    assertEquals(await snapshotDirs(state), []);
    assertEquals((await ok(state, ["images", "-q"])).trim(), "");
    // The same layer inside an archive.
    await withRoot(async (other) => {
      const { storeImage } = await import("./layers.ts");
      const { ImageStore } = await import("../image/image_store.ts");
      const images = ImageStore.open(other);
      await storeImage(images, [evil], "evil:1");
      images.close();
      const saved = await ctr(other, ["save", "-o", `${other}/evil.tar`, "evil:1"]);
      assertEquals(saved.code, 0, saved.stderr);
      const l = await ctr(state, ["load", "-i", `${other}/evil.tar`]);
      assertEquals(l.code, 1);
      assertStringIncludes(l.stderr, 'Refusing layer entry "../escape"');
      assertEquals(await blobCount(state), 0);
      assertEquals(await snapshotDirs(state), []);
      assertEquals((await ok(state, ["images", "-q"])).trim(), "");
    });
  });
});
