import { assert, assertEquals, assertMatch } from "../tests/assert.ts";
import { attachBytesBody, attachFileBody, serveHttp1 } from "./http1.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A server whose handler echoes method, path and body length, plus a few special paths. */
async function withServer(fn: (port: number, seen: string[]) => Promise<void>): Promise<void> {
  const seen: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "ctr-http1-" });
  await Deno.writeTextFile(`${dir}/file`, "0123456789");
  const server = serveHttp1({
    hostname: "127.0.0.1",
    port: 0,
    handler: async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/reject") {
        await req.body?.cancel();
        seen.push(`${req.method} ${url.pathname} rejected`);
        return new Response("no\n", { status: 416 });
      }
      if (url.pathname === "/file") {
        const f = await Deno.open(`${dir}/file`);
        await f.seek(2, Deno.SeekMode.Start);
        return attachFileBody(new Response(null, { headers: { "x-kind": "file" } }), f, 5);
      }
      if (url.pathname === "/bytes") {
        const b = enc.encode("bytes!");
        return attachBytesBody(new Response(b), b);
      }
      if (url.pathname === "/stream") {
        return new Response(ReadableStream.from([enc.encode("ab"), enc.encode("cd")]));
      }
      if (url.pathname === "/throw") throw new Error("boom");
      const body = req.body ? new Uint8Array(await new Response(req.body).arrayBuffer()) : new Uint8Array();
      seen.push(`${req.method} ${url.pathname} ${body.length} ${dec.decode(body)}`);
      return new Response(`${req.method} ${url.pathname} ${body.length}`, {
        headers: { "x-host": req.headers.get("host") ?? "" },
      });
    },
  });
  try {
    await fn(server.addr.port, seen);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends raw bytes and reads until the server closes or `until` matches. */
async function raw(
  port: number,
  data: string | Uint8Array,
  until?: RegExp,
  writes: (string | Uint8Array)[] = [],
) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(typeof data === "string" ? enc.encode(data) : data);
  for (const w of writes) {
    await new Promise((r) => setTimeout(r, 30));
    await conn.write(typeof w === "string" ? enc.encode(w) : w);
  }
  let out = "";
  const buf = new Uint8Array(65536);
  const timer = setTimeout(() => conn.close(), 3000);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += dec.decode(buf.subarray(0, n));
      if (until && until.test(out)) break;
    }
  } catch {
    /* closed */
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return out;
}

