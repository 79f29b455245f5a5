/**
 * `ctr build` features beyond COPY and RUN, each as a real build: ADD of local archives and
 * of URLs (a loopback HTTP server started here), `RUN --mount` of every type, RUN's
 * network modes, pulling missing images from a registry, and `ctr builder prune`.
 */
import { gzipSync, zstdCompressSync } from "node:zlib";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { ctr, IS_ROOT, withRoot } from "./helpers.ts";
import {
  build,
  buildOk,
  buildTest,
  importFixture,
  runIn,
  stepResults,
  withContext,
} from "./build_helpers.ts";
import { makeTar } from "./image_builder.ts";
import { havePeers, startDistribution } from "./peers/distribution.ts";

buildTest(
  "build: ADD extracts local tar archives (plain, gzip, zstd) but copies archives inside directories",
  async (root) => {
    const tar = makeTar({ "app/": "", "app/a.txt": "a\n", "app/sub/": "", "app/sub/b.txt": "b\n" });
    await withContext({
      Dockerfile: `FROM busybox
ADD plain.tar /x/plain
ADD app.tgz app.tar.zst /x/multi/
ADD --chown=5:6 app.tgz /x/owned/
ADD --unpack=false app.tgz /x/packed/
ADD dir/ /x/dir/
ADD notatar.gz /x/
`,
      "plain.tar": tar,
      "app.tgz": gzipSync(tar),
      "app.tar.zst": zstdCompressSync(tar),
      "dir/inner.tgz": gzipSync(tar),
      "notatar.gz": gzipSync(new TextEncoder().encode("just text\n")),
    }, async (dir) => {
      await buildOk(root, dir, ["-t", "adds"]);
      const listing = await runIn(root, ["adds", "sh", "-c", "cd /x && find . -type f | sort"]);
      assertEquals(listing.split("\n"), [
        "./dir/inner.tgz",
        "./multi/app/a.txt",
        "./multi/app/sub/b.txt",
        "./notatar.gz",
        "./owned/app/a.txt",
        "./owned/app/sub/b.txt",
        "./packed/app.tgz",
        "./plain/app/a.txt",
        "./plain/app/sub/b.txt",
        "",
      ]);
      assertEquals(await runIn(root, ["adds", "stat", "-c", "%u:%g", "/x/owned/app/sub/b.txt"]), "5:6\n");
      assertEquals(await runIn(root, ["adds", "cat", "/x/plain/app/sub/b.txt"]), "b\n");
    });
  },
);

buildTest("build: ADD of a refused archive entry fails naming it", async (root) => {
  const evil = makeTar({ "../escape.txt": "out\n" });
  await withContext({ Dockerfile: "FROM busybox\nADD evil.tar /x/\n", "evil.tar": evil }, async (dir) => {
    const r = await build(root, dir, ["-t", "evil"]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, "Dockerfile:2: ADD evil.tar /x/:");
    assertStringIncludes(r.stderr, "../escape.txt");
  });
});

