import { gzipSync, zstdCompressSync } from "node:zlib";
import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { makeTar } from "../tests/image_builder.ts";
import { fetchAddSources, isArchive } from "./add_sources.ts";

Deno.test("isArchive: tar by its header checksum, plain or compressed; anything else is a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tar = makeTar({ "a.txt": "a\n" });
    const cases: [string, Uint8Array, boolean][] = [
      ["plain.tar", tar, true],
      ["app.tgz", gzipSync(tar), true],
      ["app.tar.zst", zstdCompressSync(tar), true],
      ["text.gz", gzipSync(new TextEncoder().encode("hello\n".repeat(200))), false],
      ["short", new TextEncoder().encode("tiny"), false],
      ["zeros", new Uint8Array(1024), false],
      ["xz", new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2]), false],
    ];
    for (const [name, bytes, expected] of cases) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      assertEquals(await isArchive(`${dir}/${name}`), expected, name);
    }
    assertEquals(await isArchive(`${dir}/missing`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fetchAddSources: names, Last-Modified, checksums and HTTP errors (loopback server)", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/dl/tool%20v1.bin") {
      return new Response("tool bytes", { headers: { "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT" } });
    }
    if (path === "/") return new Response("index");
    return new Response("no", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const got = await fetchAddSources([`${base}/dl/tool%20v1.bin`, `${base}/`]);
    assertEquals(got.files.map((f) => [f.name, new TextDecoder().decode(f.data), f.mtimeMs]), [
      ["tool v1.bin", "tool bytes", Date.UTC(2015, 9, 21, 7, 28)],
      ["index.html", "index", 0],
    ]);
    assert(got.digest.startsWith("sha256:"));
    const sum = "sha256:" + Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("tool bytes"))),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assertEquals((await fetchAddSources([`${base}/dl/tool%20v1.bin`], { checksum: sum })).files.length, 1);
    await assertRejects(
      () => fetchAddSources([`${base}/dl/tool%20v1.bin`], { checksum: "sha256:" + "0".repeat(64) }),
      Error,
      `digest mismatch ${sum}`,
    );
    await assertRejects(
      () => fetchAddSources([`${base}/x`, `${base}/y`], { checksum: sum }),
      Error,
      "multiple",
    );
    await assertRejects(
      () => fetchAddSources([`${base}/x`], { checksum: "md5:abc" }),
      Error,
      "invalid checksum",
    );
    await assertRejects(() => fetchAddSources([`${base}/nope`]), Error, "invalid response status 404");
  } finally {
    await server.shutdown();
  }
});