Deno.test("http1: keep-alive, pipelining in order, Content-Length and chunked bodies", () =>
  withServer(async (port, seen) => {
    const out = await raw(
      port,
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
        "PUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: y\r\n\r\n" +
        "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    assertEquals(statuses, ["200", "200", "200"]);
    assertEquals(seen, ["POST /a 5 hello", "PUT /b 5 abcde", "GET /c 0 "]);
    assertMatch(out, /POST \/a 5/);
    assertMatch(out, /connection: close/);
    assertMatch(out, /x-host: x/);
  }));

Deno.test("http1: a body split across packets, and Expect: 100-continue", () =>
  withServer(async (port, seen) => {
    const out = await raw(
      port,
      "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab",
      /POST \/slow 6/,
      [
        "cd",
        "ef",
      ],
    );
    assertMatch(out, /^HTTP\/1\.1 200 OK/);
    const cont = await raw(
      port,
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
      /POST \/c 3/,
      ["xyz"],
    );
    assertMatch(cont, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    assertEquals(seen, ["POST /slow 6 abcdef", "POST /c 3 xyz"]);
  }));

Deno.test("http1: an unread body is drained so the next request on the connection works", () =>
  withServer(async (port, seen) => {
    const out = await raw(
      port,
      "PATCH /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nrld" +
        "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assertEquals([...out.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]), ["416", "200"]);
    assertEquals(seen, ["PATCH /reject rejected", "GET /after 0 "]);
    // 100-continue that the handler refuses: the client never sends the body; no hang.
    const refused = await raw(
      port,
      "PUT /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n",
    );
    assertMatch(refused, /^HTTP\/1\.1 416 /);
    assert(!refused.includes("100 Continue"), "no 100 Continue for a refused body");
  }));

Deno.test("http1: file, bytes and stream bodies; HEAD keeps the length without a body", () =>
  withServer(async (port) => {
    const file = await raw(port, "GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assertMatch(file, /content-length: 5\r\n/);
    assert(file.endsWith("\r\n\r\n23456"), file);
    const bytes = await raw(port, "GET /bytes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert(bytes.endsWith("\r\n\r\nbytes!"), bytes);
    const stream = await raw(port, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assertMatch(stream, /transfer-encoding: chunked\r\n/);
    assert(stream.endsWith("\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"), stream);
    const head = await raw(port, "HEAD /bytes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assertMatch(head, /content-length: 6\r\n/);
    assert(head.endsWith("\r\n\r\n"), "no body after HEAD");
    // And fetch, a real client, agrees.
    const r = await fetch(`http://127.0.0.1:${port}/stream`);
    assertEquals(await r.text(), "abcd");
  }));

Deno.test("http1: malformed and smuggling-prone requests are refused and the connection closed", () =>
  withServer(async (port, seen) => {
    const cases: [string, number][] = [
      ["POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
      ["POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400],
      ["POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
      ["POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400],
      ["GET /x HTTP/1.1\r\nBad Header: x\r\n\r\n", 400],
      ["GET /x HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400],
      ["GET /x HTTP/2.0\r\n\r\n", 505],
      ["NONSENSE\r\n\r\n", 400],
      [`GET /x HTTP/1.1\r\n${"X-A: b\r\n".repeat(101)}\r\n`, 431],
      ["PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
      ["GET /x HTTP/1.1\r\nX: " + "a".repeat(70 * 1024) + "\r\n\r\n", 431],
    ];
    for (const [req, status] of cases) {
      const out = await raw(port, req);
      assertMatch(out, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(req.slice(0, 60)));
      assertMatch(out, /connection: close/);
    }
    assertEquals(seen.filter((s) => s.startsWith("POST /x") || s.startsWith("GET /x")).length, 0);
  }));

Deno.test("http1: a TLS ClientHello on the plain port is answered 400 at once (clients then fall back to HTTP)", () =>
  withServer(async (port) => {
    const hello = new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    const t = performance.now();
    const out = await raw(port, hello);
    assertMatch(out, /^HTTP\/1\.1 400 /);
    assert(performance.now() - t < 1000, "no wait for a request head that never comes");
  }));

Deno.test("http1: a handler that throws gives 500; HTTP/1.0 closes unless keep-alive", () =>
  withServer(async (port) => {
    const out = await raw(port, "GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
    assertMatch(out, /^HTTP\/1\.1 500 /);
    const old = await raw(port, "GET /a HTTP/1.0\r\n\r\n");
    assertMatch(old, /^HTTP\/1\.1 200 [^]*connection: close/);
  }));

Deno.test("http1: a client that breaks the TLS handshake is a client error, not the server's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-http1-tls-" });
  try {
    const out = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${dir}/k.pem`,
        "-out",
        `${dir}/c.pem`,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
      ],
      stderr: "null",
    }).output();
    assert(out.success, "openssl made a certificate");
    const serverErrors: unknown[] = [];
    const clientErrors: string[] = [];
    const server = serveHttp1({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: await Deno.readTextFile(`${dir}/c.pem`), key: await Deno.readTextFile(`${dir}/k.pem`) },
      handler: () => new Response("x"),
      onError: (e) => serverErrors.push(e),
      onClientError: (e, remote) => clientErrors.push(`${(e as Error).name} ${remote.hostname}`),
    });
    try {
      // Plain HTTP at the TLS port, as a client trying http:// first does.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      await conn.write(enc.encode("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"));
      await conn.read(new Uint8Array(1024)).catch(() => null);
      conn.close();
      for (let i = 0; i < 100 && !clientErrors.length; i++) await new Promise((r) => setTimeout(r, 10));
      assertEquals(clientErrors, ["InvalidData 127.0.0.1"]);
      assertEquals(serverErrors, []);
    } finally {
      await server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
