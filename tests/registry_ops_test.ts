/**
 * Operating `ctr serve` as a user would, through the CLI: health and Prometheus metrics,
 * one JSON access-log line per request, graceful shutdown on SIGTERM that finishes the
 * request in flight, `ctr serve gc`, and clear errors for bad flags and config files.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr, withRoot } from "./helpers.ts";
import { http, makeImage, pushImage, spawnServe } from "./registry_helpers.ts";

const enc = new TextEncoder();

Deno.test("ctr serve: healthz, metrics by route and code, and one JSON log line per request", () =>
  withRoot(async (root) => {
    const srv = await spawnServe(root, ["--addr", "127.0.0.1:0"]);
    try {
      const health = await http(srv.url, "GET", "/healthz");
      assertEquals([health.status, health.text], [200, "ok\n"]);
      const img = makeImage({ layers: 2, layerSize: 4096 });
      await pushImage(srv.url, "t/ops", "1", img);
      await http(srv.url, "GET", "/v2/t/ops/manifests/1");
      await http(srv.url, "GET", "/v2/t/ops/manifests/missing");
      const m = await http(srv.url, "GET", "/metrics");
      assertEquals(m.status, 200);
      assertMatch(m.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      const text = m.text;
      assertStringIncludes(
        text,
        'ctr_registry_http_requests_total{route="manifest",method="GET",code="200"} 1',
      );
      assertStringIncludes(
        text,
        'ctr_registry_http_requests_total{route="manifest",method="GET",code="404"} 1',
      );
      assertStringIncludes(
        text,
        'ctr_registry_http_requests_total{route="uploads",method="POST",code="201"} 3',
      );
      assertStringIncludes(
        text,
        'ctr_registry_http_request_duration_seconds_bucket{route="manifest",le="+Inf"} 3',
      );
      const received = Number(
        /ctr_registry_http_received_bytes_total\{route="uploads"\} (\d+)/.exec(text)![1],
      );
      assertEquals(received, img.config.length + 2 * 4096);
      const sent = Number(/ctr_registry_http_sent_bytes_total\{route="manifest"\} (\d+)/.exec(text)![1]);
      assert(sent >= img.manifest.length, "manifest bytes counted");
      assertStringIncludes(text, "ctr_registry_storage_blobs 4\n");
      assertStringIncludes(
        text,
        `ctr_registry_storage_bytes ${img.config.length + 2 * 4096 + img.manifest.length}\n`,
      );
      assertStringIncludes(text, "ctr_registry_repositories 1\n");
    } finally {
      const status = await srv.stop();
      assertEquals(status.code, 0);
    }
    const lines = srv.stderr().trim().split("\n").map((l) => JSON.parse(l));
    const requests = lines.filter((l) => l.msg === "request");
    // healthz + 3 blobs + manifest PUT + 2 GETs + metrics
    assertEquals(requests.length, 8);
    const put = requests.find((l) => l.method === "PUT")!;
    assertEquals([put.status, put.route, put.repository, put.path], [
      201,
      "manifest",
      "t/ops",
      "/v2/t/ops/manifests/1",
    ]);
    assert(typeof put.duration_ms === "number" && typeof put.time === "string", "has time and duration");
    assertEquals(requests.find((l) => l.status === 404)!.error, "MANIFEST_UNKNOWN");
    assert(
      lines.some((l) => l.msg === "listening") && lines.some((l) => l.msg === "stopped"),
      "start and stop logged",
    );
  }));

Deno.test("ctr serve: SIGTERM lets the request in flight finish, then exits 0", () =>
  withRoot(async (root) => {
    const srv = await spawnServe(root, ["--addr", "127.0.0.1:0"]);
    const s = await http(srv.url, "POST", "/v2/t/graceful/blobs/uploads/");
    let push!: (b: Uint8Array) => void, close!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        push = (b) => c.enqueue(b);
        close = () => c.close();
      },
    });
    const inflight = fetch(srv.url + s.headers.get("location"), { method: "PATCH", body });
    push(enc.encode("hello "));
    await new Promise((r) => setTimeout(r, 300));
    srv.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    push(enc.encode("world"));
    close();
    const res = await inflight;
    assertEquals(res.status, 202, srv.stderr());
    assertEquals(res.headers.get("range"), "0-10");
    await res.body?.cancel();
    const status = await srv.stop();
    assertEquals(status.code, 0);
    const refused = await fetch(`${srv.url}/v2/`).then(() => "answered", () => "refused");
    assertEquals(refused, "refused");
  }));

Deno.test("ctr serve gc: dry run reports, a real run deletes only what nothing references", () =>
  withRoot(async (root) => {
    const srv = await spawnServe(root, ["--addr", "127.0.0.1:0"]);
    const keep = makeImage({ layers: 2, label: "keep" });
    const drop = makeImage({ layers: 2, label: "drop" });
    try {
      await pushImage(srv.url, "t/gc", "keep", keep);
      await pushImage(srv.url, "t/gc", "drop", drop);
      assertEquals((await http(srv.url, "DELETE", "/v2/t/gc/manifests/drop")).status, 202);
    } finally {
      await srv.stop();
    }
    const dry = await ctr(root, ["serve", "gc", "--dry-run", "--grace", "0s"]);
    assertEquals(dry.code, 0, dry.stderr);
    assertStringIncludes(dry.stdout, `manifest would delete: t/gc@${drop.digest}`);
    assertStringIncludes(dry.stdout, "Would delete 1 manifests, 3 blob links, 4 blobs");
    const real = await ctr(root, ["serve", "gc", "--grace", "0s"]);
    assertEquals(real.code, 0, real.stderr);
    assertStringIncludes(real.stdout, "Deleted 1 manifests, 3 blob links, 4 blobs");
    const again = await ctr(root, ["serve", "gc", "--grace", "0s", "-q"]);
    assertEquals(again.stdout.trim(), "Deleted 0 manifests, 0 blob links, 0 blobs (0B)");
    const blobs = [...Deno.readDirSync(`${root}/registry/blobs/sha256`)].map((e) => `sha256:${e.name}`)
      .sort();
    const { digestOf } = await import("../image/digest.ts");
    assertEquals(blobs, [keep.digest, digestOf(keep.config), ...keep.layers.map((l) => digestOf(l))].sort());
    const srv2 = await spawnServe(root, ["--addr", "127.0.0.1:0"]);
    try {
      assertEquals((await http(srv2.url, "GET", "/v2/t/gc/manifests/keep")).body, keep.manifest);
      for (const l of keep.layers) {
        assertEquals((await http(srv2.url, "GET", `/v2/t/gc/blobs/${digestOf(l)}`)).body, l);
      }
    } finally {
      await srv2.stop();
    }
  }));

Deno.test("ctr serve: bad flags and config files fail with exit 125 and name the problem", () =>
  withRoot(async (root) => {
    let r = await ctr(root, ["serve", "--addr", "nonsense"]);
    assertEquals(r.code, 125);
    assertStringIncludes(r.stderr, "Invalid listen address");
    await Deno.writeTextFile(`${root}/bad.yaml`, "addr: 127.0.0.1:0\nuploads:\n  ttl: forever\n");
    r = await ctr(root, ["serve", "--config", `${root}/bad.yaml`]);
    assertEquals(r.code, 125);
    assertStringIncludes(r.stderr, `${root}/bad.yaml:3: uploads.ttl: invalid duration "forever"`);
    await Deno.writeTextFile(`${root}/bad2.yaml`, "addr: 127.0.0.1:0\nauth:\n  tokn: {}\n");
    r = await ctr(root, ["serve", "--config", `${root}/bad2.yaml`]);
    assertStringIncludes(r.stderr, `${root}/bad2.yaml:3: auth.tokn: unknown key`);
    await Deno.writeTextFile(`${root}/htpasswd`, "alice:plaintext\n");
    r = await ctr(root, ["serve", "--addr", "127.0.0.1:0", "--htpasswd", `${root}/htpasswd`]);
    assertEquals(r.code, 125);
    assertStringIncludes(r.stderr, `${root}/htpasswd:1: the hash of "alice" is not bcrypt`);
    r = await ctr(root, ["serve", "--addr", "127.0.0.1:0", "--tls-cert", `${root}/nope.pem`]);
    assertStringIncludes(r.stderr, "TLS needs both");
    r = await ctr(root, ["serve", "gc", "--root", `${root}/empty`]);
    assertEquals(r.code, 125);
    assertStringIncludes(r.stderr, "No registry at");
  }));
