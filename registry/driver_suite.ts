/**
 * The shared test suite every {@linkcode StorageDriver} must pass. `driver_test.ts` runs it
 * against each implementation; a new driver (S3) adds one line there.
 *
 * @module
 */
import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import type { StorageDriver } from "./driver.ts";

/** Creates a fresh, empty driver and a function that disposes of it. */
export type DriverFactory = () => Promise<{ driver: StorageDriver; dispose: () => Promise<void> }>;

const enc = new TextEncoder();
const dec = new TextDecoder();

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return dec.decode(await new Response(stream).arrayBuffer());
}

/**
 * Registers the suite's tests under `name`.
 *
 * @example
 * ```ts
 * runDriverSuite("memory", () => Promise.resolve({ driver: new MemoryDriver(), dispose: async () => {} }));
 * ```
 */
export function runDriverSuite(name: string, factory: DriverFactory): void {
  const t = (what: string, fn: (d: StorageDriver) => Promise<void>) =>
    Deno.test(`storage driver ${name}: ${what}`, async () => {
      const { driver, dispose } = await factory();
      try {
        await fn(driver);
      } finally {
        await dispose();
      }
    });

  t("write, read, stat, list and delete a key", async (d) => {
    assertEquals(await d.stat("a/b/c"), undefined);
    await d.write("a/b/c", enc.encode("hello"));
    assertEquals(dec.decode(await d.read("a/b/c")), "hello");
    const st = await d.stat("a/b/c");
    assertEquals(st?.size, 5);
    assertEquals(st?.isDirectory, false);
    assert((st?.modified ?? 0) > Date.now() - 60_000, "modified time is recent");
    assertEquals((await d.stat("a/b"))?.isDirectory, true);
    assertEquals(await d.list("a/b"), ["c"]);
    assertEquals(await d.list("nope"), []);
    assertEquals(await d.delete("a/b/c"), true);
    assertEquals(await d.delete("a/b/c"), false);
    assertEquals(await d.stat("a/b/c"), undefined);
  });

  t("a writer appends, truncates and reopens where it stopped", async (d) => {
    const w = await d.writer("u/1");
    assertEquals(w.size, 0);
    await w.write(enc.encode("hello "));
    await w.write(enc.encode("world"));
    assertEquals(w.size, 11);
    await w.truncate(6);
    await w.write(enc.encode("there"));
    await w.close();
    const again = await d.writer("u/1");
    assertEquals(again.size, 11);
    await again.write(enc.encode("!"));
    await again.close();
    assertEquals(dec.decode(await d.read("u/1")), "hello there!");
  });

  t("ranged readers return exactly the requested bytes", async (d) => {
    await d.write("r", enc.encode("0123456789"));
    const all = await d.reader("r");
    assertEquals(all.size, 10);
    assertEquals(await text(all.stream), "0123456789");
    assertEquals(await text((await d.reader("r", 3)).stream), "3456789");
    assertEquals(await text((await d.reader("r", 2, 3)).stream), "234");
    assertEquals(await text((await d.reader("r", 8, 100)).stream), "89");
    assertEquals(await text((await d.reader("r", 10)).stream), "");
    await assertRejects(() => d.reader("r", 11), RangeError);
    await assertRejects(() => d.reader("missing"), Deno.errors.NotFound);
    // A cancelled reader releases its handle without error.
    await (await d.reader("r", 1, 2)).stream.cancel();
  });

  t("large keys stream in order", async (d) => {
    const big = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
    const w = await d.writer("big");
    for (let off = 0; off < big.length; off += 100_000) await w.write(big.subarray(off, off + 100_000));
    await w.close();
    const got = new Uint8Array(
      await new Response((await d.reader("big", 5, big.length - 10)).stream).arrayBuffer(),
    );
    assertEquals(got.length, big.length - 10);
    assertEquals(got, big.subarray(5, big.length - 5));
  });

  t("move replaces the destination atomically and creates parents", async (d) => {
    await d.write("tmp/x", enc.encode("new"));
    await d.write("dst/y", enc.encode("old"));
    await d.move("tmp/x", "dst/y");
    assertEquals(dec.decode(await d.read("dst/y")), "new");
    assertEquals(await d.stat("tmp/x"), undefined);
    await d.write("tmp/z", enc.encode("z"));
    await d.move("tmp/z", "deep/er/z");
    assertEquals(dec.decode(await d.read("deep/er/z")), "z");
    await assertRejects(() => d.move("tmp/none", "dst/none"), Deno.errors.NotFound);
  });

  t("a reader opened before a replace keeps its bytes", async (d) => {
    await d.write("k", enc.encode("first version"));
    const r = await d.reader("k");
    await d.write("k", enc.encode("second"));
    assertEquals(await text(r.stream), "first version");
    assertEquals(dec.decode(await d.read("k")), "second");
  });

  t("delete removes a prefix recursively", async (d) => {
    await d.write("p/a", enc.encode("1"));
    await d.write("p/q/b", enc.encode("2"));
    assertEquals(await d.delete("p"), true);
    assertEquals(await d.list("p"), []);
  });

  t("keys that could escape the root are refused", async (d) => {
    for (const bad of ["../x", "/etc/passwd", "a/../../b", "a/./b"]) {
      await assertRejects(() => d.read(bad), RangeError);
      await assertRejects(() => d.write(bad, enc.encode("x")), RangeError);
    }
  });
}
