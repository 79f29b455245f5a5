/**
 * Tar headers: the 512-byte ustar block, PAX extended records and GNU long-name blocks,
 * decoded and encoded. Pure: no I/O.
 *
 * ```text
 * one entry in the archive
 * ├── [x header + PAX records, padded to 512]   only when a field does not fit ustar
 * ├── ustar header (512 bytes)
 * └── data, padded to 512                        regular files only
 * an archive ends with two zero blocks
 * ```
 *
 * ustar layout (offset, length): name 0/100, mode 100/8, uid 108/8, gid 116/8, size 124/12,
 * mtime 136/12, chksum 148/8, typeflag 156/1, linkname 157/100, magic 257/6, version 263/2,
 * uname 265/32, gname 297/32, devmajor 329/8, devminor 337/8, prefix 345/155 (POSIX
 * 1003.1-2001 "pax" format). GNU headers (magic `ustar  `) reuse the prefix area for other
 * fields, so it is ignored for them.
 *
 * @module
 */

/** What an entry is. */
export type TarEntryType = "file" | "link" | "symlink" | "char" | "block" | "directory" | "fifo";

/** A decoded entry header: ustar fields with PAX and GNU extensions applied. */
export interface TarHeader {
  /** Path as stored (PAX `path`, GNU long name or ustar prefix/name), not normalised. */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (`0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Bytes of data that follow (0 for everything but regular files). */
  size: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  /** Nanoseconds part of the modification time (PAX `mtime` with a fraction). */
  mtimeNsec?: number;
  /** Target of a hard link (a path in the archive) or of a symlink. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (`SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`): name → raw value. */
  xattrs?: Record<string, Uint8Array>;
  /** PAX records ctr does not interpret (kept so a copy can carry them on). */
  pax?: Record<string, string>;
}

/** Block size of tar archives. */
export const BLOCK = 512;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const TYPEFLAG: Record<TarEntryType, number> = {
  file: 0x30,
  link: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  directory: 0x35,
  fifo: 0x36,
};

/** A problem with an archive; the message names the entry or offset. */
export class TarError extends Error {
  override name = "TarError";
}

function cString(block: Uint8Array, off: number, len: number): string {
  let end = off;
  const stop = off + len;
  while (end < stop && block[end] !== 0) end++;
  return decoder.decode(block.subarray(off, end));
}

/** A numeric field: octal ASCII (space/NUL padded) or GNU base-256. */
function parseNumber(block: Uint8Array, off: number, len: number, field: string): number {
  const first = block[off];
  if (first & 0x80) {
    // base-256 (GNU): 0x80 marks a positive number in the remaining bits; 0xff a negative one
    // in two's complement over the whole field.
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(block[off + i]);
    if (first === 0xff) v -= 1n << BigInt(8 * len);
    else v &= (1n << BigInt(8 * len - 1)) - 1n;
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new TarError(`Tar header field ${field} is out of range`);
    return n;
  }
  let n = 0;
  let i = off;
  const end = off + len;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i];
    if (c >= 0x30 && c <= 0x37) {
      n = n * 8 + (c - 0x30);
      digits++;
    } else if (c === 0x20 || c === 0) break;
    else throw new TarError(`Tar header field ${field} is not an octal number`);
  }
  return digits ? n : 0;
}

/** The checksum of a header block: byte sum with the checksum field read as spaces. */
function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0, signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

/** True when the block is all zeros (end-of-archive marker). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** The raw fields of one ustar/GNU header block, before extensions are applied. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** `ustar` (POSIX), `gnu`, or `v7` (no magic). */
  format: "ustar" | "gnu" | "v7";
}

/**
 * Decodes one header block, checking its checksum. `offset` is only used in messages.
 *
 * @example
 * ```ts
 * const raw = decodeRawHeader(block, 0);
 * raw.typeflag; // "0"
 * ```
 */
export function decodeRawHeader(block: Uint8Array, offset: number): RawHeader {
  const stored = parseNumber(block, 148, 8, "chksum");
  const { unsigned, signed } = checksums(block);
  if (stored !== unsigned && stored !== signed) {
    throw new TarError(`Invalid tar header at offset ${offset}: checksum mismatch`);
  }
  const magic = cString(block, 257, 6);
  const version = cString(block, 263, 2);
  const format = magic === "ustar" ? "ustar" : magic === "ustar " && version === " " ? "gnu" : "v7";
  let name = cString(block, 0, 100);
  if (format === "ustar") {
    const prefix = cString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  // A NUL typeflag is an old-style regular file; kept apart so a trailing slash can mark a
  // directory (pre-POSIX convention).
  const typeflag = block[156] === 0 ? "\0" : String.fromCharCode(block[156]);
  return {
    name,
    mode: parseNumber(block, 100, 8, "mode"),
    uid: parseNumber(block, 108, 8, "uid"),
    gid: parseNumber(block, 116, 8, "gid"),
    size: parseNumber(block, 124, 12, "size"),
    mtime: parseNumber(block, 136, 12, "mtime"),
    typeflag,
    linkname: cString(block, 157, 100),
    uname: format === "v7" ? "" : cString(block, 265, 32),
    gname: format === "v7" ? "" : cString(block, 297, 32),
    devmajor: format === "v7" ? 0 : parseNumber(block, 329, 8, "devmajor"),
    devminor: format === "v7" ? 0 : parseNumber(block, 337, 8, "devminor"),
    format,
  };
}

/** One PAX record as key and raw value bytes. */
export type PaxRecords = Map<string, Uint8Array>;

/**
 * Parses the body of a PAX extended header (`"%d %s=%s\n"` records). Values stay bytes:
 * xattr values are binary.
 *
 * @example
 * ```ts
 * parsePax(new TextEncoder().encode("11 path=a\n")).get("path"); // bytes of "a"
 * ```
 */
export function parsePax(data: Uint8Array): PaxRecords {
  const out: PaxRecords = new Map();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break; // padding some writers leave
    let len = 0, j = i;
    while (j < data.length && data[j] >= 0x30 && data[j] <= 0x39) len = len * 10 + (data[j++] - 0x30);
    if (j === i || data[j] !== 0x20 || len < j - i + 3 || i + len > data.length) {
      throw new TarError("Invalid PAX record: bad length");
    }
    const rec = data.subarray(j + 1, i + len);
    if (rec[rec.length - 1] !== 0x0a) throw new TarError("Invalid PAX record: missing newline");
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new TarError("Invalid PAX record: missing '='");
    out.set(decoder.decode(rec.subarray(0, eq)), rec.slice(eq + 1, rec.length - 1));
    i += len;
  }
  return out;
}

/** Decodes LIBARCHIVE.xattr names (URL-encoded) and values (base64). */
function decodeLibarchiveXattr(key: string, value: Uint8Array): [string, Uint8Array] {
  const name = decodeURIComponent(key);
  const b64 = decoder.decode(value).replace(/=+$/, "");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return [name, bytes];
}

/** Parses a PAX time (`1700000000.123456789`, possibly negative) into seconds + nanoseconds. */
export function parsePaxTime(s: string, field = "mtime"): { sec: number; nsec: number } {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) throw new TarError(`Invalid PAX ${field}: ${JSON.stringify(s)}`);
  const whole = Number(m[2]);
  const frac = Number(((m[3] ?? "") + "000000000").slice(0, 9));
  if (!m[1]) return { sec: whole, nsec: frac };
  // -1.5 means 1.5 s before the epoch: sec -2, nsec 500000000.
  return frac === 0 ? { sec: -whole, nsec: 0 } : { sec: -whole - 1, nsec: 1e9 - frac };
}

const PAX_INTEGER = /^\d+$/;

/**
 * Applies PAX records (global ones first, then the entry's own) and GNU long names to a raw
 * header. Refuses sparse files and the types ctr cannot represent, naming the entry.
 *
 * @example
 * ```ts
 * const h = applyExtensions(raw, new Map(), new Map(), undefined, undefined);
 * ```
 */
export function applyExtensions(
  raw: RawHeader,
  global: PaxRecords,
  local: PaxRecords,
  longName: string | undefined,
  longLink: string | undefined,
): TarHeader {
  let name = longName ?? raw.name;
  let linkname = longLink ?? raw.linkname;
  let { mode, uid, gid, size, mtime, uname, gname, devmajor, devminor } = raw;
  let mtimeNsec = 0;
  let xattrs: Record<string, Uint8Array> | undefined;
  let pax: Record<string, string> | undefined;
  const records = global.size ? new Map([...global, ...local]) : local;
  for (const [key, value] of records) {
    const text = () => decoder.decode(value);
    const int = () => {
      const s = text();
      if (!PAX_INTEGER.test(s)) throw new TarError(`Invalid PAX ${key} of ${JSON.stringify(name)}: ${s}`);
      return Number(s);
    };
    switch (key) {
      case "path":
        if (local.has(key)) name = text();
        break;
      case "linkpath":
        if (local.has(key)) linkname = text();
        break;
      case "size":
        if (local.has(key)) size = int();
        break;
      case "uid":
        uid = int();
        break;
      case "gid":
        gid = int();
        break;
      case "uname":
        uname = text();
        break;
      case "gname":
        gname = text();
        break;
      case "mtime": {
        const t = parsePaxTime(text());
        mtime = t.sec;
        mtimeNsec = t.nsec;
        break;
      }
      case "SCHILY.devmajor":
        devmajor = int();
        break;
      case "SCHILY.devminor":
        devminor = int();
        break;
      case "atime":
      case "ctime":
      case "charset":
      case "hdrcharset":
      case "comment":
        break;
      default:
        if (key.startsWith("GNU.sparse.")) {
          throw new TarError(`Sparse tar entries are not supported: ${JSON.stringify(name)}`);
        }
        if (key.startsWith("SCHILY.xattr.")) {
          (xattrs ??= {})[key.slice(13)] = value;
        } else if (key.startsWith("LIBARCHIVE.xattr.")) {
          const [n, v] = decodeLibarchiveXattr(key.slice(17), value);
          (xattrs ??= {})[n] = v;
        } else {
          (pax ??= {})[key] = text();
        }
    }
  }
  let type: TarEntryType;
  switch (raw.typeflag) {
    case "\0":
      type = name.endsWith("/") ? "directory" : "file";
      break;
    case "0":
    case "7": // contiguous file: a regular file everywhere that matters
      type = "file";
      break;
    case "1":
      type = "link";
      break;
    case "2":
      type = "symlink";
      break;
    case "3":
      type = "char";
      break;
    case "4":
      type = "block";
      break;
    case "5":
      type = "directory";
      break;
    case "6":
      type = "fifo";
      break;
    case "S":
      throw new TarError(`Sparse tar entries are not supported: ${JSON.stringify(name)}`);
    default:
      throw new TarError(`Unsupported tar entry type '${raw.typeflag}': ${JSON.stringify(name)}`);
  }
  // Only regular files carry data; the size field of every other type is ignored (as Go's
  // archive/tar does, which wrote most layers in circulation).
  if (type !== "file") size = 0;
  const h: TarHeader = { name, type, mode: mode & 0o7777, uid, gid, size, mtime };
  if (mtimeNsec) h.mtimeNsec = mtimeNsec;
  if (uname) h.uname = uname;
  if (gname) h.gname = gname;
  if (type === "link" || type === "symlink") h.linkname = linkname;
  if (type === "char" || type === "block") {
    h.devmajor = devmajor;
    h.devminor = devminor;
  }
  if (xattrs) h.xattrs = xattrs;
  if (pax) h.pax = pax;
  return h;
}

// ---------------------------------------------------------------- encoding

function writeString(block: Uint8Array, off: number, len: number, bytes: Uint8Array): void {
  block.set(bytes.subarray(0, len), off);
}

function fitsOctal(n: number, len: number): boolean {
  // len-1 octal digits plus a terminating NUL.
  return Number.isSafeInteger(n) && n >= 0 && n < 8 ** (len - 1);
}

function writeOctal(block: Uint8Array, off: number, len: number, n: number): void {
  const s = n.toString(8).padStart(len - 1, "0");
  for (let i = 0; i < len - 1; i++) block[off + i] = s.charCodeAt(i);
  block[off + len - 1] = 0;
}

/** Splits a long name into ustar prefix and name at a slash, when it fits; else undefined. */
function splitUstarName(bytes: Uint8Array): [Uint8Array, Uint8Array] | undefined {
  if (bytes.length <= 100) return [new Uint8Array(0), bytes];
  if (bytes.length > 256) return undefined;
  // The name part is at most 100 bytes and the prefix at most 155; choose a slash accordingly.
  for (let i = Math.max(0, bytes.length - 101); i < Math.min(bytes.length, 156); i++) {
    if (bytes[i] === 0x2f && i > 0 && bytes.length - i - 1 <= 100 && bytes.length - i - 1 > 0) {
      return [bytes.subarray(0, i), bytes.subarray(i + 1)];
    }
  }
  return undefined;
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = encoder.encode(` ${key}=`);
  const rest = body.length + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  const out = new Uint8Array(len);
  const head = encoder.encode(String(len));
  out.set(head, 0);
  out.set(body, head.length);
  out.set(value, head.length + body.length);
  out[len - 1] = 0x0a;
  return out;
}

/** Options for {@linkcode encodeHeader}. */
export interface EncodeOptions {
  /** Write the sub-second part of `mtime` as a PAX record (default true when it is non-zero). */
  subsecondMtime?: boolean;
}

function headerBlock(fields: {
  name: Uint8Array;
  prefix: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: Uint8Array;
  uname: Uint8Array;
  gname: Uint8Array;
  devmajor: number;
  devminor: number;
}): Uint8Array {
  const b = new Uint8Array(BLOCK);
  writeString(b, 0, 100, fields.name);
  writeOctal(b, 100, 8, fields.mode);
  writeOctal(b, 108, 8, fields.uid);
  writeOctal(b, 116, 8, fields.gid);
  writeOctal(b, 124, 12, fields.size);
  writeOctal(b, 136, 12, fields.mtime);
  b[156] = fields.typeflag;
  writeString(b, 157, 100, fields.linkname);
  b.set(encoder.encode("ustar\x0000"), 257);
  writeString(b, 265, 32, fields.uname);
  writeString(b, 297, 32, fields.gname);
  writeOctal(b, 329, 8, fields.devmajor);
  writeOctal(b, 337, 8, fields.devminor);
  writeString(b, 345, 155, fields.prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i];
  // Checksum: six octal digits, NUL, space (the traditional layout).
  const s = sum.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) b[148 + i] = s.charCodeAt(i);
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

function paxName(name: string): Uint8Array {
  const trimmed = name.replace(/\/+$/, "");
  const base = trimmed.slice(trimmed.lastIndexOf("/") + 1) || "root";
  const bytes = encoder.encode(`PaxHeaders/${base}`);
  return bytes.length <= 100 ? bytes : bytes.subarray(0, 100);
}

/**
 * Encodes the header blocks of an entry: a PAX `x` header when some field does not fit
 * ustar (long or non-ASCII-safe names, big numbers, sub-second mtime, xattrs), then the ustar
 * block. Deterministic: the same header always gives the same bytes.
 *
 * @example
 * ```ts
 * const blocks = encodeHeader({ name: "a.txt", type: "file", mode: 0o644, uid: 0, gid: 0,
 *   size: 5, mtime: 0 });
 * blocks.length; // 512
 * ```
 */
export function encodeHeader(h: TarHeader, options: EncodeOptions = {}): Uint8Array {
  const records: [string, Uint8Array][] = [];
  const nameBytes = encoder.encode(h.name);
  let split = splitUstarName(nameBytes);
  if (!split) {
    records.push(["path", nameBytes]);
    split = [new Uint8Array(0), nameBytes.subarray(0, 100)];
  }
  let linkBytes = encoder.encode(h.linkname ?? "");
  if (linkBytes.length > 100) {
    records.push(["linkpath", linkBytes]);
    linkBytes = linkBytes.subarray(0, 100);
  }
  const size = h.type === "file" ? h.size : 0;
  const numeric = (key: string, n: number, len: number): number => {
    if (fitsOctal(n, len)) return n;
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`Invalid tar ${key} for ${h.name}: ${n}`);
    records.push([key, encoder.encode(String(n))]);
    return 0;
  };
  const uid = numeric("uid", h.uid, 8);
  const gid = numeric("gid", h.gid, 8);
  const sizeField = numeric("size", size, 12);
  let mtime = h.mtime;
  const nsec = h.mtimeNsec ?? 0;
  const wantFraction = nsec !== 0 && options.subsecondMtime !== false;
  if (wantFraction || !fitsOctal(mtime, 12)) {
    let text: string;
    if (!wantFraction) text = String(mtime);
    else if (mtime >= 0) text = `${mtime}.${String(nsec).padStart(9, "0").replace(/0+$/, "")}`;
    else {
      // sec -2, nsec 5e8 is -1.5
      text = `-${-mtime - 1}.${String(1e9 - nsec).padStart(9, "0").replace(/0+$/, "")}`;
    }
    records.push(["mtime", encoder.encode(text)]);
    if (!fitsOctal(mtime, 12)) mtime = 0;
  }
  const uname = encoder.encode(h.uname ?? "");
  const gname = encoder.encode(h.gname ?? "");
  if (uname.length > 32) records.push(["uname", uname]);
  if (gname.length > 32) records.push(["gname", gname]);
  const devmajor = numeric("SCHILY.devmajor", h.devmajor ?? 0, 8);
  const devminor = numeric("SCHILY.devminor", h.devminor ?? 0, 8);
  if (h.xattrs) {
    for (const key of Object.keys(h.xattrs).sort()) records.push([`SCHILY.xattr.${key}`, h.xattrs[key]]);
  }
  if (h.pax) {
    for (const key of Object.keys(h.pax).sort()) records.push([key, encoder.encode(h.pax[key])]);
  }
  const main = headerBlock({
    name: split[1],
    prefix: split[0],
    mode: h.mode & 0o7777,
    uid,
    gid,
    size: sizeField,
    mtime,
    typeflag: TYPEFLAG[h.type],
    linkname: linkBytes,
    uname: uname.subarray(0, 32),
    gname: gname.subarray(0, 32),
    devmajor,
    devminor,
  });
  if (!records.length) return main;
  const body = concat(records.map(([k, v]) => paxRecord(k, v)));
  const paxHeader = headerBlock({
    name: paxName(h.name),
    prefix: new Uint8Array(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: fitsOctal(h.mtime, 12) ? h.mtime : 0,
    typeflag: 0x78, // 'x'
    linkname: new Uint8Array(0),
    uname: new Uint8Array(0),
    gname: new Uint8Array(0),
    devmajor: 0,
    devminor: 0,
  });
  const out = new Uint8Array(BLOCK + padded(body.length) + BLOCK);
  out.set(paxHeader, 0);
  out.set(body, BLOCK);
  out.set(main, BLOCK + padded(body.length));
  return out;
}

/** `n` rounded up to a whole number of blocks. */
export function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
