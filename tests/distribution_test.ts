/**
 * `ctr pull` / `ctr push` / `ctr login` / `ctr logout` end to end against stub registries
 * written here (tests/stub_registry.ts) on 127.0.0.1: round trips, the client cases 14, 15,
 * 17, 18 and 20, platform selection, incremental and resumed pulls, mirrors, credentials.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr, fixture, IS_ROOT, type RunResult, withRoot } from "./helpers.ts";

import { buildImage, buildIndex, randomBytes, storeImage } from "./image_builder.ts";
import { type Hook, StubRegistry } from "./stub_registry.ts";
import { digestOf } from "../image/digest.ts";
import { ImageStore } from "../image/image_store.ts";
import { SnapshotStore } from "../image/snapshots.ts";

/** Runs ctr with a private Docker config directory. */
async function run(root: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return await ctr(root, args, { env: { DOCKER_CONFIG: `${root}/.docker`, ...env } });
}

function imageDigest(root: string, name: string): string | undefined {
  const store = ImageStore.open(root);
  try {
    return store.find(name).digest;
  } catch {
    return undefined;
  } finally {
    store.close();
  }
}

function storeNames(root: string): string[] {
  const store = ImageStore.open(root);
  try {
    return store.list().flatMap((i) => i.names);
  } finally {
    store.close();
  }
}

async function blobExists(root: string, digest: string): Promise<boolean> {
  return await Deno.stat(`${root}/blobs/${digest.replace(":", "/")}`).then(() => true, () => false);
}

async function withStub<T>(
  options: ConstructorParameters<typeof StubRegistry>[0],
  fn: (s: StubRegistry) => Promise<T>,
) {
  const stub = new StubRegistry(options);
  try {
    return await fn(stub);
  } finally {
    await stub.close();
  }
}

const small = () =>
  buildImage([{ "etc/": "", "etc/hello": "hello\n" }, { "bin/": "", "bin/x": "x".repeat(5000) }]);

Deno.test("pull/push: round trip through a registry keeps every digest", () =>
  withStub({}, (stub) =>
    withRoot(async (src) => {
      const img = small();
      const name = `${stub.host}/team/app:1`;
      await storeImage(src, name, img);
      const pushed = await run(src, ["push", name]);
      assertEquals(pushed.code, 0, pushed.stderr);
      assertStringIncludes(pushed.stdout, `The push refers to repository [${stub.host}/team/app]`);
      assertStringIncludes(pushed.stdout, `1: digest: ${img.manifest.digest} size: ${img.manifest.size}`);
      assertEquals(stub.manifests.get("team/app")?.get("1")?.bytes, img.manifest.bytes);
      await withRoot(async (dst) => {
        const r = await run(dst, ["pull", name]);
        assertEquals(r.code, 0, r.stderr);
        const lines = r.stdout.trim().split("\n");
        assertEquals(lines.slice(-3), [
          `Digest: ${img.manifest.digest}`,
          `Status: Downloaded newer image for ${name}`,
          name,
        ]);
        assertEquals(lines[0], "1: Pulling from team/app");
        assertEquals(imageDigest(dst, name), img.manifest.digest);
        // the layers were unpacked into snapshots as part of the pull
        const images = ImageStore.open(dst);
        try {
          const snapshots = SnapshotStore.open(dst, images);
          assertEquals(snapshots.list().length, 2);
          const { lowerDirs } = await snapshots.prepare(await images.load(name));

          assertEquals(lowerDirs.length, 2);
          assertEquals(await Deno.readTextFile(`${lowerDirs[1]}/etc/hello`), "hello\n");
          assertEquals((await Deno.readTextFile(`${lowerDirs[0]}/bin/x`)).length, 5000);
          assertEquals(snapshots.list().length, 2);
        } finally {
          images.close();
        }
        for (const b of [...img.layers, img.config, img.manifest]) {
          assertEquals(await Deno.readFile(`${dst}/blobs/${b.digest.replace(":", "/")}`), b.bytes);
        }
        // again: nothing fetched but the manifest HEAD
        const before = stub.log.length;
        const again = await run(dst, ["pull", name]);
        assertEquals(again.code, 0, again.stderr);
        assertStringIncludes(again.stdout, `Status: Image is up to date for ${name}`);
        assertEquals(stub.log.slice(before).map((l) => `${l.method} ${l.path}`), [
          "GET /v2/",
          "HEAD /v2/team/app/manifests/1",
        ]);
        const q = await run(dst, ["pull", "-q", name]);
        assertEquals(q.stdout, `${name}\n`);
        // Without a tag, Docker's first line says which one it takes.
        await storeImage(src, `${stub.host}/team/app:latest`, img);
        assertEquals((await run(src, ["push", `${stub.host}/team/app:latest`])).code, 0);
        const untagged = await run(dst, ["pull", `${stub.host}/team/app`]);
        assertEquals(untagged.code, 0, untagged.stderr);
        assertEquals(untagged.stdout.split("\n")[0], "Using default tag: latest");
        assertEquals(untagged.stdout.trim().split("\n").pop(), `${stub.host}/team/app:latest`);
      });
    })));

