import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  applyExtensions,
  BLOCK,
  decodeRawHeader,
  encodeHeader,
  parsePax,
  parsePaxTime,
  TarError,
  type TarHeader,
} from "./header.ts";

const enc = new TextEncoder();

function base(over: Partial<TarHeader> = {}): TarHeader {
  return { name: "a.txt", type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000, ...over };
}

/** Decodes what encodeHeader wrote (PAX block included) back into a header. */
function roundTrip(h: TarHeader): TarHeader {
  const bytes = encodeHeader(h);
  let local = new Map<string, Uint8Array>();
  let off = 0;
  let raw = decodeRawHeader(bytes.subarray(0, BLOCK), 0);
  if (raw.typeflag === "x") {
    local = parsePax(bytes.subarray(BLOCK, BLOCK + raw.size));
    off = BLOCK + Math.ceil(raw.size / BLOCK) * BLOCK;
    raw = decodeRawHeader(bytes.subarray(off, off + BLOCK), off);
  }
  assertEquals(bytes.length, off + BLOCK, "one ustar block after the optional PAX header");
  return applyExtensions(raw, new Map(), local, undefined, undefined);
}

const cases: [string, TarHeader, number][] = [
  ["plain file", base({ size: 12 }), 1],
  ["directory", base({ name: "dir/", type: "directory", mode: 0o755 }), 1],
  ["setuid sticky bits", base({ mode: 0o7755 }), 1],
  ["symlink", base({ name: "l", type: "symlink", linkname: "../target" }), 1],
  ["hard link", base({ name: "h", type: "link", linkname: "a.txt" }), 1],
  ["char device", base({ name: "null", type: "char", devmajor: 1, devminor: 3 }), 1],
  ["block device", base({ name: "sda", type: "block", devmajor: 8, devminor: 0 }), 1],
  ["fifo", base({ name: "p", type: "fifo", mode: 0o620 }), 1],
  ["name split into prefix", base({ name: `${"d".repeat(120)}/${"f".repeat(90)}` }), 1],
  ["long name needs PAX", base({ name: `${"x".repeat(300)}/y` }), 3],
  ["long component needs PAX", base({ name: "z".repeat(150) }), 3],
  ["long linkname", base({ name: "l", type: "symlink", linkname: "t/".repeat(80) }), 3],
  ["big uid", base({ uid: 10_000_000, gid: 3_000_000 }), 3],
  ["sub-second mtime", base({ mtime: 1700000000, mtimeNsec: 123456789 }), 3],
  ["negative mtime", base({ mtime: -5, mtimeNsec: 500000000 }), 3],
  ["owner names", base({ uname: "root", gname: "wheel" }), 1],
  ["long owner names", base({ uname: "u".repeat(40), gname: "g".repeat(33) }), 3],
  ["unicode name", base({ name: "données/ünïcode-名前.txt" }), 1],
  [
    "xattrs",
    base({
      xattrs: { "security.capability": new Uint8Array([1, 0, 0, 2, 0, 0x20]), "user.a": enc.encode("b") },
    }),
    3,
  ],
  ["big size", base({ size: 9 * 1024 ** 3 }), 3],
  ["big device numbers", base({ name: "d", type: "char", devmajor: 3_000_000, devminor: 1 }), 3],
];

for (const [what, h, blocks] of cases) {
  Deno.test(`tar header round trip: ${what}`, () => {
    assertEquals(encodeHeader(h).length, blocks * BLOCK, "block count");
    const back = roundTrip(h);
    assertEquals(back, h);
  });
}

Deno.test("tar header encoding is deterministic", () => {
  const h = base({ xattrs: { "user.b": enc.encode("2"), "user.a": enc.encode("1") }, uid: 1e8 });
  assertEquals(
    encodeHeader(h),
    encodeHeader({ ...h, xattrs: { "user.a": enc.encode("1"), "user.b": enc.encode("2") } }),
  );
});

Deno.test("tar header checksum mismatch is refused with the offset", () => {
  const b = encodeHeader(base());
  b[0] ^= 1;
  assertThrows(() => decodeRawHeader(b, 1536), TarError, "offset 1536: checksum mismatch");
});

