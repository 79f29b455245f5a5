/**
 * DNS messages (RFC 1035 §4), pure: read the question of a query and build answers. Just
 * what an embedded resolver needs — names for A/AAAA records, NXDOMAIN, SERVFAIL — the rest
 * of a query is forwarded to the host's resolvers byte for byte.
 *
 * @module
 */

/** Record types ctr answers itself. */
export const QTYPE = { A: 1, AAAA: 28, ANY: 255 } as const;

/** Response codes. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** The first question of a query. */
export interface Question {
  id: number;
  /** Lower-case name without the trailing dot. */
  name: string;
  type: number;
  class: number;
  /** Whether the client asked for recursion (RD). */
  recursionDesired: boolean;
  /** Byte offset where the question ends (answers are appended after it). */
  end: number;
  /** The query's opcode (0 = standard query). */
  opcode: number;
}

/**
 * Parses the header and first question of a query; null when it is malformed or a response.
 *
 * @example
 * ```ts
 * parseQuery(buildQuery(7, "web", QTYPE.A))?.name; // "web"
 * ```
 */
export function parseQuery(msg: Uint8Array): Question | null {
  if (msg.length < 12) return null;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const flags = v.getUint16(2);
  if (flags & 0x8000) return null; // a response, not a query
  if (v.getUint16(4) < 1) return null;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return null;
    const len = msg[off];
    if (len === 0) {
      off++;
      break;
    }
    if (len & 0xc0) return null; // no compression pointers in a question we parse
    if (off + 1 + len > msg.length) return null;
    labels.push(new TextDecoder().decode(msg.subarray(off + 1, off + 1 + len)));
    off += 1 + len;
    if (labels.length > 127) return null;
  }
  if (off + 4 > msg.length) return null;
  return {
    id: v.getUint16(0),
    name: labels.join(".").toLowerCase(),
    type: v.getUint16(off),
    class: v.getUint16(off + 2),
    recursionDesired: (flags & 0x0100) !== 0,
    end: off + 4,
    opcode: (flags >> 11) & 0xf,
  };
}

function encodeName(name: string): Uint8Array {
  const parts = name.split(".").filter((p) => p !== "");
  const bytes: number[] = [];
  for (const p of parts) {
    const b = new TextEncoder().encode(p);
    if (b.length > 63) throw new RangeError(`DNS label too long: ${p}`);
    bytes.push(b.length, ...b);
  }
  bytes.push(0);
  return Uint8Array.from(bytes);
}

/**
 * A query for `name` (tests and the forwarder's health checks use it).
 *
 * @example
 * ```ts
 * const q = buildQuery(1, "example.com", QTYPE.A);
 * ```
 */
export function buildQuery(id: number, name: string, type: number): Uint8Array {
  const qname = encodeName(name);
  const out = new Uint8Array(12 + qname.length + 4);
  const v = new DataView(out.buffer);
  v.setUint16(0, id);
  v.setUint16(2, 0x0100); // RD
  v.setUint16(4, 1);
  out.set(qname, 12);
  v.setUint16(12 + qname.length, type);
  v.setUint16(14 + qname.length, 1);
  return out;
}

/**
 * A response to `query` carrying `addresses` (4-byte → A, 16-byte → AAAA records) with
 * `rcode`. The question is echoed; answers point back at it by compression.
 *
 * @example
 * ```ts
 * buildResponse(query, q, [Uint8Array.of(10, 88, 0, 2)], RCODE.NOERROR, 600);
 * ```
 */
export function buildResponse(
  query: Uint8Array,
  q: Question,
  addresses: Uint8Array[],
  rcode: number,
  ttl = 600,
): Uint8Array {
  const answers = addresses.map((a) => {
    const rr = new Uint8Array(12 + a.length);
    const v = new DataView(rr.buffer);
    v.setUint16(0, 0xc00c); // pointer to the name in the question
    v.setUint16(2, a.length === 4 ? QTYPE.A : QTYPE.AAAA);
    v.setUint16(4, 1); // IN
    v.setUint32(6, ttl);
    v.setUint16(10, a.length);
    rr.set(a, 12);
    return rr;
  });
  const size = q.end + answers.reduce((n, a) => n + a.length, 0);
  const out = new Uint8Array(size);
  out.set(query.subarray(0, q.end));
  const v = new DataView(out.buffer);
  // QR=1, opcode as asked, AA=1, RD copied, RA=1, rcode.
  v.setUint16(
    2,
    0x8000 | (q.opcode << 11) | 0x0400 | (q.recursionDesired ? 0x0100 : 0) | 0x0080 | (rcode & 0xf),
  );
  v.setUint16(4, 1);
  v.setUint16(6, answers.length);
  v.setUint16(8, 0);
  v.setUint16(10, 0);
  let off = q.end;
  for (const a of answers) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

/**
 * An error response (SERVFAIL, FORMERR, …) echoing just the header id of a raw message.
 *
 * @example
 * ```ts
 * errorResponse(raw, RCODE.SERVFAIL);
 * ```
 */
export function errorResponse(query: Uint8Array, rcode: number): Uint8Array {
  const q = parseQuery(query);
  if (q) return buildResponse(query, q, [], rcode);
  const out = new Uint8Array(12);
  if (query.length >= 2) out.set(query.subarray(0, 2));
  new DataView(out.buffer).setUint16(2, 0x8000 | 0x0080 | (rcode & 0xf));
  return out;
}

/** One answer record as parsed by {@linkcode parseAnswers}. */
export interface AnswerRecord {
  type: number;
  ttl: number;
  data: Uint8Array;
}

function skipName(msg: Uint8Array, off: number): number {
  for (;;) {
    if (off >= msg.length) throw new RangeError("DNS name runs past the message");
    const len = msg[off];
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2;
    off += 1 + len;
  }
}

/**
 * The rcode and answer records of a response (used by tests and by `ctr` checks).
 *
 * @example
 * ```ts
 * parseAnswers(reply).answers[0].data; // Uint8Array [10, 88, 0, 2]
 * ```
 */
export function parseAnswers(msg: Uint8Array): { id: number; rcode: number; answers: AnswerRecord[] } {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const qd = v.getUint16(4), an = v.getUint16(6);
  let off = 12;
  for (let i = 0; i < qd; i++) off = skipName(msg, off) + 4;
  const answers: AnswerRecord[] = [];
  for (let i = 0; i < an; i++) {
    off = skipName(msg, off);
    const type = v.getUint16(off), ttl = v.getUint32(off + 4), len = v.getUint16(off + 8);
    answers.push({ type, ttl, data: msg.slice(off + 10, off + 10 + len) });
    off += 10 + len;
  }
  return { id: v.getUint16(0), rcode: v.getUint16(2) & 0xf, answers };
}
