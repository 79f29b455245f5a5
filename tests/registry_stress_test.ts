/**
 * `ctr serve` under load and failure: 100 concurrent pushes of images that share layers, a
 * server SIGKILLed in the middle of a blob (no partial blob visible; the same push then
 * succeeds), a client killed mid-push and retried, garbage collection running during pushes
 * (nothing referenced is lost), and flat memory while a 1 GiB blob streams in and out.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { digestOf } from "../image/digest.ts";
import { assert, assertEquals } from "./assert.ts";
import { ctr, withRoot } from "./helpers.ts";
import { buildImage, randomBytes as builderRandom } from "./image_builder.ts";
import { skopeo, writeOciLayout } from "./peers/distribution.ts";
import {
  errorCode,
  http,
  makeImage,
  pushBlob,
  putManifest,
  randomBytes,
  spawnServe,
  type TestImage,
  withRegistry,
} from "./registry_helpers.ts";

const octet = { "Content-Type": "application/octet-stream" };

/** Checks that every file under blobs/ hashes to its name. */
async function assertBlobFilesIntact(root: string): Promise<number> {
  let n = 0;
  for (const algorithm of ["sha256"]) {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(`${root}/blobs/${algorithm}`));
    } catch { /* none */ }
    for (const e of entries) {
      const h = createHash(algorithm);
      for await (const chunk of (await Deno.open(`${root}/blobs/${algorithm}/${e.name}`)).readable) {
        h.update(chunk);
      }
      assertEquals(h.digest("hex"), e.name, `blobs/${algorithm}/${e.name} holds what its name says`);
      n++;
    }
  }
  return n;
}

/** Pulls an image back through the API and checks every byte. */
async function assertImageIntact(base: string, repo: string, tag: string, img: TestImage): Promise<void> {
  const m = await http(base, "GET", `/v2/${repo}/manifests/${tag}`);
  assertEquals(m.status, 200, `${repo}:${tag}`);
  assertEquals(m.body, img.manifest, `${repo}:${tag} manifest`);
  for (const b of [img.config, ...img.layers]) {
    const r = await http(base, "GET", `/v2/${repo}/blobs/${digestOf(b)}`);
    assertEquals(r.status, 200, `${repo} blob`);
    assertEquals(digestOf(r.body), digestOf(b), `${repo} blob bytes`);
  }
}

/** Pushes with a chunked PATCH flow (as docker does) rather than one POST. */
async function pushBlobChunked(base: string, repo: string, bytes: Uint8Array): Promise<void> {
  const s = await http(base, "POST", `/v2/${repo}/blobs/uploads/`);
  assertEquals(s.status, 202);
  const half = Math.floor(bytes.length / 2);
  const p = await http(base, "PATCH", s.headers.get("location")!, {
    body: bytes.subarray(0, half) as Uint8Array<ArrayBuffer>,
    headers: { ...octet, "Content-Range": `0-${half - 1}` },
  });
  assertEquals(p.status, 202);
  const put = await http(base, "PUT", `${p.headers.get("location")}?digest=${digestOf(bytes)}`, {
    body: bytes.subarray(half) as Uint8Array<ArrayBuffer>,
    headers: { ...octet, "Content-Range": `${half}-${bytes.length - 1}` },
  });
  assertEquals(put.status, 201, put.text);
}

Deno.test("registry stress: 100 concurrent pushes of images sharing layers are all intact", () =>
  withRegistry(async (reg, root) => {
    const shared = [randomBytes(256 * 1024), randomBytes(64 * 1024), randomBytes(1024)];
    const images = Array.from(
      { length: 100 },
      (_, i) => makeImage({ layers: [...shared, randomBytes(4096 + i)], label: `${i}` }),
    );
    await Promise.all(images.map(async (img, i) => {
      const repo = `stress/r${i % 10}`;
      const blobs = [img.config, ...img.layers];
      for (const [j, b] of blobs.entries()) {
        if ((i + j) % 2) await pushBlobChunked(reg.url, repo, b);
        else await pushBlob(reg.url, repo, b);
      }
      const r = await putManifest(reg.url, repo, `t${i}`, img.manifest, img.mediaType);
      assertEquals(r.status, 201, r.text);
    }));
    await Promise.all(images.map((img, i) => assertImageIntact(reg.url, `stress/r${i % 10}`, `t${i}`, img)));
    // Shared layers are stored once: 3 shared + 100 unique layers + 100 configs + 100 manifests.
    assertEquals(await assertBlobFilesIntact(root), 303);
    for (let r = 0; r < 10; r++) {
      const tags = await http(reg.url, "GET", `/v2/stress/r${r}/tags/list`);
      assertEquals((tags.json as { tags: string[] }).tags.length, 10);
    }
  }));

