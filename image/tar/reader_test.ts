import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { readTar, TarParser } from "./reader.ts";
import { TarError, type TarHeader } from "./header.ts";
import { encodeTar } from "./writer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Parses with chunks of `step` bytes; returns headers and each entry's data. */
function parse(bytes: Uint8Array, step = bytes.length): { header: TarHeader; data: string }[] {
  const out: { header: TarHeader; data: string }[] = [];
  let parts: Uint8Array[] = [];
  const p = new TarParser({
    entry: (header) => {
      out.push({ header, data: "" });
      parts = [];
    },
    data: (c) => parts.push(c.slice()),
    entryEnd: () => {
      out[out.length - 1].data = dec.decode(concat(parts));
    },
  });
  for (let i = 0; i < bytes.length; i += step) p.push(bytes.subarray(i, i + step));
  p.end();
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function sh(script: string, cwd: string): Promise<void> {
  const out = await new Deno.Command("bash", { args: ["-ec", script], cwd, stderr: "piped" }).output();
  if (!out.success) throw new Error(`${script}: ${dec.decode(out.stderr)}`);
}

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-tar-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const sample = () =>
  encodeTar([
    { header: { name: "d/", type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 } },
    {
      header: { name: "d/f", type: "file", mode: 0o644, uid: 1, gid: 2, size: 700, mtime: 2 },
      data: enc.encode("x".repeat(700)),
    },
    {
      header: { name: "d/l", type: "symlink", mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 3, linkname: "f" },
    },
    {
      header: {
        name: `d/${"long".repeat(40)}`,
        type: "file",
        mode: 0o600,
        uid: 0,
        gid: 0,
        size: 3,
        mtime: 4,
      },
      data: enc.encode("abc"),
    },
  ]);

for (const step of [1, 7, 511, 512, 513, 1 << 20]) {
  Deno.test(`tar parser gives the same result for chunks of ${step} bytes`, () => {
    const got = parse(sample(), step);
    assertEquals(got.map((e) => [e.header.name, e.header.type, e.data.length]), [
      ["d/", "directory", 0],
      ["d/f", "file", 700],
      ["d/l", "symlink", 0],
      [`d/${"long".repeat(40)}`, "file", 3],
    ]);
    assertEquals(got[3].data, "abc");
  });
}

Deno.test("tar parser refuses a truncated archive, naming the entry", () => {
  const bytes = sample();
  assertThrows(
    () => parse(bytes.subarray(0, 1200)),
    TarError,
    'Unexpected end of tar archive in entry "d/f"',
  );
});

Deno.test("tar parser refuses an oversized PAX or long-name header before reading it, at its offset", () => {
  for (const [type, kind] of [["x", "PAX header"], ["L", "GNU long name"]]) {
    // A first entry of 512 bytes of data, then the metadata header claiming 1 TB.
    const header = encodeTar([{
      header: { name: "f", type: "file", mode: 0o644, uid: 0, gid: 0, size: 512, mtime: 1 },
      data: new Uint8Array(512),
    }]).slice(0, 1024);
    const meta = encodeTar([{
      header: { name: "m", type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1 },
    }]).slice(0, 512);
    meta[156] = type.charCodeAt(0);
    meta.set(enc.encode("77777777777\0"), 124); // the largest octal size: 8 GiB - 1
    meta.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of meta) sum += b;
    meta.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    const bytes = concat([header, meta, new Uint8Array(1024)]);
    for (const step of [bytes.length, 100]) {
      assertThrows(
        () => parse(bytes, step),
        TarError,
        `Tar ${kind} (type ${type}) of ${
          8 ** 11 - 1
        } bytes at offset 1024 is larger than the limit of 1048576 bytes`,
      );
    }
  }
});

Deno.test("tar parser accepts an archive without the end marker, and ignores bytes after it", () => {
  const bytes = sample();
  assertEquals(parse(bytes.subarray(0, bytes.length - 1024)).length, 4);
  const trailing = concat([bytes, enc.encode("garbage after the end")]);
  assertEquals(parse(trailing).length, 4);
});

Deno.test("tar parser: GNU tar archives with L/K long names, hard links, devices, fifos", async () => {
  await withTemp(async (dir) => {
    const long = `${"n".repeat(120)}/${"m".repeat(120)}`;
    await sh(
      `mkdir -p src/${long} && cd src && echo hi > ${long}/file && ln ${long}/file hard && ` +
        `ln -s ${long}/file sym && mkfifo fifo && ` +
        `tar --format=gnu --numeric-owner -cf ../gnu.tar ${long.split("/")[0]} hard sym fifo`,
      dir,
    );
    const got = parse(await Deno.readFile(`${dir}/gnu.tar`), 100);
    const byName = new Map(got.map((e) => [e.header.name, e]));
    assertEquals(byName.get(`${long}/file`)?.data, "hi\n");
    assertEquals(byName.get("hard")?.header.type, "link");
    assertEquals(byName.get("hard")?.header.linkname, `${long}/file`);
    assertEquals(byName.get("sym")?.header.linkname, `${long}/file`);
    assertEquals(byName.get("fifo")?.header.type, "fifo");
    assertEquals(byName.get(`${long}/`)?.header.type, "directory");
  });
});

