import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { encodeTar, TarWriter } from "./writer.ts";
import { readTar } from "./reader.ts";
import type { TarHeader } from "./header.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const entries: { header: TarHeader; data?: Uint8Array }[] = [
  { header: { name: "dir/", type: "directory", mode: 0o1777, uid: 0, gid: 0, size: 0, mtime: 1000 } },
  {
    header: {
      name: "dir/file",
      type: "file",
      mode: 0o4755,
      uid: 1000,
      gid: 1000,
      size: 5,
      mtime: 1001,
      mtimeNsec: 5e8,
    },
    data: enc.encode("hello"),
  },
  {
    header: {
      name: "dir/hard",
      type: "link",
      mode: 0o4755,
      uid: 1000,
      gid: 1000,
      size: 0,
      mtime: 1001,
      linkname: "dir/file",
    },
  },
  {
    header: {
      name: "dir/sym",
      type: "symlink",
      mode: 0o777,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 1002,
      linkname: "/abs/target",
    },
  },
  {
    header: {
      name: "dir/null",
      type: "char",
      mode: 0o666,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 1003,
      devmajor: 1,
      devminor: 3,
    },
  },
  {
    header: {
      name: "dir/loop0",
      type: "block",
      mode: 0o660,
      uid: 0,
      gid: 6,
      size: 0,
      mtime: 1004,
      devmajor: 7,
      devminor: 0,
    },
  },
  { header: { name: "dir/fifo", type: "fifo", mode: 0o620, uid: 0, gid: 0, size: 0, mtime: 1005 } },
  {
    header: {
      name: `dir/${"deep/".repeat(40)}file`,
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 1,
      mtime: 1006,
    },
    data: enc.encode("z"),
  },
  {
    header: {
      name: "dir/caps",
      type: "file",
      mode: 0o755,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 1007,
      xattrs: { "security.capability": new Uint8Array([0, 0, 0, 2, 0, 4, 0, 0]) },
    },
    data: new Uint8Array(0),
  },
];

Deno.test("tar writer and reader round trip every entry type", async () => {
  const w = new TarWriter();
  const collected = new Response(w.readable).arrayBuffer();
  for (const e of entries) await w.add(e.header, e.data);
  await w.close();
  const bytes = new Uint8Array(await collected);
  assertEquals(bytes, encodeTar(entries), "streamed and in-memory encodings agree");
  const back: { header: TarHeader; data?: Uint8Array }[] = [];
  for await (const e of readTar(ReadableStream.from([bytes]))) {
    const data = await e.bytes();
    back.push(e.header.type === "file" ? { header: e.header, data } : { header: e.header });
  }
  assertEquals(back, entries);
});

Deno.test("tar writer output is read by GNU tar with the same metadata", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-tar-test-" });
  try {
    await Deno.writeFile(`${dir}/x.tar`, encodeTar(entries));
    const out = await new Deno.Command("tar", {
      args: ["--numeric-owner", "--full-time", "-tvf", `${dir}/x.tar`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(dec.decode(out.stderr), "");
    const lines = dec.decode(out.stdout).trim().split("\n").map((l) => l.split(/\s+/));
    assertEquals(lines.map((l) => l[0]), [
      "drwxrwxrwt",
      "-rwsr-xr-x",
      "hrwsr-xr-x",
      "lrwxrwxrwx",
      "crw-rw-rw-",
      "brw-rw----",
      "prw--w----",
      "-rw-r--r--",
      "-rwxr-xr-x",
    ]);
    assertEquals(lines[1][1], "1000/1000");
    assertEquals(lines[7].at(-1), `dir/${"deep/".repeat(40)}file`);
    // GNU tar extracts it (as an unprivileged-safe subset: no devices) with the data intact.
    const x = await new Deno.Command("tar", {
      args: [
        "-xf",
        `${dir}/x.tar`,
        "-C",
        dir,
        "--exclude=dir/null",
        "--exclude=dir/loop0",
        "--exclude=dir/fifo",
      ],
      stderr: "piped",
    }).output();
    assertEquals(dec.decode(x.stderr), "");
    assertEquals(await Deno.readTextFile(`${dir}/dir/hard`), "hello");
    assertEquals(await Deno.readTextFile(`${dir}/dir/${"deep/".repeat(40)}file`), "z");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tar writer refuses bodies that do not match the size", async () => {
  const w = new TarWriter();
  const drain = new Response(w.readable).arrayBuffer().catch(() => {});
  await assertRejects(
    () =>
      w.add(
        { name: "f", type: "file", mode: 0o644, uid: 0, gid: 0, size: 3, mtime: 0 },
        enc.encode("toolong"),
      ),
    RangeError,
    "has 7 bytes of data, header says 3",
  );
  await w.abort().catch(() => {});
  await drain;
});

Deno.test("tar writer streams bodies from a ReadableStream", async () => {
  const w = new TarWriter({ highWaterMark: 1024 });
  const collected = new Response(w.readable).arrayBuffer();
  const big = new Uint8Array(300_000).map((_, i) => i % 251);
  await w.add(
    { name: "big", type: "file", mode: 0o644, uid: 0, gid: 0, size: big.length, mtime: 0 },
    ReadableStream.from([big.subarray(0, 1000), big.subarray(1000)]),
  );
  await w.close();
  const bytes = new Uint8Array(await collected);
  for await (const e of readTar(ReadableStream.from([bytes]))) assertEquals(await e.bytes(), big);
});