Deno.test("registry stress: a server SIGKILLed mid-blob leaves no partial blob, and the same push then completes", () =>
  withRoot(async (root) => {
    const size = 64 * 1024 * 1024;
    const chunk = randomBytes(1024 * 1024);
    const h = createHash("sha256");
    for (let i = 0; i < size / chunk.length; i++) h.update(chunk);
    const digest = `sha256:${h.digest("hex")}`;
    const body = () => {
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        async pull(c) {
          if (sent >= size) return c.close();
          if (sent === size / 2) await new Promise((r) => setTimeout(r, 300)); // give the kill a window
          c.enqueue(chunk);
          sent += chunk.length;
        },
      });
    };
    let srv = await spawnServe(root, ["--addr", "127.0.0.1:0"]);
    const s = await http(srv.url, "POST", "/v2/t/kill/blobs/uploads/");
    const doomed = fetch(`${srv.url}${s.headers.get("location")}`, { method: "PATCH", body: body() }).catch((
      e,
    ) => e);
    await new Promise((r) => setTimeout(r, 250));
    await srv.stop("SIGKILL");
    assert(
      (await doomed) instanceof Error || (await doomed).status >= 500,
      "the request died with the server",
    );
    srv = await spawnServe(root, ["--addr", "127.0.0.1:0"]);
    try {
      assertEquals((await http(srv.url, "HEAD", `/v2/t/kill/blobs/${digest}`)).status, 404);
      await assertBlobFilesIntact(`${root}/registry`);
      // The client simply pushes again, with a new session.
      const again = await http(srv.url, "POST", "/v2/t/kill/blobs/uploads/");
      const patch = await fetch(`${srv.url}${again.headers.get("location")}`, {
        method: "PATCH",
        body: body(),
      });
      assertEquals(patch.status, 202);
      const put = await http(srv.url, "PUT", `${patch.headers.get("location")}?digest=${digest}`);
      assertEquals(put.status, 201, put.text);
      const head = await http(srv.url, "HEAD", `/v2/t/kill/blobs/${digest}`);
      assertEquals([head.status, head.headers.get("content-length")], [200, String(size)]);
      assertEquals(await assertBlobFilesIntact(`${root}/registry`), 1);
    } finally {
      await srv.stop();
    }
  }));