buildTest("build: ADD downloads URLs, checks --checksum, names HTTP failures", async (root) => {
  const body = "hello over http\n";
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    hits++;
    const path = new URL(req.url).pathname;
    if (path === "/files/hello.txt") return new Response(body);
    return new Response("no", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const digest = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body))),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    await withContext({
      Dockerfile: `FROM busybox
ADD --checksum=sha256:${digest} ${base}/files/hello.txt /data/
ADD --chmod=644 ${base}/files/hello.txt /data/renamed.txt
`,
    }, async (dir) => {
      await buildOk(root, dir, ["-t", "urls"]);
      assertEquals(
        await runIn(root, ["urls", "sh", "-c", "stat -c '%a %n' /data/* && cat /data/hello.txt"]),
        "600 /data/hello.txt\n644 /data/renamed.txt\nhello over http\n",
      );
      // Downloaded again on a rebuild (the bytes key the cache), and then cached.
      const before = hits;
      const again = await buildOk(root, dir, ["-t", "urls"]);
      assert(hits > before);
      assert(stepResults(again.stderr).every((s) => s.result === "CACHED"));

      await Deno.writeTextFile(
        `${dir}/Dockerfile`,
        `FROM busybox\nADD --checksum=sha256:${"0".repeat(64)} ${base}/files/hello.txt /\n`,
      );
      const bad = await build(root, dir, ["-t", "urls2"]);
      assertEquals(bad.code, 1);
      assertStringIncludes(bad.stderr, `digest mismatch sha256:${digest}`);
      await Deno.writeTextFile(`${dir}/Dockerfile`, `FROM busybox\nADD ${base}/files/missing.txt /\n`);
      const missing = await build(root, dir, ["-t", "urls2"]);
      assertEquals(missing.code, 1);
      assertStringIncludes(
        missing.stderr,
        `failed to load ${base}/files/missing.txt: invalid response status 404`,
      );
      await Deno.writeTextFile(`${dir}/Dockerfile`, `FROM busybox\nADD ${base}/repo.git#main /src\n`);
      const git = await build(root, dir, ["-t", "urls2"]);
      assertEquals(git.code, 1);
      assertStringIncludes(git.stderr, `ADD of a git repository is not supported: ${base}/repo.git#main`);
    });
  } finally {
    await server.shutdown();
  }
});

buildTest(
  "build: RUN --mount bind, cache, tmpfs and secret; --network none and host; no mount point stays",
  async (root) => {
    await withContext({
      Dockerfile: `FROM busybox AS tools
RUN mkdir /out && echo from-stage > /out/o.txt && echo lower > /out/lower.txt
RUN rm /out/lower.txt && echo upper > /out/u.txt
FROM busybox
RUN --mount=type=bind,target=/ctx ls /ctx > /ctx.txt
RUN --mount=type=bind,source=sub,target=/sub,rw echo scribble > /sub/new && ls /sub > /sub.txt
RUN --mount=type=bind,from=tools,source=/out,target=/o ls /o > /o.txt && cat /o/o.txt >> /o.txt
RUN --mount=type=cache,target=/var/cache/app,id=counter echo x >> /var/cache/app/count && wc -l < /var/cache/app/count > /count
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /scratch.txt
RUN --mount=type=secret,id=token,required=true cat /run/secrets/token > /secret.txt
RUN --mount=type=secret,id=token,env=TOKEN,target=/etc/token echo "env:$TOKEN" > /secret-env.txt
RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /net-none
RUN --network=host cat /proc/net/dev | tail -n +3 | wc -l > /net-host
`,
      ".dockerignore": "ignored.txt\n",
      "ignored.txt": "hidden",
      "seen.txt": "seen",
      "sub/file.txt": "in sub",
    }, async (dir) => {
      await Deno.writeTextFile(`${dir}.secret`, "s3cr3t\n");
      try {
        const args = ["--secret", `id=token,src=${dir}.secret`, "-t", "mounts"];
        await buildOk(root, dir, args);
        const show = (f: string) => runIn(root, ["mounts", "cat", f]);
        assertEquals(await show("/ctx.txt"), "Dockerfile\nseen.txt\nsub\n");
        assertEquals(await show("/sub.txt"), "file.txt\nnew\n");
        assertEquals(await show("/o.txt"), "o.txt\nu.txt\nfrom-stage\n");
        assertEquals(await show("/count"), "1\n");
        assertEquals(await show("/scratch.txt"), "x\n");
        assertEquals(await show("/secret.txt"), "s3cr3t\n");
        assertEquals(await show("/secret-env.txt"), "env:s3cr3t\n\n"); // the file's bytes, newline and all
        assertEquals(await show("/net-none"), "lo\n");
        assert(Number((await show("/net-host")).trim()) >= 2);
        // Mount points the image did not have leave no trace; a rw bind's writes go nowhere.
        await runIn(root, [
          "mounts",
          "sh",
          "-c",
          "test ! -e /ctx && test ! -e /o && test ! -e /scratch && test ! -e /var/cache/app && test ! -e /run/secrets && test ! -e /etc/token && test ! -e /sub",
        ]);
        assertEquals(await Deno.readTextFile(`${dir}/sub/file.txt`), "in sub");
        // The secret is in no layer.
        const saved = await ctr(root, ["save", "-o", `${dir}.image.tar`, "mounts"]);
        assertEquals(saved.code, 0);
        const tars = await new Deno.Command("sh", {
          args: [
            "-c",
            `cd $(mktemp -d) && tar -xf ${dir}.image.tar && for b in blobs/sha256/*; do (zcat $b 2>/dev/null || cat $b) | grep -a -c s3cr3t; done | paste -sd+ | bc; rm -rf $PWD`,
          ],
          stdout: "piped",
        }).output();
        assertEquals(new TextDecoder().decode(tars.stdout).trim(), "2"); // only the two files the RUNs wrote
        // The cache mount persists: a --no-cache build counts on.
        await buildOk(root, dir, ["--no-cache", ...args]);
        assertEquals(await show("/count"), "2\n");
        const prune = await ctr(root, ["builder", "prune", "-af"]);
        assertEquals(prune.code, 0, prune.stderr);
        await buildOk(root, dir, ["--no-cache", ...args]);
        assertEquals(await show("/count"), "1\n");
        // A required secret that is not given fails the step (an optional one is just absent).
        const r = await build(root, dir, ["--no-cache", "-t", "mounts"]);
        assertEquals(r.code, 1);
        assertStringIncludes(r.stderr, "secret token not found");
      } finally {
        await Deno.remove(`${dir}.secret`).catch(() => {});
        await Deno.remove(`${dir}.image.tar`).catch(() => {});
      }
    });
  },
);

