/**
 * Raw-HTTP tests of `ctr serve` blob endpoints and upload sessions: monolithic, chunked and
 * streamed uploads (case 11), ranges, digest checks, cancel, expiry, restart, and
 * cross-repository mounts (case 14).
 *
 * @module
 */
import { digestOf } from "../image/digest.ts";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { errorCode, http, pushBlob, randomBytes, withRegistry } from "./registry_helpers.ts";
import { startRegistry } from "../registry/server.ts";

const enc = new TextEncoder();
const HELLO = enc.encode("hello world");
const D = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
const D2 = "sha256:12998c017066eb0d2a70b94e6ed3192985855ce390f321bbdb832022888bd251";
const ZEROS = "sha256:" + "0".repeat(64);
const octet = { "Content-Type": "application/octet-stream" };

Deno.test("registry: case 11 — chunked PATCH with Content-Range, 416 on a gap, status, streamed PATCH, digest check", () =>
  withRegistry(async (reg) => {
    const base = reg.url;
    const r1 = await http(base, "POST", "/v2/t/chunk/blobs/uploads/", { headers: { "Content-Length": "0" } });
    assertEquals(r1.status, 202);
    const l1 = r1.headers.get("location")!;
    assertMatch(l1, /^\/v2\/t\/chunk\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assertEquals(r1.headers.get("docker-distribution-api-version"), "registry/2.0");

    const r2 = await http(base, "PATCH", l1, {
      body: enc.encode("hello"),
      headers: { ...octet, "Content-Range": "0-4" },
    });
    assertEquals(r2.status, 202);
    assertMatch(r2.headers.get("range")!, /^(bytes=)?0-4$/);
    const l2 = r2.headers.get("location")!;

    const r3 = await http(base, "PATCH", l2, {
      body: enc.encode("rld"),
      headers: { ...octet, "Content-Range": "8-10" },
    });
    assertEquals(r3.status, 416);
    assertEquals(errorCode(r3), "BLOB_UPLOAD_INVALID");
    assertEquals(r3.headers.get("range"), "0-4");
    assertEquals(r3.headers.get("location"), l2);

    const r4 = await http(base, "GET", r3.headers.get("location")!);
    assertEquals(r4.status, 204);
    assertMatch(r4.headers.get("range")!, /^(bytes=)?0-4$/);
    assert(r4.headers.get("location"), "status has a Location");

    const r5 = await http(base, "PATCH", l2, {
      body: enc.encode(" worl"),
      headers: { ...octet, "Content-Range": "5-9" },
    });
    assertEquals(r5.status, 202);
    assertMatch(r5.headers.get("range")!, /^(bytes=)?0-9$/);
    const l3 = r5.headers.get("location")!;

    const r6 = await http(base, "PUT", `${l3}?digest=${ZEROS}`, {
      body: enc.encode("d"),
      headers: { ...octet, "Content-Range": "10-10" },
    });
    assertEquals(r6.status, 400);
    assertEquals(errorCode(r6), "DIGEST_INVALID");
    assertEquals(r6.headers.get("content-type"), "application/json");

    // Streamed: a PATCH without Content-Range.
    const r7 = await http(base, "POST", "/v2/t/chunk/blobs/uploads/");
    const l4 = r7.headers.get("location")!;
    const r7b = await http(base, "PATCH", l4, { body: HELLO, headers: octet });
    assertEquals(r7b.status, 202);
    assertMatch(r7b.headers.get("range")!, /^(bytes=)?0-10$/);
    const r8 = await http(base, "PUT", `${r7b.headers.get("location")}?digest=${D}`, {
      headers: { "Content-Length": "0" },
    });
    assertEquals(r8.status, 201);
    assertEquals(r8.headers.get("location"), `/v2/t/chunk/blobs/${D}`);
    assertEquals(r8.headers.get("docker-content-digest"), D);

    const r9 = await http(base, "HEAD", `/v2/t/chunk/blobs/${D}`);
    assertEquals(r9.status, 200);
    assertEquals(r9.headers.get("content-length"), "11");
    assertEquals(r9.headers.get("docker-content-digest"), D);
    assertEquals(r9.body.length, 0);
    const r10 = await http(base, "GET", `/v2/t/chunk/blobs/${D}`);
    assertEquals(r10.status, 200);
    assertEquals(r10.text, "hello world");
    const r11 = await http(base, "GET", `/v2/t/chunk/blobs/${D}`, { headers: { Range: "bytes=6-10" } });
    assertEquals(r11.status, 206);
    assertEquals(r11.text, "world");
    assertEquals(r11.headers.get("content-range"), "bytes 6-10/11");

    // An out-of-order closing PUT is 416 and commits nothing.
    const s = await http(base, "POST", "/v2/t/chunk/blobs/uploads/");
    const p = await http(base, "PATCH", s.headers.get("location")!, {
      body: enc.encode("hello"),
      headers: { ...octet, "Content-Range": "0-4" },
    });
    assertEquals(p.status, 202);
    const put = await http(base, "PUT", `${p.headers.get("location")}?digest=${D2}`, {
      body: enc.encode("ere"),
      headers: { ...octet, "Content-Range": "8-10" },
    });
    assertEquals(put.status, 416);
    assertEquals((await http(base, "HEAD", `/v2/t/chunk/blobs/${D2}`)).status, 404);
    assertEquals((await http(base, "HEAD", `/v2/t/chunk/blobs/${ZEROS}`)).status, 404);
  }));

Deno.test("registry: a failed digest keeps nothing, under either digest, in any repository", () =>
  withRegistry(async (reg, root) => {
    const bytes = enc.encode("not what you said");
    const r = await http(reg.url, "POST", `/v2/t/x/blobs/uploads/?digest=${ZEROS}`, {
      body: bytes,
      headers: octet,
    });
    assertEquals(r.status, 400);
    assertEquals(errorCode(r), "DIGEST_INVALID");
    assertEquals((await http(reg.url, "HEAD", `/v2/t/x/blobs/${ZEROS}`)).status, 404);
    assertEquals((await http(reg.url, "HEAD", `/v2/t/x/blobs/${digestOf(bytes)}`)).status, 404);
    const files = [...Deno.readDirSync(root)].map((e) => e.name);
    for (const dir of ["blobs", "uploads"]) {
      if (!files.includes(dir)) continue;
      const left: string[] = [];
      for (const e of Deno.readDirSync(`${root}/${dir}`)) {
        if (e.isDirectory) {
          for (const f of Deno.readDirSync(`${root}/${dir}/${e.name}`)) left.push(f.name);
        } else left.push(e.name);
      }
      assertEquals(left, [], `${dir}/ is empty`);
    }
  }));

Deno.test("registry: monolithic POST then PUT, and the bad-request cases of uploads", () =>
  withRegistry(async (reg) => {
    const base = reg.url;
    const s = await http(base, "POST", "/v2/t/m/blobs/uploads/");
    const put = await http(base, "PUT", `${s.headers.get("location")}?digest=${D}`, {
      body: HELLO,
      headers: octet,
    });
    assertEquals(put.status, 201);
    assertEquals((await http(base, "GET", `/v2/t/m/blobs/${D}`)).text, "hello world");

    // No digest, a malformed digest, an unknown algorithm.
    const s2 = await http(base, "POST", "/v2/t/m/blobs/uploads/");
    const loc = s2.headers.get("location")!;
    for (const q of ["", "?digest=sha256:abc", "?digest=md5:" + "0".repeat(32)]) {
      const r = await http(base, "PUT", loc + q, { body: HELLO, headers: octet });
      assertEquals(r.status, 400, `PUT ${q}`);
      assertEquals(errorCode(r), "DIGEST_INVALID", `PUT ${q}`);
    }
    // Content-Range that disagrees with Content-Length, and a malformed one.
    const s3 = await http(base, "POST", "/v2/t/m/blobs/uploads/");
    const bad = await http(base, "PATCH", s3.headers.get("location")!, {
      body: enc.encode("hello"),
      headers: { ...octet, "Content-Range": "0-9" },
    });
    assertEquals(bad.status, 400);
    assertEquals(errorCode(bad), "SIZE_INVALID");
    const malformed = await http(base, "PATCH", s3.headers.get("location")!, {
      body: enc.encode("hello"),
      headers: { ...octet, "Content-Range": "five-nine" },
    });
    assertEquals(malformed.status, 416);
    assertEquals(errorCode(malformed), "BLOB_UPLOAD_INVALID");
    // The session is still usable at offset 0.
    const st = await http(base, "GET", s3.headers.get("location")!);
    assertEquals(st.status, 204);
    assertEquals(st.headers.get("range"), "0-0");

    // Unknown sessions: never issued, malformed id, other repository.
    const unknown = "/v2/t/m/blobs/uploads/00000000-0000-4000-8000-000000000000";
    for (
      const [method, path] of [
        ["GET", unknown],
        ["PATCH", unknown],
        ["PUT", unknown + `?digest=${D}`],
        [
          "DELETE",
          unknown,
        ],
        ["GET", "/v2/t/m/blobs/uploads/..%2F..%2Fetc"],
        ["GET", s3.headers.get("location")!.replace("t/m", "t/other")],
      ]
    ) {
      const r = await http(
        base,
        method,
        path,
        method === "GET" || method === "DELETE" ? {} : { body: HELLO },
      );
      assertEquals(r.status, 404, `${method} ${path}`);
      assertEquals(errorCode(r), "BLOB_UPLOAD_UNKNOWN", `${method} ${path}`);
    }
  }));

Deno.test("registry: cancelling an upload with DELETE forgets it", () =>
  withRegistry(async (reg) => {
    const s = await http(reg.url, "POST", "/v2/t/c/blobs/uploads/");
    const loc = s.headers.get("location")!;
    await http(reg.url, "PATCH", loc, { body: enc.encode("partial"), headers: octet });
    const del = await http(reg.url, "DELETE", loc);
    assertEquals(del.status, 204);
    const st = await http(reg.url, "GET", loc);
    assertEquals(st.status, 404);
    assertEquals(errorCode(st), "BLOB_UPLOAD_UNKNOWN");
  }));

Deno.test("registry: upload sessions survive a restart and expire after their time-to-live", async () => {
  const root = await Deno.makeTempDir({ prefix: "ctr-registry-test-" });
  try {
    let reg = await startRegistry({ root, addr: "127.0.0.1:0", accessLog: false, quiet: true });
    const s = await http(reg.url, "POST", "/v2/t/r/blobs/uploads/");
    const loc = s.headers.get("location")!;
    await http(reg.url, "PATCH", loc, {
      body: enc.encode("hello "),
      headers: { ...octet, "Content-Range": "0-5" },
    });
    await reg.stop();
    reg = await startRegistry({ root, addr: "127.0.0.1:0", accessLog: false, quiet: true });
    const st = await http(reg.url, "GET", loc);
    assertEquals(st.status, 204);
    assertEquals(st.headers.get("range"), "0-5");
    // The hash state was lost with the process: the closing PUT re-hashes the stored bytes.
    const put = await http(reg.url, "PUT", `${loc}?digest=${D}`, {
      body: enc.encode("world"),
      headers: { ...octet, "Content-Range": "6-10" },
    });
    assertEquals(put.status, 201, put.text);
    assertEquals((await http(reg.url, "GET", `/v2/t/r/blobs/${D}`)).text, "hello world");
    await reg.stop();

    reg = await startRegistry({ root, addr: "127.0.0.1:0", accessLog: false, quiet: true, uploadTtlMs: 300 });
    const s2 = await http(reg.url, "POST", "/v2/t/r/blobs/uploads/");
    await new Promise((r) => setTimeout(r, 400));
    const expired = await http(reg.url, "PATCH", s2.headers.get("location")!, {
      body: HELLO,
      headers: octet,
    });
    assertEquals(expired.status, 404);
    assertEquals(errorCode(expired), "BLOB_UPLOAD_UNKNOWN");
    await reg.stop();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("registry: blob ranges — suffix, open-ended, whole, unsatisfiable", () =>
  withRegistry(async (reg) => {
    const d = await pushBlob(reg.url, "t/range", HELLO);
    const get = (range: string) =>
      http(reg.url, "GET", `/v2/t/range/blobs/${d}`, { headers: { Range: range } });
    let r = await get("bytes=-3");
    assertEquals([r.status, r.text, r.headers.get("content-range")], [206, "rld", "bytes 8-10/11"]);
    r = await get("bytes=6-");
    assertEquals([r.status, r.text], [206, "world"]);
    r = await get("bytes=0-100");
    assertEquals([r.status, r.text, r.headers.get("content-range")], [206, "hello world", "bytes 0-10/11"]);
    r = await get("bytes=11-");
    assertEquals([r.status, r.headers.get("content-range")], [416, "bytes */11"]);
    r = await get("bytes=0-1,3-4");
    assertEquals([r.status, r.text], [200, "hello world"]);
    r = await get("items=0-1");
    assertEquals([r.status, r.text], [200, "hello world"]);
  }));

Deno.test("registry: blob GET/HEAD/DELETE errors — unknown, malformed digest, deleted", () =>
  withRegistry(async (reg) => {
    const d = await pushBlob(reg.url, "t/del", HELLO);
    let r = await http(reg.url, "GET", `/v2/t/del/blobs/${ZEROS}`);
    assertEquals([r.status, errorCode(r)], [404, "BLOB_UNKNOWN"]);
    r = await http(reg.url, "GET", `/v2/t/del/blobs/sha256:zz`);
    assertEquals([r.status, errorCode(r)], [400, "DIGEST_INVALID"]);
    r = await http(reg.url, "GET", `/v2/t/other/blobs/${d}`);
    assertEquals([r.status, errorCode(r)], [404, "BLOB_UNKNOWN"], "a blob is visible only where linked");
    r = await http(reg.url, "DELETE", `/v2/t/del/blobs/${d}`);
    assertEquals(r.status, 202);
    r = await http(reg.url, "HEAD", `/v2/t/del/blobs/${d}`);
    assertEquals(r.status, 404);
    r = await http(reg.url, "DELETE", `/v2/t/del/blobs/${d}`);
    assertEquals([r.status, errorCode(r)], [404, "BLOB_UNKNOWN"]);
    r = await http(reg.url, "POST", `/v2/t/del/blobs/${d}`);
    assertEquals([r.status, errorCode(r)], [405, "UNSUPPORTED"]);
  }));

Deno.test("registry: case 14 — cross-repository mount is 201 when the source has the blob, else a 202 session", () =>
  withRegistry(async (reg) => {
    const base = reg.url;
    await pushBlob(base, "t/src", HELLO);
    const m = await http(base, "POST", `/v2/t/dst/blobs/uploads/?mount=${D}&from=t/src`, {
      headers: { "Content-Length": "0" },
    });
    assertEquals(m.status, 201);
    assertMatch(m.headers.get("location")!, new RegExp(`^(https?://[^/]+)?/v2/t/dst/blobs/${D}$`));
    assertEquals(m.headers.get("docker-content-digest"), D);
    const h = await http(base, "HEAD", `/v2/t/dst/blobs/${D}`);
    assertEquals([h.status, h.headers.get("content-length"), h.headers.get("docker-content-digest")], [
      200,
      "11",
      D,
    ]);
    assertEquals((await http(base, "GET", `/v2/t/dst/blobs/${D}`)).text, "hello world");

    const AAAA = "sha256:" + "a".repeat(64);
    for (
      const [repo, query] of [["t/dst2", `mount=${AAAA}&from=t/src`], [
        "t/dst3",
        `mount=${D}&from=t/does-not-exist`,
      ], [
        "t/dst4",
        `mount=${D}`,
      ], ["t/dst5", `mount=${D}&from=Bad/Name`]]
    ) {
      const r = await http(base, "POST", `/v2/${repo}/blobs/uploads/?${query}`);
      assertEquals(r.status, 202, `${repo} ${query}`);
      const loc = r.headers.get("location")!;
      assertMatch(loc, new RegExp(`^/v2/${repo}/blobs/uploads/`));
      // The fallback session is a normal one.
      const put = await http(base, "PUT", `${loc}?digest=${D}`, { body: HELLO, headers: octet });
      assertEquals(put.status, 201);
    }
    assertEquals((await http(base, "HEAD", `/v2/t/dst2/blobs/${AAAA}`)).status, 404);
  }));

Deno.test("registry: a large blob streams in and out intact (chunked PATCHes, ranged GET)", () =>
  withRegistry(async (reg) => {
    const big = randomBytes(5 * 1024 * 1024 + 123);
    const d = digestOf(big);
    const s = await http(reg.url, "POST", "/v2/t/big/blobs/uploads/");
    let loc = s.headers.get("location")!;
    const chunk = 1024 * 1024;
    for (let off = 0; off < big.length; off += chunk) {
      const part = big.subarray(off, Math.min(big.length, off + chunk));
      const r = await http(reg.url, "PATCH", loc, {
        body: part,
        headers: { ...octet, "Content-Range": `${off}-${off + part.length - 1}` },
      });
      assertEquals(r.status, 202);
      assertEquals(r.headers.get("range"), `0-${off + part.length - 1}`);
      loc = r.headers.get("location")!;
    }
    assertEquals((await http(reg.url, "PUT", `${loc}?digest=${d}`)).status, 201);
    const back = await http(reg.url, "GET", `/v2/t/big/blobs/${d}`);
    assertEquals(back.body.length, big.length);
    assertEquals(digestOf(back.body), d);
    const mid = await http(reg.url, "GET", `/v2/t/big/blobs/${d}`, {
      headers: { Range: "bytes=1000000-3999999" },
    });
    assertEquals(mid.status, 206);
    assertEquals(digestOf(mid.body), digestOf(big.subarray(1000000, 4000000)));
  }));