Deno.test("registry stress: skopeo killed mid-push, then retried, completes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-kill-client-" });
  try {
    const img = buildImage([{ "big.bin": builderRandom(48 * 1024 * 1024) }, { "small": "x" }]);
    await writeOciLayout(`${dir}/src`, img, "v1");
    await withRegistry(async (reg, root) => {
      const ref = `docker://${reg.host}/t/retry:v1`;
      const child = new Deno.Command("skopeo", {
        args: ["copy", "--dest-tls-verify=false", `oci:${dir}/src:v1`, ref],
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Kill once the upload session of the big layer has some bytes.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const files = await Array.fromAsync(Deno.readDir(`${root}/uploads`)).catch(() => []);
        const sizes = await Promise.all(
          files.map((f) => Deno.stat(`${root}/uploads/${f.name}`).then((s) => s.size)),
        );
        if (sizes.some((s) => s > 1024 * 1024) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      child.kill("SIGKILL");
      await child.status;
      assertEquals((await http(reg.url, "GET", "/v2/t/retry/manifests/v1")).status, 404);
      assertEquals((await http(reg.url, "HEAD", `/v2/t/retry/blobs/${img.layers[0].digest}`)).status, 404);
      await assertBlobFilesIntact(root);
      await skopeo(["copy", "--dest-tls-verify=false", `oci:${dir}/src:v1`, ref]);
      const m = await http(reg.url, "GET", "/v2/t/retry/manifests/v1");
      assertEquals(m.body, img.manifest.bytes);
      const layer = await http(reg.url, "GET", `/v2/t/retry/blobs/${img.layers[0].digest}`);
      assertEquals(digestOf(layer.body), img.layers[0].digest);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registry stress: gc running during pushes never loses anything a manifest references", () =>
  withRoot(async (state) => {
    const srv = await spawnServe(state, ["--addr", "127.0.0.1:0"]);
    const root = `${state}/registry`;
    const base = srv.url;
    try {
      const shared = randomBytes(128 * 1024);
      let stop = false;
      let collections = 0;
      // GC with no grace period at all, over and over, while 40 images are pushed.
      const gcLoop = (async () => {
        while (!stop) {
          const r = await ctr(state, ["serve", "gc", "--grace", "0s", "-q"]);
          assertEquals(r.code, 0, r.stderr);
          collections++;
        }
      })();
      const images = Array.from(
        { length: 40 },
        (_, i) => makeImage({ layers: [shared, randomBytes(2048)], label: `${i}` }),
      );
      let retries = 0;
      await Promise.all(images.map(async (img, i) => {
        const repo = `gc/r${i % 4}`;
        for (let attempt = 0;; attempt++) {
          for (const b of [img.config, ...img.layers]) await pushBlob(base, repo, b);
          const r = await putManifest(base, repo, `t${i}`, img.manifest, img.mediaType);
          if (r.status === 201) return;
          // GC took a blob between its upload and the manifest: the registry refuses the
          // manifest (never stores it dangling) and the client pushes again.
          assertEquals(errorCode(r), "MANIFEST_BLOB_UNKNOWN", r.text);
          retries++;
          assert(attempt < 20, "pushes eventually win");
        }
      }));
      stop = true;
      await gcLoop;
      assert(collections > 0, "gc ran during the pushes");
      // One more collection after everything is tagged: nothing referenced may go.
      const last = await ctr(state, ["serve", "gc", "--grace", "0s"]);
      assertEquals(last.code, 0);
      await Promise.all(images.map((img, i) => assertImageIntact(base, `gc/r${i % 4}`, `t${i}`, img)));
      await assertBlobFilesIntact(root);
      console.log(`gc during pushes: ${collections} collections, ${retries} manifest retries`);
    } finally {
      await srv.stop();
    }
  }));

Deno.test("registry stress: gc with its default grace period during skopeo pushes: every push succeeds", () =>
  withRoot(async (state) => {
    const dir = `${state}/layouts`;
    const srv = await spawnServe(state, ["--addr", "127.0.0.1:0"]);
    try {
      const host = new URL(srv.url).host;
      const images = Array.from(
        { length: 6 },
        (_, i) => buildImage([{ "shared": "same" }, { [`f${i}`]: builderRandom(512 * 1024) }]),
      );
      for (const [i, img] of images.entries()) await writeOciLayout(`${dir}/${i}`, img, "v1");
      let stop = false;
      const gcLoop = (async () => {
        while (!stop) assertEquals((await ctr(state, ["serve", "gc", "-q"])).code, 0);
      })();
      await Promise.all(
        images.map((_, i) =>
          skopeo(["copy", "--dest-tls-verify=false", `oci:${dir}/${i}:v1`, `docker://${host}/g/app${i}:v1`])
        ),
      );
      stop = true;
      await gcLoop;
      for (const [i, img] of images.entries()) {
        const m = await http(srv.url, "GET", `/v2/g/app${i}/manifests/v1`);
        assertEquals(m.body, img.manifest.bytes);
      }
    } finally {
      await srv.stop();
    }
  }));

Deno.test("registry stress: memory stays flat while a 1 GiB blob streams in and out", () =>
  withRoot(async (state) => {
    const srv = await spawnServe(state, ["--addr", "127.0.0.1:0"]);
    try {
      // The blob is a file fed to curl (Deno's own fetch streams request bodies slowly).
      const size = 1024 * 1024 * 1024;
      const file = `${state}/huge.bin`;
      const chunk = randomBytes(4 * 1024 * 1024);
      const h = createHash("sha256");
      const f = await Deno.open(file, { write: true, create: true });
      for (let i = 0; i < size / chunk.length; i++) {
        h.update(chunk);
        let off = 0;
        while (off < chunk.length) off += await f.write(chunk.subarray(off));
      }
      f.close();
      const digest = `sha256:${h.digest("hex")}`;
      const sh = async (script: string) => {
        const out = await new Deno.Command("bash", { args: ["-c", script], stdout: "piped", stderr: "piped" })
          .output();
        assert(out.success, new TextDecoder().decode(out.stderr));
        return new TextDecoder().decode(out.stdout).trim();
      };
      const status = await sh(
        `curl -s -o /dev/null -w '%{http_code}' -X POST -T ${file} -H 'Transfer-Encoding: chunked' ` +
          `'${srv.url}/v2/t/huge/blobs/uploads?digest=${digest}'`,
      );
      assertEquals(status, "201");
      await Deno.remove(file);
      const back = await sh(`curl -sf '${srv.url}/v2/t/huge/blobs/${digest}' | sha256sum`);
      assertEquals(`sha256:${back.split(" ")[0]}`, digest);
      // Peak resident memory of the server process (the launcher execs deno: same pid).
      const proc = await Deno.readTextFile(`/proc/${srv.child.pid}/status`);
      const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(proc)![1]);
      console.log(`ctr serve peak RSS after 1 GiB in and out: ${(peakKb / 1024).toFixed(0)} MiB`);
      assert(peakKb < 256 * 1024, `peak RSS ${peakKb} kB stays far below the 1 GiB blob`);
    } finally {
      await srv.stop();
    }
  }));