buildTest(
  "build: builder prune removes dangling cache (-a: all of it) and the next build runs again",
  async (root) => {
    await withContext(
      { Dockerfile: "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n" },
      async (dir) => {
        await buildOk(root, dir, ["-t", "p1"]);
        await Deno.writeTextFile(
          `${dir}/Dockerfile`,
          "FROM busybox\nRUN echo one > /one\nRUN echo three > /three\n",
        );
        await buildOk(root, dir, ["-t", "p1"]);
        // Once the old image is gone, the "two" layer is in no image: dangling.
        assertEquals((await ctr(root, ["image", "prune", "-f"])).code, 0);
        const dangling = await ctr(root, ["builder", "prune", "-f"]);
        assertEquals(dangling.code, 0, dangling.stderr);
        assertEquals(dangling.stdout.split("\n")[0], "Deleted build cache objects:");
        assertStringIncludes(dangling.stdout, "Total:");
        assert(
          stepResults((await buildOk(root, dir, ["-t", "p1"])).stderr).every((s) => s.result === "CACHED"),
        );
        const all = await ctr(root, ["builder", "prune", "--all", "--force"]);
        assertEquals(all.code, 0, all.stderr);
        assertEquals(stepResults((await buildOk(root, dir, ["-t", "p1"])).stderr).map((s) => s.result), [
          "DONE",
          "DONE",
        ]);
        assertEquals(await runIn(root, ["p1", "cat", "/three"]), "three\n");
        const declined = await ctr(root, ["builder", "prune"], { stdin: "n\n" });
        assertEquals(declined.code, 0);
        assertStringIncludes(declined.stdout, "Are you sure you want to continue? [y/N]");
      },
    );
  },
);

