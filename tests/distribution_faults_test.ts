/**
 * Pulls and pushes through a fault-injecting proxy (tests/fault_proxy.ts) in front of a stub
 * registry: 503/429 answers, dropped connections, short bodies, lost answers — they must
 * finish correctly or fail cleanly with a consistent store. Also a pull killed with SIGKILL
 * and run again: completed layers are not fetched again and the partial one resumes.
 *
 * @module
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { ctr, REPO, withRoot } from "./helpers.ts";
import { buildImage, randomBytes, storeImage } from "./image_builder.ts";
import { FaultProxy, type FaultRule } from "./fault_proxy.ts";
import { type Hook, StubRegistry } from "./stub_registry.ts";
import { ImageStore } from "../image/image_store.ts";

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

async function withProxy<T>(
  stub: StubRegistry,
  rule: FaultRule,
  fn: (p: FaultProxy) => Promise<T>,
): Promise<T> {
  const proxy = new FaultProxy(`http://${stub.host}`, rule);
  try {
    return await fn(proxy);
  } finally {
    await proxy.close();
  }
}

const env = (root: string) => ({ env: { DOCKER_CONFIG: `${root}/.docker` } });

Deno.test("faults: pull survives 503, 429 + Retry-After, dropped connections and short bodies", async () => {
  const stub = new StubRegistry();
  try {
    const img = buildImage([{ data: randomBytes(300_000) }, { data: randomBytes(400_000) }, {
      data: randomBytes(500_000),
    }, { a: "b" }]);
    stub.seed("f/app", "1", img);
    const [l0, l1, l2] = img.layers.map((l) => l.digest);
    const rule: FaultRule = (req, url, seen) => {
      if (url.pathname.endsWith("/manifests/1") && req.method === "GET" && seen === 0) {
        return { kind: "status", status: 503 };
      }
      if (url.pathname.endsWith(l0) && seen === 0) return { kind: "status", status: 429, retryAfter: 1 };
      if (url.pathname.endsWith(l1) && seen < 2) return { kind: "drop", after: 100_000 * (seen + 1) };
      if (url.pathname.endsWith(l2) && seen === 0) return { kind: "short", after: 123_457 };
      return undefined;
    };
    await withProxy(stub, rule, (proxy) =>
      withRoot(async (root) => {
        const started = Date.now();
        const r = await ctr(root, ["pull", `${proxy.host}/f/app:1`], env(root));
        assertEquals(r.code, 0, r.stderr);
        assertEquals(recorded(root, `${proxy.host}/f/app:1`), img.manifest.digest);
        for (const l of img.layers) {
          assertEquals(await Deno.readFile(`${root}/blobs/${l.digest.replace(":", "/")}`), l.bytes);
        }
        assert(Date.now() - started >= 1000, "waited for Retry-After");
        // Each retry asks for the rest with Range (bytes in flight when the connection broke
        // may be lost, so the offsets are at most what the proxy sent).
        const starts = (digest: string) =>
          proxy.log.filter((x) => x.path.endsWith(digest) && x.method === "GET")
            .map((x) => x.range === null ? 0 : Number(/^bytes=(\d+)-$/.exec(x.range)![1]));
        const s1 = starts(l1);
        assertEquals(s1.length, 3);
        assert(
          s1[0] === 0 && s1[1] > 0 && s1[1] <= 100_000 && s1[2] > s1[1] && s1[2] <= s1[1] + 200_000,
          `${s1}`,
        );
        assertEquals(starts(l2), [0, 123_457]);
      }));
  } finally {
    await stub.close();
  }
});

Deno.test("faults: a registry that keeps failing leaves no image, no tag and no wrong blob", async () => {
  const stub = new StubRegistry();
  try {
    const img = buildImage([{ data: randomBytes(200_000) }, { data: randomBytes(10_000) }]);
    stub.seed("f/app", "1", img);
    const bad = img.layers[0].digest;
    const rule: FaultRule = (_req, url, seen) =>
      url.pathname.endsWith(bad)
        ? (seen === 0 ? { kind: "drop", after: 50_000 } : { kind: "status", status: 503 })
        : undefined;
    await withProxy(stub, rule, (proxy) =>
      withRoot(async (root) => {
        await Deno.writeTextFile(`${root}/config.json`, JSON.stringify({ "max-download-attempts": 2 }));
        const r = await ctr(root, ["pull", `${proxy.host}/f/app:1`], env(root));
        assertEquals(r.code, 1);
        assertMatch(r.stderr, new RegExp(bad));
        assertEquals(recorded(root, `${proxy.host}/f/app:1`), undefined);
        const store = ImageStore.open(root);
        try {
          assertEquals(store.list(), []);
          for await (const d of store.content.list()) assert(await store.content.verify(d), `${d} verifies`);
          assert(!(await store.content.has(bad)));
          assert(!(await store.content.has(img.manifest.digest)), "no manifest without its layers");
        } finally {
          store.close();
        }
        // the registry recovers: the pull resumes the partial layer and finishes
        proxy.rule = () => undefined;
        const again = await ctr(root, ["pull", `${proxy.host}/f/app:1`], env(root));
        assertEquals(again.code, 0, again.stderr);
        const resumed = proxy.log.filter((x) => x.path.endsWith(bad)).pop()!;
        assertMatch(resumed.range ?? "", /^bytes=[1-9]\d*-$/);
        assertEquals(recorded(root, `${proxy.host}/f/app:1`), img.manifest.digest);
      }));
  } finally {
    await stub.close();
  }
});

Deno.test("faults: push survives 503s, a failed stream, a lost PATCH answer and a lost PUT answer", async () => {
  const stub = new StubRegistry();
  try {
    const img = buildImage([{ data: randomBytes(40 << 20) }, { data: randomBytes(1000) }]);
    const big = img.layers[0].digest;
    const rule: FaultRule = (req, url, seen) => {
      if (req.method === "POST" && seen === 0) return { kind: "status", status: 503 };
      // the streamed PATCH is refused: the rest goes in chunks, the first chunk's answer is lost
      if (req.method === "PATCH" && seen === 0) return { kind: "status", status: 503 };
      if (req.method === "PATCH" && seen === 1) return { kind: "lose-answer" };

      if (req.method === "PUT" && url.searchParams.get("digest") === big && seen === 0) {
        return { kind: "lose-answer" };
      }
      if (req.method === "PUT" && url.pathname.includes("/manifests/") && seen === 0) {
        return { kind: "status", status: 429, retryAfter: 0 };
      }
      return undefined;
    };
    await withProxy(stub, rule, (proxy) =>
      withRoot(async (root) => {
        await storeImage(root, `${proxy.host}/f/app:1`, img);
        const r = await ctr(root, ["push", `${proxy.host}/f/app:1`], env(root));
        assertEquals(r.code, 0, r.stderr);
        assertEquals(stub.blobs.get(big), img.layers[0].bytes);
        assertEquals(stub.manifests.get("f/app")?.get("1")?.bytes, img.manifest.bytes);
        assert(proxy.log.some((x) => x.fault === "lose-answer" && x.method === "PATCH"));
        // after the refused stream, chunks with Content-Range took over
        assert(stub.requests("PATCH").some((l) => l.headers.get("content-range")?.startsWith("0-")));
      }));
  } finally {
    await stub.close();
  }
});

Deno.test("faults: a pull killed with SIGKILL resumes without fetching completed layers again", async () => {
  const img = buildImage([{ data: randomBytes(100_000) }, { data: randomBytes(2_000_000) }]);
  const [done, partial] = img.layers;
  let stall = true;
  let halfSent!: () => void;
  const halfway = new Promise<void>((r) => halfSent = r);
  const release: (() => void)[] = [];
  const hook: Hook = (req, url) => {
    if (!stall || req.method !== "GET" || !url.pathname.endsWith(partial.digest)) return undefined;
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (step++ === 0) {
          c.enqueue(partial.bytes.slice(0, 1_500_000));
          halfSent();
          return;
        }
        await new Promise<void>((r) => release.push(r)); // stall until the test ends
        c.close();
      },
    });
    return new Response(body, { headers: { "Content-Length": String(partial.size) } });
  };
  const stub = new StubRegistry({ hook });
  try {
    stub.seed("k/app", "1", img);
    await withRoot(async (root) => {
      const child = new Deno.Command(`${REPO}/ctr`, {
        args: ["--root", root, "pull", `${stub.host}/k/app:1`],
        env: { DOCKER_CONFIG: `${root}/.docker` },
        stdout: "null",
        stderr: "null",
      }).spawn();
      await halfway;
      const ingest = `${root}/blobs/ingest/sha256-${partial.digest.slice(7)}`;
      const doneBlob = `${root}/blobs/${done.digest.replace(":", "/")}`;
      for (let i = 0; i < 1200; i++) { // up to 30 s on a loaded machine
        const size = await Deno.stat(ingest).then((s) => s.size, () => 0);
        const finished = await Deno.stat(doneBlob).then(() => true, () => false);
        if (size >= 1 << 19 && finished) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const kept = (await Deno.stat(ingest)).size;
      assert(kept >= 1 << 19, `partial data on disk before the kill: ${kept}`);

      child.kill("SIGKILL");
      await child.status;
      release.forEach((r) => r());
      stall = false;
      assertEquals(recorded(root, `${stub.host}/k/app:1`), undefined, "nothing tagged by the killed pull");
      const before = stub.log.length;
      const r = await ctr(root, ["pull", `${stub.host}/k/app:1`], env(root));
      assertEquals(r.code, 0, r.stderr);
      const gets = stub.log.slice(before).filter((l) => l.method === "GET" && l.path.includes("/blobs/"));
      assertEquals(gets.map((g) => [g.path.split("/").pop(), g.headers.get("range")]), [
        [partial.digest, `bytes=${kept}-`],
      ]);
      assertEquals(recorded(root, `${stub.host}/k/app:1`), img.manifest.digest);
      assertEquals(await Deno.readFile(`${root}/blobs/${partial.digest.replace(":", "/")}`), partial.bytes);
    });
  } finally {
    release.forEach((r) => r());
    await stub.close();
  }
});

Deno.test("faults: an answer that never comes and a body that stops flowing are abandoned after the idle timeout", async () => {
  const img = buildImage([{ data: randomBytes(1_500_000) }]);
  const layer = img.layers[0];
  let stall = true;
  const release: (() => void)[] = [];
  let headHangs = true;
  const hook: Hook = async (req, url) => {
    if (headHangs && req.method === "HEAD" && url.pathname.endsWith("/manifests/1")) {
      headHangs = false; // the first answer never comes
      await new Promise<void>((r) => release.push(r));
      return new Response(null, { status: 503 });
    }
    if (!stall || req.method !== "GET" || !url.pathname.endsWith(layer.digest)) return undefined;
    stall = false;
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (step++ === 0) return c.enqueue(layer.bytes.slice(0, 1_200_000));
        await new Promise<void>((r) => release.push(r)); // never sends the rest
        c.close();
      },
    });
    return new Response(body, { headers: { "Content-Length": String(layer.size) } });
  };
  const stub = new StubRegistry({ hook });
  try {
    stub.seed("idle/app", "1", img);
    await withRoot(async (root) => {
      await Deno.writeTextFile(`${root}/config.json`, JSON.stringify({ "registry-idle-timeout": 1 }));
      const started = Date.now();
      const r = await ctr(root, ["pull", `${stub.host}/idle/app:1`], env(root));
      assertEquals(r.code, 0, r.stderr);
      assert(Date.now() - started < 20_000, "did not hang");
      // (at least: on a very loaded machine a slow answer may also run into the 1 s timeout)
      assert(stub.requests("HEAD", /manifests\/1$/).length >= 2, "the HEAD was sent again");
      const gets = stub.requests("GET", new RegExp(layer.digest));
      assert(gets.length >= 2, "the layer was asked for again");
      assertMatch(gets[1].headers.get("range") ?? "", /^bytes=[1-9]\d*-$/);

      assertEquals(recorded(root, `${stub.host}/idle/app:1`), img.manifest.digest);
    });
  } finally {
    release.forEach((r) => r());
    await stub.close();
  }
});