Deno.test("pull: Docker Hub style short names are refused before any traffic when uppercase (case 15)", () =>
  withStub({}, (stub) =>
    withRoot(async (root) => {
      for (const args of [["push", `${stub.host}/Team/App:1`], ["pull", `${stub.host}/Team/App:1`]]) {
        const r = await run(root, args);
        assert(r.code !== 0, "must fail");
        assertMatch(r.stderr, /must be lowercase/);
      }
      assertEquals(stub.log.length, 0, "the registry saw no request");
      // an uppercase tag is valid: the pull reaches the registry and fails there (not found)
      const r = await run(root, ["pull", `${stub.host}/team/app:Latest`]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /not found/);
      assertEquals(stub.requests("HEAD", /manifests\/Latest$/).length, 1);
    })));

Deno.test("pull: index narrowed to the host platform, or to --platform", () =>
  withStub({}, (stub) =>
    withRoot(async (root) => {
      const amd = buildImage([{ arch: "amd64" }], { architecture: "amd64" });
      const arm = buildImage([{ arch: "arm64" }], { architecture: "arm64" });
      const armv7 = buildImage([{ arch: "armv7" }], { architecture: "arm", variant: "v7" });
      const idx = buildIndex([
        [amd, { os: "linux", architecture: "amd64" }],
        [arm, { os: "linux", architecture: "arm64" }],
        [armv7, { os: "linux", architecture: "arm", variant: "v7" }],
      ]);
      for (const i of [amd, arm, armv7]) stub.seed("multi/app", undefined, i);
      stub.putManifest("multi/app", "1", idx.bytes, idx.mediaType);
      const host = Deno.build.arch === "x86_64" ? amd : arm;
      let r = await run(root, ["pull", `${stub.host}/multi/app:1`]);
      assertEquals(r.code, 0, r.stderr);
      assertStringIncludes(r.stdout, `Digest: ${idx.digest}`);
      assertEquals(imageDigest(root, `${stub.host}/multi/app:1`), host.manifest.digest);
      r = await run(root, ["pull", "--platform", "linux/arm64/v8", `${stub.host}/multi/app:1`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(imageDigest(root, `${stub.host}/multi/app:1`), arm.manifest.digest);
      r = await run(root, ["pull", "--platform", "linux/arm", `${stub.host}/multi/app:1`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(imageDigest(root, `${stub.host}/multi/app:1`), armv7.manifest.digest);
      r = await run(root, ["pull", "--platform", "linux/s390x", `${stub.host}/multi/app:1`]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /No manifest for platform linux\/s390x/);
      // pull by the index digest
      r = await run(root, ["pull", `${stub.host}/multi/app@${idx.digest}`]);
      assertEquals(r.code, 0, r.stderr);
      // a single-platform image that does not match an explicit --platform is refused
      stub.seed("single/app", "1", amd);
      r = await run(root, ["pull", "--platform", "linux/ppc64le", `${stub.host}/single/app:1`]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /does not match the specified platform/);
    })));

Deno.test("pull: incremental — only the changed layer is fetched", () =>
  withStub({}, (stub) =>
    withRoot(async (root) => {
      const base = { "big": "b".repeat(200_000) };
      const v1 = buildImage([base, { "v": "1" }]);
      const v2 = buildImage([base, { "v": "2" }]);
      stub.seed("inc/app", "1", v1);
      stub.seed("inc/app", "2", v2);
      assertEquals((await run(root, ["pull", `${stub.host}/inc/app:1`])).code, 0);
      const before = stub.log.length;
      const r = await run(root, ["pull", `${stub.host}/inc/app:2`]);
      assertEquals(r.code, 0, r.stderr);
      const blobGets = stub.log.slice(before).filter((l) => l.method === "GET" && l.path.includes("/blobs/"))
        .map((l) => l.path.split("/").pop());
      assertEquals(blobGets.sort(), [v2.config.digest, v2.layers[1].digest].sort());
      assertStringIncludes(r.stdout, `${v2.layers[0].digest.slice(7, 19)}: Already exists`);
    })));

Deno.test("pull: --all-tags pulls every tag", () =>
  withStub({}, (stub) =>
    withRoot(async (root) => {
      const a = buildImage([{ a: "1" }]), b = buildImage([{ b: "2" }]);
      stub.seed("all/app", "a", a);
      stub.seed("all/app", "b", b);
      const r = await run(root, ["pull", "-a", `${stub.host}/all/app`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(imageDigest(root, `${stub.host}/all/app:a`), a.manifest.digest);
      assertEquals(imageDigest(root, `${stub.host}/all/app:b`), b.manifest.digest);
      const bad = await run(root, ["pull", "-a", `${stub.host}/all/app:a`]);
      assertEquals(bad.code, 125);
    })));

// ---------------------------------------------------------------- case 17: bearer challenges

interface TokenLog {
  query: URLSearchParams;
  authorization: string | null;
}

/** A registry that wants Bearer tokens, with its token server at /token. */
function bearerAuth(variant: "V1" | "V2" | "V3" | "V4", tokens: TokenLog[], basic?: string): Hook {
  return (req, url, stub) => {
    const realm = `http://${stub.host}/token`;
    if (url.pathname === "/token") {
      tokens.push({ query: url.searchParams, authorization: req.headers.get("authorization") });
      if (basic && req.headers.get("authorization") !== `Basic ${basic}`) {
        return new Response(JSON.stringify({ details: "incorrect username or password" }), { status: 401 });
      }
      const body = variant === "V4" ? { access_token: "T2" } : { token: "T1", expires_in: 300 };
      return Response.json(body);
    }
    const want = variant === "V4" ? "Bearer T2" : "Bearer T1";
    if (req.headers.get("authorization") === want) return undefined;
    const header = {
      V1: `Bearer realm="${realm}",service="reg.test",scope="repository:team/app:pull,push"`,
      V2: `Bearer realm="${realm}",service="reg.test"`,
      V3:
        `bearer  realm="${realm}" , service="reg.test", scope="repository:team/app:pull repository:team/base:pull"`,
      V4: `Bearer realm="${realm}",service="reg.test",scope="repository:team/app:pull,push"`,
    }[variant];
    return new Response(
      JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }),
      {
        status: 401,
        headers: { "WWW-Authenticate": header, "Content-Type": "application/json" },
      },
    );
  };
}

for (
  const [variant, scopes] of [
    ["V1", ["repository:team/app:pull,push"]],
    ["V2", ["repository:team/app:pull"]],
    ["V3", ["repository:team/app:pull", "repository:team/base:pull"]],
    ["V4", ["repository:team/app:pull,push"]],
  ] as const
) {
  Deno.test(`pull: bearer challenge ${variant} (case 17)`, async () => {
    const tokens: TokenLog[] = [];
    await withStub({ auth: bearerAuth(variant, tokens) }, (stub) =>
      withRoot(async (root) => {
        const img = small();
        stub.seed("team/app", "1", img);
        const r = await run(root, ["pull", `${stub.host}/team/app:1`]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(imageDigest(root, `${stub.host}/team/app:1`), img.manifest.digest);
        assert(tokens.length >= 1 && tokens.length <= 2, `token requests: ${tokens.length}`);
        for (const t of tokens) {
          assertEquals(t.query.get("service"), "reg.test");
          const got = t.query.getAll("scope").flatMap((s) => s.split(" "));
          assertEquals(got, [...scopes]);
          assertEquals(t.authorization, null, "anonymous token request");
        }
        const token = variant === "V4" ? "Bearer T2" : "Bearer T1";
        const blobGets = stub.requests("GET", /\/blobs\//);
        assertEquals(blobGets.length, 3);
        for (const g of blobGets) assertEquals(g.headers.get("authorization"), token);
        assert(
          stub.log.filter((l) => l.status === 401).length <= 2,
          "challenged at most at ping and once more",
        );
      }));
  });
}

Deno.test("push: bearer challenge without scope → pull,push synthesised (case 17, V2)", async () => {
  const tokens: TokenLog[] = [];
  await withStub({ auth: bearerAuth("V2", tokens) }, (stub) =>
    withRoot(async (root) => {
      const img = small();
      await storeImage(root, `${stub.host}/team/app:2`, img);
      const r = await run(root, ["push", `${stub.host}/team/app:2`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(tokens.length, 1);
      assertEquals(tokens[0].query.getAll("scope"), ["repository:team/app:pull,push"]);
      assertEquals(stub.manifests.get("team/app")?.get("2")?.bytes, img.manifest.bytes);
    }));
});

Deno.test("login/logout: bearer token server with credentials; wrong password refused", async () => {
  const tokens: TokenLog[] = [];
  const basic = btoa("alice:s3cret");
  await withStub({ auth: bearerAuth("V2", tokens, basic) }, (stub) =>
    withRoot(async (root) => {
      const wrong = await run(root, ["login", "-u", "alice", "-p", "nope", stub.host]);
      assertEquals(wrong.code, 1);
      assertMatch(wrong.stderr, /incorrect username or password/);
      await Deno.stat(`${root}/.docker/config.json`).then(
        () => assert(false, "nothing stored after a failed login"),
        () => {},
      );
      const ok = await ctr(root, ["login", "-u", "alice", "--password-stdin", stub.host], {
        stdin: "s3cret\n",
        env: { DOCKER_CONFIG: `${root}/.docker` },
      });
      assertEquals(ok.code, 0, ok.stderr);
      assertStringIncludes(ok.stdout, "Login Succeeded");
      const cfg = JSON.parse(await Deno.readTextFile(`${root}/.docker/config.json`));
      assertEquals(cfg.auths[stub.host].auth, basic);
      assertEquals((await Deno.stat(`${root}/.docker/config.json`)).mode! & 0o777, 0o600);
      stub.seed("team/app", "1", small());
      tokens.length = 0;
      const r = await run(root, ["pull", `${stub.host}/team/app:1`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(tokens.map((t) => t.authorization), [`Basic ${basic}`]);
      const out = await run(root, ["logout", stub.host]);
      assertEquals(out.stdout, `Removing login credentials for ${stub.host}\n`);
      assertEquals(JSON.parse(await Deno.readTextFile(`${root}/.docker/config.json`)).auths, {});
      assertEquals((await run(root, ["logout", stub.host])).stdout, `Not logged in to ${stub.host}\n`);
      const refused = await run(root, ["pull", `${stub.host}/team/app:1`]);
      assertEquals(refused.code, 1, "anonymous tokens are refused by this token server");
      assertMatch(refused.stderr, /incorrect username or password|unauthorized/i);
    }));
});

Deno.test("login: Basic auth and a docker-credential helper", () =>
  withRoot(async (root) => {
    const basic = btoa("bob:pw");
    const auth: Hook = (req) =>
      req.headers.get("authorization") === `Basic ${basic}` ? undefined : new Response("{}", {
        status: 401,
        headers: { "WWW-Authenticate": 'Basic realm="stub"' },
      });
    await withStub({ auth }, async (stub) => {
      // a credential helper that keeps secrets in files under $root/helper
      const bin = `${root}/bin`;
      await Deno.mkdir(bin);
      await Deno.writeTextFile(
        `${bin}/docker-credential-ctrtest`,
        `#!/bin/sh
d="${root}/helper"; mkdir -p "$d"
case "$1" in
store) cat > "$d/store.json" ;;
get) read -r url; if [ -f "$d/store.json" ]; then cat "$d/store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) read -r url; if [ -f "$d/store.json" ]; then rm "$d/store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
`,
        { mode: 0o755 },
      );
      await Deno.mkdir(`${root}/.docker`);
      await Deno.writeTextFile(
        `${root}/.docker/config.json`,
        JSON.stringify({ credsStore: "ctrtest", other: 1 }),
      );
      const env = { PATH: `${bin}:${Deno.env.get("PATH")}` };
      stub.seed("team/app", "1", small());
      const anon = await run(root, ["pull", `${stub.host}/team/app:1`], env);
      assertEquals(anon.code, 1);
      assertMatch(anon.stderr, /unauthorized.*ctr login/);
      const ok = await run(root, ["login", "-u", "bob", "-p", "pw", stub.host], env);
      assertEquals(ok.code, 0, ok.stderr);
      const stored = JSON.parse(await Deno.readTextFile(`${root}/helper/store.json`));
      assertEquals(stored, { ServerURL: stub.host, Username: "bob", Secret: "pw" });
      const cfg = JSON.parse(await Deno.readTextFile(`${root}/.docker/config.json`));
      assertEquals(cfg, { credsStore: "ctrtest", other: 1, auths: { [stub.host]: {} } });
      const r = await run(root, ["pull", `${stub.host}/team/app:1`], env);
      assertEquals(r.code, 0, r.stderr);
      assertEquals((await run(root, ["logout", stub.host], env)).code, 0);
      await Deno.stat(`${root}/helper/store.json`).then(() => assert(false, "erased"), () => {});
    });
  }));

// ---------------------------------------------------------------- case 18: no digest header

for (const omit of [["HEAD", "GET"], ["GET"]] as const) {
  Deno.test(`pull: registry without Docker-Content-Digest on ${omit.join("+")} (case 18)`, () =>
    withStub({ omitDigestOn: [...omit] }, (stub) =>
      withRoot(async (root) => {
        const img = small();
        stub.seed("static/app", "1", img);
        const r = await run(root, ["pull", `${stub.host}/static/app:1`]);
        assertEquals(r.code, 0, r.stderr);
        const want = digestOf(img.manifest.bytes);
        assertEquals(imageDigest(root, `${stub.host}/static/app:1`), want);
        assertStringIncludes(r.stdout, `Digest: ${want}`);
        const order = stub.log.map((l) => `${l.method} ${l.path}`);
        const head = order.indexOf("HEAD /v2/static/app/manifests/1");
        const get = order.indexOf("GET /v2/static/app/manifests/1");
        assert(head !== -1 && get > head, order.join("\n"));
        await withRoot(async (other) => {
          const byDigest = await run(other, ["pull", `${stub.host}/static/app@${want}`]);
          assertEquals(byDigest.code, 0, byDigest.stderr);
          assertEquals(imageDigest(other, `${stub.host}/static/app@${want}`), want);
        });
      })));
}

// ---------------------------------------------------------------- case 20: verification

Deno.test("pull: M1 — manifest by digest that hashes to something else is refused", () =>
  withRoot(async (root) => {
    const img = small();
    const x = "sha256:" + "1".repeat(64);
    const hook: Hook = (req, url) =>
      url.pathname.startsWith("/v2/evil/app/manifests/")
        ? new Response(req.method === "HEAD" ? null : img.manifest.bytes, {
          headers: { "Content-Type": img.manifest.mediaType, "Docker-Content-Digest": x },
        })
        : undefined;
    await withStub({ hook }, async (stub) => {
      stub.seed("evil/app", undefined, img);
      const r = await run(root, ["pull", `${stub.host}/evil/app@${x}`]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /digest|verif|mismatch/i);
      assertStringIncludes(r.stderr, x);
      assertEquals(stub.requests("GET", /\/blobs\//).length, 0, "no blob fetched");
      assert(!(await blobExists(root, img.manifest.digest)));
      assert(!(await blobExists(root, x)));
      assertEquals(storeNames(root), []);
    });
  }));

Deno.test("pull: M2 — a layer with wrong bytes is refused and removed; a fixed registry then works", () =>
  withRoot(async (root) => {
    const img = small();
    const bad = img.layers[1];
    let corrupt = true;
    const hook: Hook = (req, url) => {
      if (!corrupt || req.method !== "GET" || !url.pathname.endsWith(bad.digest)) return undefined;
      const bytes = bad.bytes.slice();
      bytes[bytes.length >> 1] ^= 0xff;
      return new Response(bytes, { headers: { "Content-Length": String(bytes.length) } });
    };
    await withStub({ hook }, async (stub) => {
      stub.seed("evil/app", "1", img);
      const r = await run(root, ["pull", `${stub.host}/evil/app:1`]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /digest|verif|mismatch/i);
      assertStringIncludes(r.stderr, bad.digest);
      assertEquals(storeNames(root), []);
      assert(!(await blobExists(root, bad.digest)));
      assertEquals(
        [...Deno.readDirSync(`${root}/blobs/ingest`)].filter((e) => e.name.includes(bad.digest.slice(7))),
        [],
      );
      corrupt = false;
      const again = await run(root, ["pull", `${stub.host}/evil/app:1`]);
      assertEquals(again.code, 0, again.stderr);
      assertEquals(await Deno.readFile(`${root}/blobs/${bad.digest.replace(":", "/")}`), bad.bytes);
    });
  }));

Deno.test("pull: M3 — Docker-Content-Digest disagreeing with the bytes is refused", () =>
  withRoot(async (root) => {
    const img = small();
    const z = "sha256:" + "2".repeat(64);
    const hook: Hook = (req, url) =>
      url.pathname === "/v2/evil/app/manifests/1"
        ? new Response(req.method === "HEAD" ? null : img.manifest.bytes, {
          headers: { "Content-Type": img.manifest.mediaType, "Docker-Content-Digest": z },
        })
        : undefined;
    await withStub({ hook }, async (stub) => {
      stub.seed("evil/app", undefined, img);
      const r = await run(root, ["pull", `${stub.host}/evil/app:1`]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /digest|verif|mismatch/i);
      assertEquals(storeNames(root), []);
      assert(!(await blobExists(root, z)));
    });
  }));

// ---------------------------------------------------------------- case 14: mounts

Deno.test("push: cross-repository mount — 201 mounted, 202 uploads into the session (case 14)", () =>
  withRoot(async (root) => {
    const img = small();
    for (const neverMount of [false, true]) {
      await withStub({ neverMount }, async (stub) => {
        await storeImage(root, `${stub.host}/a/x:1`, img);
        await storeImage(root, `${stub.host}/a/y:1`, img);
        assertEquals((await run(root, ["push", `${stub.host}/a/x:1`])).code, 0);
        const before = stub.log.length;
        const r = await run(root, ["push", `${stub.host}/a/y:1`]);
        assertEquals(r.code, 0, r.stderr);
        const log = stub.log.slice(before);
        const posts = log.filter((l) => l.method === "POST");
        const blobs = [...img.layers, img.config];
        assertEquals(posts.length, blobs.length, "one POST per blob, never a second one");
        for (const p of posts) assertEquals(p.query.get("from"), "a/x");
        if (!neverMount) {
          assertStringIncludes(r.stdout, `${img.layers[0].digest.slice(7, 19)}: Mounted from a/x`);
          assertEquals(log.filter((l) => l.method === "PUT" && l.path.includes("/uploads/")), []);
        } else {
          for (const b of blobs) {
            const post = posts.find((p) => p.query.get("mount") === b.digest)!;
            assertEquals(post.status, 202);
            const puts = log.filter((l) => l.method === "PUT" && l.query.get("digest") === b.digest);
            assertEquals(puts.length, 1);
            assertEquals(puts[0].status, 201);
          }
        }
        const manifestPut = log.filter((l) => l.method === "PUT" && l.path === "/v2/a/y/manifests/1");
        assertEquals(manifestPut.map((l) => l.status), [201]);
        assertEquals(stub.manifests.get("a/y")?.get("1")?.bytes, img.manifest.bytes);
      });
    }
  }));

Deno.test("push: blobs the registry has are skipped; a large blob streamed in one PATCH", () =>
  withStub({}, (stub) =>
    withRoot(async (root) => {
      const img = buildImage([randomBytes(40 << 20), { "small": "s" }]);
      await storeImage(root, `${stub.host}/chunk/app:1`, img);
      const r = await run(root, ["push", `${stub.host}/chunk/app:1`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(stub.blobs.get(img.layers[0].digest), img.layers[0].bytes);
      // 40 MiB: streamed in one PATCH (no Content-Range), then the closing PUT; the small
      // blobs go in one PUT each
      assertEquals(stub.requests("PATCH").map((l) => l.headers.get("content-range")), [null]);
      assertEquals(stub.requests("PUT", /\/uploads\//).length, 3);

      const again = await run(root, ["push", `${stub.host}/chunk/app:1`]);
      assertEquals(again.code, 0, again.stderr);
      assertStringIncludes(again.stdout, "Layer already exists");
      const r2 = await run(root, ["push", "-q", `${stub.host}/chunk/app:1`]);
      assertEquals(r2.stdout, `${stub.host}/chunk/app:1\n`);
      const missing = await run(root, ["push", `${stub.host}/chunk/app:nope`]);
      assertEquals(missing.code, 1);
      assertMatch(missing.stderr, /does not exist locally/);
    })));

Deno.test("push: --all-tags pushes every local tag of the repository", () =>
  withStub({}, (stub) =>
    withRoot(async (root) => {
      const a = buildImage([{ a: "1" }]), b = buildImage([{ b: "2" }]);
      await storeImage(root, `${stub.host}/all/app:a`, a);
      await storeImage(root, `${stub.host}/all/app:b`, b);
      await storeImage(root, `${stub.host}/other/app:c`, b);
      const r = await run(root, ["push", "-a", `${stub.host}/all/app`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(stub.manifests.get("all/app")?.get("a")?.bytes, a.manifest.bytes);
      assertEquals(stub.manifests.get("all/app")?.get("b")?.bytes, b.manifest.bytes);
      assertEquals(stub.manifests.has("other/app"), false);
    })));

// ---------------------------------------------------------------- mirrors

Deno.test("pull: registry mirrors from config are tried first and fall through", () =>
  withStub({}, (mirror) =>
    withStub({}, (upstream) =>
      withRoot(async (root) => {
        const img = small();
        mirror.seed("team/app", "1", img);
        upstream.seed("team/other", "1", img);
        await Deno.writeTextFile(
          `${root}/config.json`,
          JSON.stringify({ "registry-host-mirrors": { [upstream.host]: [`http://${mirror.host}`] } }),
        );
        const r = await run(root, ["pull", `${upstream.host}/team/app:1`]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(upstream.requests("GET", /\/blobs\//).length, 0);
        assertEquals(imageDigest(root, `${upstream.host}/team/app:1`), img.manifest.digest);
        // not on the mirror: falls through to the registry
        const r2 = await run(root, ["pull", `${upstream.host}/team/other:1`]);
        assertEquals(r2.code, 0, r2.stderr);
        assertEquals(mirror.requests("HEAD", /team\/other\/manifests/).length, 1);
        assertEquals(upstream.requests("HEAD", /team\/other\/manifests/).length, 1);
      }))));

Deno.test({
  name: "pull: image from a registry without digest headers runs (case 18, root)",
  ignore: !IS_ROOT,
  fn: () =>
    withStub({ omitDigestOn: ["HEAD", "GET"] }, (stub) =>
      withRoot(async (root) => {
        const busybox = await Deno.readFile(await fixture("busybox"));
        stub.seed(
          "static/app",
          "1",
          buildImage([busybox], { architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64" }),
        );
        const name = `${stub.host}/static/app:1`;
        assertEquals((await run(root, ["pull", name])).code, 0);
        const r = await run(root, ["run", "--rm", name, "true"]);
        assertEquals(r.code, 0, r.stderr);
      })),
});

Deno.test("pull: blobs redirected to another host are fetched without the registry's credentials", async () => {
  const seen: (string | null)[] = [];
  const img = small();
  const storage = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(req.headers.get("authorization"));
    const digest = new URL(req.url).pathname.slice(1);
    const blob = [...img.layers, img.config].find((b) => b.digest === digest);
    return blob ? new Response(blob.bytes) : new Response("no", { status: 404 });
  });
  try {
    const basic = btoa("dave:pw");
    const auth: Hook = (req) =>
      req.headers.get("authorization") === `Basic ${basic}` ? undefined : new Response("{}", {
        status: 401,
        headers: { "WWW-Authenticate": 'Basic realm="stub"' },
      });
    const hook: Hook = (req, url) => {
      const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
      if (!m || req.method !== "GET") return undefined;
      return new Response(null, {
        status: 307,
        headers: { Location: `http://127.0.0.1:${storage.addr.port}/${m[1]}` },
      });
    };
    await withStub({ auth, hook }, (stub) =>
      withRoot(async (root) => {
        stub.seed("team/app", "1", img);
        await Deno.mkdir(`${root}/.docker`);
        await Deno.writeTextFile(
          `${root}/.docker/config.json`,
          JSON.stringify({ auths: { [stub.host]: { auth: basic } } }),
        );
        const r = await run(root, ["pull", `${stub.host}/team/app:1`]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(seen.length, 3);
        assertEquals(seen, [null, null, null]);
      }));
  } finally {
    await storage.shutdown();
  }
});

Deno.test("pull: two pulls of one image into one root at the same time both succeed", () =>
  withStub({}, (stub) =>
    withRoot(async (root) => {
      const img = buildImage([{ "a": randomBytes(1 << 20) }, { "b": randomBytes(2 << 20) }, { c: "c" }]);
      stub.seed("race/app", "1", img);
      const name = `${stub.host}/race/app:1`;
      const [a, b] = await Promise.all([run(root, ["pull", name]), run(root, ["pull", name])]);
      assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
      assertEquals(imageDigest(root, name), img.manifest.digest);
      const images = ImageStore.open(root);
      try {
        const { lowerDirs } = await SnapshotStore.open(root, images).prepare(await images.load(name));
        assertEquals(lowerDirs.length, 3);
        for await (const d of images.content.list()) assert(await images.content.verify(d), d);
      } finally {
        images.close();
      }
    })));