Deno.test({
  name: "build: FROM and COPY --from pull a missing image from a registry (root)",
  ignore: !IS_ROOT || !havePeers(),
  fn: async () => {
    const reg = await startDistribution();
    try {
      const ref = `${reg.host}/base/busybox:1`;
      await withRoot(async (source) => {
        await importFixture(source, "busybox");
        assertEquals((await ctr(source, ["tag", "busybox", ref])).code, 0);
        const pushed = await ctr(source, ["push", ref]);
        assertEquals(pushed.code, 0, pushed.stderr);
      });
      await withRoot(async (root) => {
        await withContext({
          Dockerfile:
            `FROM ${ref}\nCOPY --from=${ref} /bin/busybox /copied-busybox\nRUN cmp /bin/busybox /copied-busybox\n`,
        }, async (dir) => {
          const r = await buildOk(root, dir, ["-t", "pulled"]);
          assertStringIncludes(r.stderr, `[internal] load metadata for ${ref}`);
          assertEquals(
            await runIn(root, ["pulled", "sh", "-c", "cmp /bin/busybox /copied-busybox && echo same"]),
            "same\n",
          );
          // Present now: no pull on the next build; --pull asks the registry again.
          const again = await buildOk(root, dir, ["-t", "pulled"]);
          assert(!again.stderr.includes("load metadata"));
          const pull = await buildOk(root, dir, ["--pull", "-t", "pulled"]);
          assertStringIncludes(pull.stderr, `[internal] load metadata for ${ref}`);
        });
        await withContext({ Dockerfile: `FROM ${reg.host}/base/missing:1\n` }, async (dir) => {
          const r = await build(root, dir, ["-t", "nope"]);
          assertEquals(r.code, 1);
          assertStringIncludes(
            r.stderr,
            `Dockerfile:1: failed to resolve source metadata for ${reg.host}/base/missing:1`,
          );
        });
      });
    } finally {
      await reg.stop();
    }
  },
});

buildTest("build: COPY --exclude leaves out what its patterns match; --parents is refused", async (root) => {
  await withContext({
    Dockerfile:
      "FROM busybox\nCOPY --exclude=*.log --exclude=cache app/ /app/\nCOPY --exclude=*.md *.txt *.md /top/\n",
    "app/main.sh": "main",
    "app/debug.log": "noise",
    "app/cache/blob": "big",
    "app/sub/keep.txt": "keep",
    "app/sub/trace.log": "noise",
    "a.txt": "a",
    "README.md": "readme",
  }, async (dir) => {
    await buildOk(root, dir, ["-t", "excluded"]);
    assertEquals(
      await runIn(root, ["excluded", "sh", "-c", "cd / && find app top | sort"]),
      // `*.log` matches at the top of the copied directory only, as in .dockerignore (`**/*.log` goes deeper).
      "app\napp/main.sh\napp/sub\napp/sub/keep.txt\napp/sub/trace.log\ntop\ntop/a.txt\n",
    );
    await Deno.writeTextFile(`${dir}/Dockerfile`, "FROM busybox\nCOPY --parents app/main.sh /x/\n");
    const r = await build(root, dir, ["-t", "parents"]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, "Dockerfile:2: COPY --parents is not supported");
  });
});

buildTest(
  "build: concurrent builds in one state root share the cache and agree on the digest",
  async (root) => {
    await withContext({
      Dockerfile: "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nRUN echo done > /c.txt\n",
      "a.txt": "a\n",
    }, async (dir) => {
      const results = await Promise.all(["c1", "c2", "c3"].map((t) => buildOk(root, dir, ["-q", "-t", t])));
      assertEquals(new Set(results.map((r) => r.stdout)).size, 1);
      assertEquals(await runIn(root, ["c2", "cat", "/b.txt", "/c.txt"]), "a\ndone\n");
      const dirs = async (p: string) => (await Array.fromAsync(Deno.readDir(p))).map((e) => e.name);
      assertEquals(await dirs(`${root}/build/tmp`), []);
      assertEquals(await dirs(`${root}/snapshots/tmp`), []);
    });
  },
);
