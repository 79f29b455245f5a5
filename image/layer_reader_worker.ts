/**
 * Worker half of {@linkcode import("./layer_reader.ts").LayerReader}: reads a layer blob,
 * detects its compression by magic bytes, decompresses and hashes it (the diff ID), and
 * posts the uncompressed bytes in batches the main thread acknowledges — so decompression
 * runs on its own core while the main thread writes files. Granted only read access to the
 * one blob (DESIGN.md §4).
 *
 * Messages in: `{ type: "start", path, window }`, then `{ type: "ack" }` per chunk consumed.
 * Messages out: `{ type: "chunk", buf }` (transferred), then `{ type: "done", diffId, size,
 * compression }` or `{ type: "error", message }`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createDecompressor, detectCompression } from "./compression.ts";

const BATCH = 512 * 1024;
let inflight = 0;
let wake: (() => void) | undefined;

interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (msg: unknown, transfer: Transferable[] = []) => scope.postMessage(msg, transfer);

async function run(path: string, window: number): Promise<void> {
  using file = await Deno.open(path, { read: true });
  const head = new Uint8Array(8);
  let headLen = 0;
  while (headLen < head.length) {
    const n = await file.read(head.subarray(headLen));
    if (n === null) break;
    headLen += n;
  }
  const compression = detectCompression(head.subarray(0, headLen));
  await file.seek(0, Deno.SeekMode.Start);
  const hash = createHash("sha256");
  let size = 0;
  let batch = new Uint8Array(BATCH);
  let batchLen = 0;
  const flush = async () => {
    if (!batchLen) return;
    while (inflight >= window) await new Promise<void>((r) => (wake = r));
    inflight++;
    const out = batchLen === BATCH ? batch : batch.slice(0, batchLen);
    post({ type: "chunk", buf: out }, [out.buffer]);
    batch = new Uint8Array(BATCH);
    batchLen = 0;
  };
  const consume = async (c: Uint8Array) => {
    hash.update(c);
    size += c.length;
    while (c.length) {
      const take = Math.min(BATCH - batchLen, c.length);
      batch.set(c.subarray(0, take), batchLen);
      batchLen += take;
      c = c.subarray(take);
      if (batchLen === BATCH) await flush();
    }
  };
  const z = createDecompressor(compression);
  if (!z) {
    for await (const c of file.readable) await consume(c);
  } else {
    const queue: Uint8Array[] = [];
    let ended = false;
    let failed: Error | undefined;
    let notify: (() => void) | undefined;
    z.on("data", (c: Uint8Array) => {
      queue.push(c);
      if (queue.length > 8) z.pause();
      notify?.();
    });
    z.on("end", () => {
      ended = true;
      notify?.();
    });
    z.on("error", (e: Error) => {
      failed = new TypeError(`Invalid ${compression} data: ${e.message}`);
      notify?.();
    });
    const feeding = (async () => {
      for await (const c of file.readable) {
        if (failed) return;
        if (!z.write(c)) await new Promise((r) => z.once("drain", r));
      }
      z.end();
    })();
    for (;;) {
      while (queue.length) {
        await consume(queue.shift()!);
        if (queue.length <= 2) z.resume();
      }
      if (failed) throw failed;
      if (ended) break;
      await new Promise<void>((r) => (notify = r));
      notify = undefined;
    }
    await feeding;
  }
  await flush();
  post({ type: "done", diffId: `sha256:${hash.digest("hex")}`, size, compression });
}

scope.onmessage = (e: MessageEvent) => {
  const msg = e.data as { type: string; path?: string; window?: number };
  if (msg.type === "ack") {
    inflight--;
    wake?.();
    wake = undefined;
    return;
  }
  if (msg.type === "start") {
    run(msg.path!, msg.window ?? 8).catch((err) =>
      post({ type: "error", message: err instanceof Error ? err.message : String(err) })
    );
  }
};
