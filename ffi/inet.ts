/**
 * IP addresses as bytes and text: parse and format IPv4 and IPv6 addresses and CIDR
 * prefixes. Pure; shared by the netlink code (which puts bytes on the wire) and IPAM.
 *
 * @module
 */

/** An address and a prefix length, e.g. 10.88.0.0/16. */
export interface Cidr {
  /** 4 bytes (IPv4) or 16 bytes (IPv6). */
  address: Uint8Array;
  prefixLength: number;
}

/**
 * Parses a dotted-quad IPv4 address; null when it is not one.
 *
 * @example
 * ```ts
 * parseIPv4("10.88.0.1"); // Uint8Array [10, 88, 0, 1]
 * ```
 */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/**
 * Parses an IPv6 address (with `::` compression and an optional dotted IPv4 tail); null when
 * it is not one.
 *
 * @example
 * ```ts
 * parseIPv6("fd00::1")?.length; // 16
 * ```
 */
export function parseIPv6(text: string): Uint8Array | null {
  if (!text.includes(":") || text.includes("%")) return null;
  let s = text;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    // A dotted IPv4 tail (::ffff:1.2.3.4) is two more 16-bit groups.
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return null;
    s = `${s.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${
      ((v4[2] << 8) | v4[3]).toString(16)
    }`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const group = (g: string) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN);
  const head = halves[0] === "" ? [] : halves[0].split(":").map(group);
  const rest = halves.length === 2 ? (halves[1] === "" ? [] : halves[1].split(":").map(group)) : [];
  if (halves.length === 2 && head.length + rest.length > 7) return null;
  const words = halves.length === 2
    ? [...head, ...new Array(8 - head.length - rest.length).fill(0), ...rest]
    : head;
  if (words.length !== 8 || words.some((w) => Number.isNaN(w))) return null;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/**
 * Parses an IPv4 or IPv6 address; throws a TypeError naming the text when it is neither.
 *
 * @example
 * ```ts
 * parseIP("10.0.0.1").length; // 4
 * ```
 */
export function parseIP(text: string): Uint8Array {
  const ip = parseIPv4(text) ?? parseIPv6(text);
  if (!ip) throw new TypeError(`Invalid IP address: ${text}`);
  return ip;
}

/**
 * Formats 4 or 16 address bytes (IPv6 in RFC 5952 form: lowercase, longest zero run as `::`).
 *
 * @example
 * ```ts
 * formatIP(Uint8Array.of(10, 0, 0, 1)); // "10.0.0.1"
 * ```
 */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) throw new TypeError(`Not an IP address: ${bytes.length} bytes`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (bestAt === -1) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}

/**
 * Parses `ADDRESS/PREFIX`; throws a TypeError naming the text when it is not valid.
 * The address keeps its host bits (10.0.0.1/24 stays .1); see {@linkcode networkOf}.
 *
 * @example
 * ```ts
 * parseCidr("10.88.0.0/16").prefixLength; // 16
 * ```
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  if (slash === -1) throw new TypeError(`Invalid CIDR address (no prefix length): ${text}`);
  const address = parseIPv4(text.slice(0, slash)) ?? parseIPv6(text.slice(0, slash));
  const p = text.slice(slash + 1);
  if (!address || !/^\d{1,3}$/.test(p) || Number(p) > address.length * 8) {
    throw new TypeError(`Invalid CIDR address: ${text}`);
  }
  return { address, prefixLength: Number(p) };
}

/**
 * Formats a CIDR.
 *
 * @example
 * ```ts
 * formatCidr({ address: Uint8Array.of(10, 0, 0, 0), prefixLength: 8 }); // "10.0.0.0/8"
 * ```
 */
export function formatCidr(c: Cidr): string {
  return `${formatIP(c.address)}/${c.prefixLength}`;
}

/**
 * The network address: host bits cleared.
 *
 * @example
 * ```ts
 * formatCidr(networkOf(parseCidr("10.1.2.3/16"))); // "10.1.0.0/16"
 * ```
 */
export function networkOf(c: Cidr): Cidr {
  const out = new Uint8Array(c.address);
  for (let bit = c.prefixLength; bit < out.length * 8; bit++) out[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { address: out, prefixLength: c.prefixLength };
}

/**
 * The IPv4 broadcast address of a prefix (all host bits set).
 *
 * @example
 * ```ts
 * formatIP(broadcastOf(parseCidr("10.0.0.0/24"))); // "10.0.0.255"
 * ```
 */
export function broadcastOf(c: Cidr): Uint8Array {
  const out = new Uint8Array(c.address);
  for (let bit = c.prefixLength; bit < out.length * 8; bit++) out[bit >> 3] |= 0x80 >> (bit & 7);
  return out;
}

/**
 * Whether `ip` lies inside the prefix `c`.
 *
 * @example
 * ```ts
 * cidrContains(parseCidr("10.0.0.0/8"), parseIP("10.2.3.4")); // true
 * ```
 */
export function cidrContains(c: Cidr, ip: Uint8Array): boolean {
  if (ip.length !== c.address.length) return false;
  for (let bit = 0; bit < c.prefixLength; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((c.address[bit >> 3] & m) !== (ip[bit >> 3] & m)) return false;
  }
  return true;
}

/**
 * Whether two prefixes share any address.
 *
 * @example
 * ```ts
 * cidrsOverlap(parseCidr("10.0.0.0/8"), parseCidr("10.88.0.0/16")); // true
 * ```
 */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.address.length !== b.address.length) return false;
  const shorter = a.prefixLength <= b.prefixLength ? a : b;
  const other = shorter === a ? b : a;
  return cidrContains(shorter, other.address);
}

/**
 * An address as a bigint (for arithmetic over ranges).
 *
 * @example
 * ```ts
 * ipToBigInt(Uint8Array.of(0, 0, 1, 0)); // 256n
 * ```
 */
export function ipToBigInt(ip: Uint8Array): bigint {
  let n = 0n;
  for (const b of ip) n = (n << 8n) | BigInt(b);
  return n;
}

/**
 * The inverse of {@linkcode ipToBigInt}, for `length` bytes (4 or 16).
 *
 * @example
 * ```ts
 * formatIP(bigIntToIP(256n, 4)); // "0.0.1.0"
 * ```
 */
export function bigIntToIP(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}
