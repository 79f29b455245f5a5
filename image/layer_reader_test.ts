import { assertEquals, assertRejects } from "../tests/assert.ts";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { LayerReader, layerWorkerPermissions } from "./layer_reader.ts";
import { digestOf } from "./digest.ts";
import { file, layer } from "../tests/layers.ts";

async function temp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-layer-reader-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const tar = layer(file("a", "x".repeat(300_000)), file("b", "y"));

for (const offThread of [false, true]) {
  for (
    const [compression, bytes] of [
      ["gzip", gzipSync(tar)],
      ["zstd", zstdCompressSync(tar)],
      ["none", tar],
    ] as const
  ) {
    Deno.test(`LayerReader (${offThread ? "worker" : "inline"}): ${compression} detected, diff ID computed`, async () => {
      await temp(async (dir) => {
        await Deno.writeFile(`${dir}/blob`, bytes);
        const r = new LayerReader(`${dir}/blob`, { offThread });
        const parts: Uint8Array[] = [];
        for await (const c of r) parts.push(c.slice());
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) {
          all.set(p, o);
          o += p.length;
        }
        assertEquals(all.length, tar.length);
        assertEquals(r.result, { diffId: digestOf(tar), size: tar.length, compression });
      });
    });
  }
  Deno.test(`LayerReader (${offThread ? "worker" : "inline"}) reports corrupt gzip`, async () => {
    await temp(async (dir) => {
      const gz = gzipSync(tar);
      gz.fill(0x55, 40, 400);
      await Deno.writeFile(`${dir}/blob`, gz);
      await assertRejects(async () => {
        for await (const _ of new LayerReader(`${dir}/blob`, { offThread })) { /* drain */ }
      }, TypeError);
    });
  });
}

Deno.test("the decompression worker can read its blob and nothing else: no net, write, env, run, ffi", async () => {
  await temp(async (dir) => {
    await Deno.writeTextFile(`${dir}/blob`, "blob");
    await Deno.writeTextFile(`${dir}/other`, "secret");
    await Deno.writeTextFile(
      `${dir}/probe.ts`,
      `const tries: Record<string, () => Promise<unknown>> = {
        readBlob: () => Deno.readTextFile(${JSON.stringify(`${dir}/blob`)}),
        readOther: () => Deno.readTextFile(${JSON.stringify(`${dir}/other`)}),
        write: () => Deno.writeTextFile(${JSON.stringify(`${dir}/blob`)}, "x"),
        net: () => fetch("http://127.0.0.1:65000/"),
        env: async () => Deno.env.get("PATH"),
        run: () => new Deno.Command("true").output(),
        ffi: async () => Deno.dlopen("libc.so.6", {}),
      };
      const out: Record<string, string> = {};
      for (const [k, f] of Object.entries(tries)) {
        try { await f(); out[k] = "allowed"; } catch (e) {
          const err = e as Error & { cause?: Error };
          // fetch wraps the refusal in a TypeError whose cause (or message) says so.
          out[k] = err.name === "NotCapable" || err.cause?.name === "NotCapable" || /NotCapable|Requires net access/.test(String(err.message))
            ? "NotCapable" : err.name + ": " + err.message;
        }
      }
      (self as unknown as { postMessage(m: unknown): void }).postMessage(out);`,
    );
    const w = new Worker(new URL(`file://${dir}/probe.ts`), {
      type: "module",
      deno: {
        permissions: { ...layerWorkerPermissions(`${dir}/blob`), read: [`${dir}/blob`, `${dir}/probe.ts`] },
      },
    } as WorkerOptions);
    const result = await new Promise<Record<string, string>>((
      resolve,
    ) => (w.onmessage = (e) => resolve(e.data)));
    w.terminate();
    assertEquals(result, {
      readBlob: "allowed",
      readOther: "NotCapable",
      write: "NotCapable",
      net: "NotCapable",
      env: "NotCapable",
      run: "NotCapable",
      ffi: "NotCapable",
    });
  });
});
