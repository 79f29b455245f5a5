import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { ContentStore } from "./content_store.ts";
import { digestOf } from "./digest.ts";
import { DigestMismatchError, NotFoundError } from "../errors.ts";

const HELLO = new TextEncoder().encode("hello world");
const HELLO_DIGEST = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

async function withStore(fn: (s: ContentStore, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir();
  try {
    await fn(new ContentStore(root), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("content store: put stores bytes under their sha256", () =>
  withStore(async (s, root) => {
    const r = await s.put(HELLO);
    assertEquals(r, { digest: HELLO_DIGEST, size: 11 });
    assertEquals(await Deno.readTextFile(`${root}/blobs/sha256/${HELLO_DIGEST.slice(7)}`), "hello world");
    assert(await s.has(HELLO_DIGEST));
    assertEquals(await s.size(HELLO_DIGEST), 11);
    assertEquals(new TextDecoder().decode(await s.readBytes(HELLO_DIGEST, { verify: true })), "hello world");
  }));

Deno.test("content store: a stream is hashed while written", () =>
  withStore(async (s) => {
    const chunks = [new Uint8Array(70000).fill(1), new Uint8Array(3).fill(2)];
    const r = await s.put(ReadableStream.from(chunks));
    const all = new Uint8Array(70003);
    all.set(chunks[0]);
    all.set(chunks[1], 70000);
    assertEquals(r.digest, digestOf(all));
    assertEquals(r.size, 70003);
  }));

Deno.test("content store: a wrong expected digest keeps nothing", () =>
  withStore(async (s) => {
    const wrong = "sha256:" + "0".repeat(64);
    await assertRejects(() => s.put(HELLO, { expected: wrong }), DigestMismatchError, wrong);
    assertEquals(await s.has(wrong), false);
    assertEquals(await s.has(HELLO_DIGEST), false);
    assertEquals([...Deno.readDirSync(`${s.dir}/ingest`)].length, 0);
  }));

Deno.test("content store: a wrong size keeps nothing", () =>
  withStore(async (s) => {
    await assertRejects(
      () => s.put(HELLO, { expected: HELLO_DIGEST, expectedSize: 12 }),
      RangeError,
      "Size mismatch",
    );
    assertEquals(await s.has(HELLO_DIGEST), false);
  }));

Deno.test("content store: a resumable write continues after an interruption", () =>
  withStore(async (s) => {
    const w1 = await s.writer({ expected: HELLO_DIGEST, resumable: true });
    await w1.write(HELLO.subarray(0, 5));
    await w1.abort(); // e.g. the connection dropped: the partial bytes stay
    assertEquals(await s.has(HELLO_DIGEST), false);
    const w2 = await s.writer({ expected: HELLO_DIGEST, resumable: true });
    assertEquals(w2.offset, 5);
    await w2.write(HELLO.subarray(5));
    assertEquals(await w2.commit(), { digest: HELLO_DIGEST, size: 11 });
    assertEquals([...Deno.readDirSync(`${s.dir}/ingest`)].length, 0);
  }));

Deno.test("content store: a writer waiting for the same digest sees the blob committed", () =>
  withStore(async (s) => {
    const a = await s.writer({ expected: HELLO_DIGEST, resumable: true });
    await a.write(HELLO);
    // b waits for a's lock; when it gets it, the blob must already be under its digest
    const b = s.writer({ expected: HELLO_DIGEST, resumable: true }).then(async (w) => ({
      w,
      committed: await s.has(HELLO_DIGEST),
    }));
    await a.commit();
    const got = await b;
    assertEquals(got.committed, true);
    await got.w.abort(false);
    assertEquals(await s.readBytes(HELLO_DIGEST), HELLO);
  }));

Deno.test("content store: reading a missing blob is NotFoundError; delete reports absence", () =>
  withStore(async (s) => {
    await assertRejects(() => s.readBytes(HELLO_DIGEST), NotFoundError);
    assertEquals(await s.delete(HELLO_DIGEST), false);
    await s.put(HELLO);
    assertEquals(await s.delete(HELLO_DIGEST), true);
    assertEquals(await s.has(HELLO_DIGEST), false);
  }));

Deno.test("content store: verify detects a blob corrupted on disk", () =>
  withStore(async (s) => {
    await s.put(HELLO);
    assertEquals(await s.verify(HELLO_DIGEST), true);
    await Deno.chmod(s.path(HELLO_DIGEST), 0o644);
    await Deno.writeTextFile(s.path(HELLO_DIGEST), "hello WORLD");
    assertEquals(await s.verify(HELLO_DIGEST), false);
    await assertRejects(() => s.readBytes(HELLO_DIGEST, { verify: true }), DigestMismatchError);
  }));

Deno.test("content store: list yields committed digests only", () =>
  withStore(async (s) => {
    await s.put(HELLO);
    const w = await s.writer();
    await w.write(new Uint8Array([1]));
    const listed = [];
    for await (const d of s.list()) listed.push(d);
    assertEquals(listed, [HELLO_DIGEST]);
    await w.abort();
  }));

Deno.test("content store: a writer killed mid-write leaves nothing under the digest", () =>
  withStore(async (s, root) => {
    // A child process writes half a blob and is killed before committing.
    const code = `
      import { ContentStore } from "${new URL("./content_store.ts", import.meta.url)}";
      const s = new ContentStore(${JSON.stringify(root)});
      const w = await s.writer({ expected: "${HELLO_DIGEST}" });
      await w.write(new TextEncoder().encode("hello"));
      console.log("written");
      await new Promise(() => {});`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assertEquals(new TextDecoder().decode(value).trim(), "written");
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    assertEquals(await s.has(HELLO_DIGEST), false);
    // A plain write can never be resumed: the dead writer's file goes at once, whatever its age,
    // while a live writer's file stays.
    const live = await s.writer();
    await live.write(HELLO);
    assertEquals(await s.cleanIngest(), 1);
    assertEquals((await Array.fromAsync(Deno.readDir(`${root}/blobs/ingest`))).length, 1);
    assertEquals(await live.commit(), { digest: HELLO_DIGEST, size: HELLO.length });
    assertEquals(await s.cleanIngest(-1), 0);
  }));

Deno.test("content store: a killed resumable write is kept for the next writer until it is old", () =>
  withStore(async (s, root) => {
    const w = await s.writer({ expected: HELLO_DIGEST, resumable: true });
    await w.write(HELLO.subarray(0, 5));
    await w.abort();
    assertEquals(await s.cleanIngest(), 0);
    const again = await s.writer({ expected: HELLO_DIGEST, resumable: true });
    assertEquals(again.offset, 5);
    // Held by a writer: kept even when old.
    assertEquals(await s.cleanIngest(-1), 0);
    await again.abort();
    assertEquals(await s.cleanIngest(-1), 1);
    assertEquals((await Array.fromAsync(Deno.readDir(`${root}/blobs/ingest`))).length, 0);
  }));