Deno.test("tar parser: PAX archives from GNU tar (posix format) with sub-second mtimes and xattrs", async () => {
  await withTemp(async (dir) => {
    const long = "p".repeat(200);
    await sh(
      `mkdir src && cd src && printf data > ${long} && touch -d '2023-11-14 22:13:20.123456789 UTC' ${long} && ` +
        `tar --format=posix --pax-option=delete=atime,delete=ctime --numeric-owner -cf ../pax.tar ${long}`,
      dir,
    );
    const [e] = parse(await Deno.readFile(`${dir}/pax.tar`));
    assertEquals(e.header.name, long);
    assertEquals(e.data, "data");
    assertEquals([e.header.mtime, e.header.mtimeNsec], [1700000000, 123456789]);
  });
});

Deno.test("tar parser: Python tarfile PAX with SCHILY.xattr records, big ids, global header", async () => {
  await withTemp(async (dir) => {
    const py = `
import tarfile, io
with tarfile.open("py.tar", "w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "global"}) as t:
    i = tarfile.TarInfo("caps")
    i.size = 2
    i.uid = 3000000
    i.gid = 7
    i.uname = "u" * 40
    i.pax_headers = {"SCHILY.xattr.security.capability": "\\x01\\x00\\x00\\x02", "SCHILY.xattr.user.k": "v"}
    t.addfile(i, io.BytesIO(b"ok"))
    d = tarfile.TarInfo("dev")
    d.type = tarfile.CHRTYPE
    d.devmajor, d.devminor = 1, 3
    t.addfile(d)
`;
    await Deno.writeTextFile(`${dir}/mk.py`, py);
    await sh("python3 mk.py", dir);
    const got = parse(await Deno.readFile(`${dir}/py.tar`), 333);
    assertEquals(got[0].header.name, "caps");
    assertEquals(got[0].header.uid, 3000000);
    assertEquals(got[0].header.uname, "u".repeat(40));
    assertEquals(got[0].header.xattrs?.["user.k"], enc.encode("v"));
    // Python writes PAX values as UTF-8: U+0001 U+0000 U+0000 U+0002.
    assertEquals(got[0].header.xattrs?.["security.capability"], new Uint8Array([1, 0, 0, 2]));
    assertEquals(got[0].data, "ok");
    assertEquals([got[1].header.type, got[1].header.devmajor, got[1].header.devminor], ["char", 1, 3]);
  });
});

Deno.test("tar parser refuses GNU sparse files", async () => {
  await withTemp(async (dir) => {
    await sh("truncate -s 1M sparse && printf x >> sparse && tar --format=gnu -S -cf s.tar sparse", dir);
    assertThrows(
      () => parse(Deno.readFileSync(`${dir}/s.tar`)),
      TarError,
      'Sparse tar entries are not supported: "sparse"',
    );
    await sh("tar --format=posix -S -cf p.tar sparse", dir);
    assertThrows(
      () => parse(Deno.readFileSync(`${dir}/p.tar`)),
      TarError,
      "Sparse tar entries are not supported",
    );
  });
});

Deno.test("readTar iterates entries; unread bodies are skipped", async () => {
  const bytes = sample();
  const stream = ReadableStream.from((function* () {
    for (let i = 0; i < bytes.length; i += 100) yield bytes.slice(i, i + 100);
  })());
  const names: string[] = [];
  let last = "";
  for await (const e of readTar(stream)) {
    names.push(e.header.name);
    if (e.header.name.endsWith("ng")) last = dec.decode(await e.bytes());
  }
  assertEquals(names.length, 4);
  assertEquals(last, "abc");
});

Deno.test("readTar reports a truncated body", async () => {
  const bytes = sample().subarray(0, 1000);
  await assertRejects(async () => {
    for await (const e of readTar(ReadableStream.from([bytes]))) await e.bytes();
  }, TarError);
});

Deno.test("tar parser: V7 archive marks directories with a trailing slash", () => {
  const bytes = encodeTar([{
    header: { name: "old/", type: "file", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 },
  }]);
  // Make it V7: no magic, NUL typeflag, recompute the checksum.
  bytes.fill(0, 257, 265);
  bytes[156] = 0;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : bytes[i];
  bytes.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  const [e] = parse(bytes);
  assert(e.header.type === "directory");
});