Deno.test("tar header: GNU base-256 numbers", () => {
  const b = encodeHeader(base());
  // size field as base-256: 0x80 then the value big-endian
  b.fill(0, 124, 136);
  b[124] = 0x80;
  b[135] = 0x10;
  b[134] = 0x01; // 0x0110 = 272
  // -1 as mtime
  b.fill(0xff, 136, 148);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i];
  b.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  const raw = decodeRawHeader(b, 0);
  assertEquals(raw.size, 272);
  assertEquals(raw.mtime, -1);
});

Deno.test("PAX records: binary values, lengths counting themselves", () => {
  const rec = (k: string, v: string) => {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    len = body.length + String(len).length;
    return `${len}${body}`;
  };
  const text = rec("path", "a/b") + rec("SCHILY.xattr.user.x", "\x01\x02") + rec("mtime", "1.5");
  const m = parsePax(enc.encode(text));
  assertEquals(new TextDecoder().decode(m.get("path")), "a/b");
  assertEquals(m.get("SCHILY.xattr.user.x"), new Uint8Array([1, 2]));
  assertThrows(() => parsePax(enc.encode("99 path=x\n")), TarError, "bad length");
  assertThrows(() => parsePax(enc.encode("9 pathx\n\n")), TarError);
});

Deno.test("PAX times", () => {
  assertEquals(parsePaxTime("1700000000.123456789"), { sec: 1700000000, nsec: 123456789 });
  assertEquals(parsePaxTime("1.5"), { sec: 1, nsec: 500000000 });
  assertEquals(parsePaxTime("-1.5"), { sec: -2, nsec: 500000000 });
  assertEquals(parsePaxTime("-3"), { sec: -3, nsec: 0 });
  assertEquals(parsePaxTime("12."), { sec: 12, nsec: 0 });
  assertThrows(() => parsePaxTime("abc"), TarError);
});

Deno.test("LIBARCHIVE.xattr records are decoded (URL-encoded name, base64 value)", () => {
  const raw = decodeRawHeader(encodeHeader(base()), 0);
  const local = new Map([["LIBARCHIVE.xattr.user.a%3Db", enc.encode(btoa("\x00\xff"))]]);
  const h = applyExtensions(raw, new Map(), local, undefined, undefined);
  assertEquals(h.xattrs, { "user.a=b": new Uint8Array([0, 255]) });
});

Deno.test("sparse entries and unknown types are refused, naming the entry", () => {
  const raw = decodeRawHeader(encodeHeader(base({ name: "sparse.img" })), 0);
  assertThrows(
    () =>
      applyExtensions(raw, new Map(), new Map([["GNU.sparse.major", enc.encode("1")]]), undefined, undefined),
    TarError,
    'Sparse tar entries are not supported: "sparse.img"',
  );
  assertThrows(
    () => applyExtensions({ ...raw, typeflag: "S" }, new Map(), new Map(), undefined, undefined),
    TarError,
    "Sparse",
  );
  assertThrows(
    () => applyExtensions({ ...raw, typeflag: "Q" }, new Map(), new Map(), undefined, undefined),
    TarError,
    "Unsupported tar entry type 'Q'",
  );
});

Deno.test("global PAX records apply to later entries but never set their path or size", () => {
  const raw = decodeRawHeader(encodeHeader(base({ size: 3 })), 0);
  const global = new Map([["uid", enc.encode("42")], ["path", enc.encode("evil")], [
    "size",
    enc.encode("9"),
  ]]);
  const h = applyExtensions(raw, global, new Map(), undefined, undefined);
  assertEquals([h.uid, h.name, h.size], [42, "a.txt", 3]);
});

Deno.test("only regular files carry data, whatever the size field says", () => {
  const raw = decodeRawHeader(encodeHeader(base({ name: "d/", type: "directory" })), 0);
  assertEquals(applyExtensions({ ...raw, size: 100 }, new Map(), new Map(), undefined, undefined).size, 0);
});
