/**
 * A small netlink layer over {@linkcode libc}: message building (headers, family headers,
 * nested attributes), parsing, and a {@linkcode NetlinkSocket} that sends requests and turns
 * kernel acknowledgements into results or {@linkcode NetlinkError}s naming the operation and
 * the object it was about (`create bridge "ctr0": EEXIST`).
 *
 * Everything here is synchronous FFI on the calling thread. That matters for namespaces: a
 * netlink socket belongs to the network namespace of the thread that created it, for its
 * whole life, so {@linkcode NetlinkSocket.open} with `netns` switches the main thread into the
 * target namespace only for the `socket(2)` call and switches it back at once (see
 * `ffi/netns.ts`). Deno's other threads never move.
 *
 * Wire format (include/uapi/linux/netlink.h): every message is a 16-byte `nlmsghdr`
 * (len, type, flags, seq, pid) followed by a family header and 4-byte aligned attributes
 * `{u16 len, u16 type, value}`; nested attributes carry more attributes as their value.
 *
 * @module
 */
import { lastErrno, libc, libcSymbols } from "./libc.ts";
import { SyscallError } from "./errno.ts";
import { inNetns } from "./netns.ts";

/** Netlink protocol families used by ctr. */
export const NETLINK = { ROUTE: 0, NETFILTER: 12 } as const;

/** nlmsghdr flags. */
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  // GET requests
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  // NEW requests
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  // ACK flags
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;

/** Control message types. */
export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** Flag on a nested attribute's type (`NLA_F_NESTED`); netfilter wants it set. */
export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_SNDBUF = 7;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const NLMSGERR_ATTR_MSG = 1;
const EAGAIN = 11;
const EINTR = 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A netlink request failed. `syscall` is the operation (`create bridge`), `path` the object
 * (`ctr0`), `errno` the kernel's answer; `detail` the kernel's extended-ack text when it
 * gave one (`Unknown device type`).
 *
 * @example
 * ```ts
 * try { rt.createBridge("ctr0"); }
 * catch (e) { if (e instanceof NetlinkError && e.code === "EEXIST") { ... } }
 * ```
 */
export class NetlinkError extends SyscallError {
  override name = "NetlinkError";
  /** Extended-ack message from the kernel, if any. */
  readonly detail?: string;
  constructor(operation: string, errno: number, subject?: string, detail?: string) {
    super(operation, errno, subject);
    this.detail = detail;
    if (detail) this.message = `${this.message} (${detail})`;
  }
}

/**
 * Builds one netlink message: header, family header and attributes, with nesting.
 *
 * @example
 * ```ts
 * const m = new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK);
 * m.bytes(ifinfomsg({}));
 * m.string(IFLA.IFNAME, "ctr0");
 * m.nested(IFLA.LINKINFO, () => m.string(IFLA_INFO.KIND, "bridge"));
 * const bytes = m.finish(1);
 * ```
 */
export class MessageWriter {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 16;
  /** Message type (`RTM_NEWLINK`, …). */
  readonly type: number;
  /** nlmsghdr flags. */
  readonly flags: number;

  constructor(type: number, flags: number) {
    this.type = type;
    this.flags = flags;
  }

  #reserve(n: number): number {
    const need = this.#len + n;
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, this.#buf.length * 2));
      grown.set(this.#buf);
      this.#buf = grown;
      this.#view = new DataView(grown.buffer);
    }
    const at = this.#len;
    this.#len = need;
    return at;
  }

  #pad(): void {
    const aligned = align4(this.#len);
    if (aligned > this.#len) this.#reserve(aligned - this.#len);
  }

  /** Appends raw bytes (a family header), padded to 4 bytes. */
  bytes(data: Uint8Array): this {
    const at = this.#reserve(data.length);
    this.#buf.set(data, at);
    this.#pad();
    return this;
  }

  /** An attribute with raw bytes as value. */
  attr(type: number, value: Uint8Array): this {
    const at = this.#reserve(4);
    this.#view.setUint16(at, 4 + value.length, true);
    this.#view.setUint16(at + 2, type, true);
    const v = this.#reserve(value.length);
    this.#buf.set(value, v);
    this.#pad();
    return this;
  }

  /** A NUL-terminated string attribute. */
  string(type: number, value: string): this {
    const b = encoder.encode(value);
    const z = new Uint8Array(b.length + 1);
    z.set(b);
    return this.attr(type, z);
  }

  /** An empty (flag) attribute. */
  flag(type: number): this {
    return this.attr(type, new Uint8Array(0));
  }

  /** A u8 attribute. */
  u8(type: number, value: number): this {
    return this.attr(type, Uint8Array.of(value));
  }

  /** A u16 attribute in host (little-endian) order. */
  u16(type: number, value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, true);
    return this.attr(type, b);
  }

  /** A u32 attribute in host (little-endian) order. */
  u32(type: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    return this.attr(type, b);
  }

  /** A signed 32-bit attribute in host order. */
  i32(type: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, value, true);
    return this.attr(type, b);
  }

  /** A u16 attribute in network (big-endian) order, as netfilter uses. */
  be16(type: number, value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, false);
    return this.attr(type, b);
  }

  /** A u32 attribute in network (big-endian) order, as netfilter uses. */
  be32(type: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, false);
    return this.attr(type, b);
  }

  /** A u64 attribute in network (big-endian) order (netfilter handles). */
  be64(type: number, value: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, value, false);
    return this.attr(type, b);
  }

  /** A nested attribute whose contents `fill` writes. */
  nested(type: number, fill: () => void, flagNested = false): this {
    const at = this.#reserve(4);
    fill();
    this.#pad();
    this.#view.setUint16(at, this.#len - at, true);
    this.#view.setUint16(at + 2, flagNested ? type | NLA_F_NESTED : type, true);
    return this;
  }

  /** The finished message with its header filled in. */
  finish(seq: number): Uint8Array<ArrayBuffer> {
    this.#view.setUint32(0, this.#len, true);
    this.#view.setUint16(4, this.type, true);
    this.#view.setUint16(6, this.flags, true);
    this.#view.setUint32(8, seq >>> 0, true);
    this.#view.setUint32(12, 0, true);
    return this.#buf.slice(0, this.#len);
  }
}

/** One received netlink message. */
export interface Message {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the 16-byte header. */
  payload: Uint8Array;
}

/**
 * Attributes of a message or a nested attribute, by type. Repeated types keep every value in
 * {@linkcode Attributes.all}.
 *
 * @example
 * ```ts
 * const a = parseAttributes(msg.payload.subarray(16));
 * a.string(IFLA.IFNAME); // "eth0"
 * ```
 */
export class Attributes {
  readonly #map = new Map<number, Uint8Array[]>();
  /** Types in the order they appeared, with values. */
  readonly list: { type: number; value: Uint8Array }[] = [];

  /** @internal */
  add(type: number, value: Uint8Array): void {
    const list = this.#map.get(type);
    if (list) list.push(value);
    else this.#map.set(type, [value]);
    this.list.push({ type, value });
  }

  /** Whether the attribute is present. */
  has(type: number): boolean {
    return this.#map.has(type);
  }

  /** Raw value of the first attribute of that type. */
  get(type: number): Uint8Array | undefined {
    return this.#map.get(type)?.[0];
  }

  /** Every value of that type. */
  all(type: number): Uint8Array[] {
    return this.#map.get(type) ?? [];
  }

  /** A NUL-terminated string value. */
  string(type: number): string | undefined {
    const v = this.get(type);
    if (!v) return undefined;
    const end = v.indexOf(0);
    return decoder.decode(end === -1 ? v : v.subarray(0, end));
  }

  /** A u8 value. */
  u8(type: number): number | undefined {
    const v = this.get(type);
    return v && v.length >= 1 ? v[0] : undefined;
  }

  /** A u16 value in host order. */
  u16(type: number): number | undefined {
    const v = this.get(type);
    return v && v.length >= 2 ? dv(v).getUint16(0, true) : undefined;
  }

  /** A u32 value in host order. */
  u32(type: number): number | undefined {
    const v = this.get(type);
    return v && v.length >= 4 ? dv(v).getUint32(0, true) : undefined;
  }

  /** A u32 value in network order. */
  be32(type: number): number | undefined {
    const v = this.get(type);
    return v && v.length >= 4 ? dv(v).getUint32(0, false) : undefined;
  }

  /** A u64 value in network order. */
  be64(type: number): bigint | undefined {
    const v = this.get(type);
    return v && v.length >= 8 ? dv(v).getBigUint64(0, false) : undefined;
  }

  /** The attributes nested in that attribute. */
  nested(type: number): Attributes | undefined {
    const v = this.get(type);
    return v ? parseAttributes(v) : undefined;
  }
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Rounds up to the netlink alignment (4 bytes). */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Parses a run of attributes.
 *
 * @example
 * ```ts
 * parseAttributes(Uint8Array.of(8, 0, 3, 0, 108, 111, 0, 0)).string(3); // "lo"
 * ```
 */
export function parseAttributes(data: Uint8Array): Attributes {
  const attrs = new Attributes();
  const v = dv(data);
  let off = 0;
  while (off + 4 <= data.length) {
    const len = v.getUint16(off, true);
    const type = v.getUint16(off + 2, true) & NLA_TYPE_MASK;
    if (len < 4 || off + len > data.length) break;
    attrs.add(type, data.subarray(off + 4, off + len));
    off += align4(len);
  }
  return attrs;
}

/**
 * Splits a receive buffer into messages.
 *
 * @example
 * ```ts
 * for (const m of parseMessages(buf.subarray(0, n))) console.log(m.type);
 * ```
 */
export function parseMessages(data: Uint8Array): Message[] {
  const out: Message[] = [];
  const v = dv(data);
  let off = 0;
  while (off + 16 <= data.length) {
    const len = v.getUint32(off, true);
    if (len < 16 || off + len > data.length) break;
    out.push({
      type: v.getUint16(off + 4, true),
      flags: v.getUint16(off + 6, true),
      seq: v.getUint32(off + 8, true),
      pid: v.getUint32(off + 12, true),
      payload: data.subarray(off + 16, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** The errno (positive; 0 for an ACK) and extended-ack text of an NLMSG_ERROR message. */
export function parseError(m: Message): { errno: number; detail?: string; seq: number } {
  const v = dv(m.payload);
  const errno = -v.getInt32(0, true);
  // The original request header follows; with NETLINK_CAP_ACK only its 16 bytes.
  const origLen = m.flags & NLM_F.CAPPED ? 16 : (m.payload.length >= 8 ? v.getUint32(4, true) : 16);
  const origSeq = m.payload.length >= 16 ? v.getUint32(12, true) : m.seq;
  let detail: string | undefined;
  if (m.flags & NLM_F.ACK_TLVS) {
    const tlvs = parseAttributes(m.payload.subarray(4 + align4(origLen)));
    detail = tlvs.string(NLMSGERR_ATTR_MSG);
  }
  return { errno, detail, seq: origSeq };
}

/** What a request is about, for error messages: `create bridge` + `ctr0`. */
export interface Operation {
  /** Human name of the operation, e.g. `create bridge`, `add address 10.0.0.1/24 to`. */
  op: string;
  /** The object (link name, table name) or nothing. */
  subject?: string;
}

/**
 * A netlink socket bound to one protocol and to the network namespace it was opened in.
 *
 * @example
 * ```ts
 * using nl = NetlinkSocket.open(NETLINK.ROUTE);
 * const links = nl.dump(new MessageWriter(RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP).bytes(ifinfomsg({})),
 *   { op: "list links" });
 * ```
 */
export class NetlinkSocket {
  readonly fd: number;
  #seq = Math.floor(Math.random() * 0x7fffffff);
  #buf = new Uint8Array(1 << 16);
  #closed = false;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /**
   * Opens a socket for `protocol`. With `netns` (a path such as `/proc/PID/ns/net`, or an
   * open namespace fd), the socket is created inside that network namespace.
   */
  static open(protocol: number, options: { netns?: string | number } = {}): NetlinkSocket {
    const create = () => libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    const fd = options.netns === undefined ? create() : inNetns(options.netns, create);
    try {
      const one = new Int32Array([1]);
      // Extended acks carry the kernel's reason; capped acks keep error replies small.
      trySetsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one);
      trySetsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one);
      const size = new Int32Array([1 << 20]);
      trySetsockopt(fd, SOL_SOCKET, SO_RCVBUF, size);
      trySetsockopt(fd, SOL_SOCKET, SO_SNDBUF, size);
      const addr = new Uint8Array(12); // sockaddr_nl: family, pad, pid 0 (kernel assigns), groups 0
      new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
      libc.bind(fd, addr);
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    return new NetlinkSocket(fd);
  }

  /** The next sequence number. */
  nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    if (this.#seq === 0) this.#seq = 1;
    return this.#seq;
  }

  /** Sends finished message bytes (one message or a batch). */
  send(data: Uint8Array<ArrayBuffer>, what: Operation): void {
    const addr = new Uint8Array(12);
    new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
    for (;;) {
      const n = Number(
        libcSymbols().sendto(this.fd, data, BigInt(data.length), 0, addr, addr.length),
      );
      if (n >= 0) return;
      const e = lastErrnoOf();
      if (e === EINTR) continue;
      throw new NetlinkError(`${what.op} (send)`, e, what.subject);
    }
  }

  /** Receives one datagram's messages; null when `nonBlocking` and nothing is queued. */
  receive(what: Operation, nonBlocking = false): Message[] | null {
    for (;;) {
      const n = Number(
        libcSymbols().recvfrom(
          this.fd,
          this.#buf,
          BigInt(this.#buf.length),
          MSG_TRUNC | (nonBlocking ? MSG_DONTWAIT : 0),
          null,
          null,
        ),
      );
      if (n < 0) {
        const e = lastErrnoOf();
        if (e === EINTR) continue;
        if (e === EAGAIN && nonBlocking) return null;
        throw new NetlinkError(`${what.op} (receive)`, e, what.subject);
      }
      if (n > this.#buf.length) {
        // The datagram was larger than the buffer and got cut; grow and fail this one
        // loudly rather than parse half a message.
        this.#buf = new Uint8Array(align4(n) * 2);
        throw new NetlinkError(`${what.op} (receive)`, 90, what.subject, "reply larger than buffer");
      }
      return parseMessages(this.#buf.slice(0, n));
    }
  }

  /**
   * Sends one request with NLM_F_ACK and waits for its acknowledgement. Returns any
   * messages the kernel sent before the ack (replies to NLM_F_ECHO or GET requests).
   */
  request(msg: MessageWriter, what: Operation): Message[] {
    const seq = this.nextSeq();
    this.send(msg.finish(seq), what);
    return this.#collect(seq, msg, what);
  }

  /**
   * {@linkcode NetlinkSocket.request} with the send on a Deno blocking-pool thread, so a
   * slow kernel operation (deleting a link waits for RCU grace periods) does not stall the
   * event loop. rtnetlink answers inside `sendto`, so the ack is queued when it returns.
   * Use one socket per concurrent request: replies are matched by sequence number.
   */
  async requestAsync(msg: MessageWriter, what: Operation): Promise<Message[]> {
    const seq = this.nextSeq();
    const data = msg.finish(seq);
    const addr = new Uint8Array(12);
    new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
    const n = Number(
      await libcSymbols().sendto_async(this.fd, data, BigInt(data.length), 0, addr, addr.length),
    );
    // errno of the pool thread cannot be read here; a failed send of a well-formed request
    // to the kernel is out of memory.
    if (n < 0) throw new NetlinkError(`${what.op} (send)`, 105, what.subject);
    return this.#collect(seq, msg, what);
  }

  #collect(seq: number, msg: MessageWriter, what: Operation): Message[] {
    const replies: Message[] = [];
    for (;;) {
      for (const m of this.receive(what)!) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG.ERROR) {
          const err = parseError(m);
          if (err.errno !== 0) throw new NetlinkError(what.op, err.errno, what.subject, err.detail);
          return replies;
        }
        if (m.type === NLMSG.DONE) return replies;
        replies.push(m);
        // A GET without ACK answers with exactly one message.
        if (!(m.flags & NLM_F.MULTI) && !(msg.flags & NLM_F.ACK)) return replies;
      }
    }
  }

  /** Sends a dump request (NLM_F_DUMP) and collects every message until NLMSG_DONE. */
  dump(msg: MessageWriter, what: Operation): Message[] {
    const seq = this.nextSeq();
    this.send(msg.finish(seq), what);
    const out: Message[] = [];
    for (;;) {
      for (const m of this.receive(what)!) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG.DONE) {
          if (m.flags & NLM_F.DUMP_INTR) {
            // The object set changed while dumping; the caller may retry.
            throw new NetlinkError(what.op, EINTR, what.subject, "dump interrupted, try again");
          }
          return out;
        }
        if (m.type === NLMSG.ERROR) {
          const err = parseError(m);
          if (err.errno !== 0) throw new NetlinkError(what.op, err.errno, what.subject, err.detail);
          return out;
        }
        out.push(m);
      }
    }
  }

  /**
   * Sends several already-finished messages at once (a netfilter batch) and waits for an ack
   * for each of `expectAcks` (their sequence numbers). The first error wins; later replies
   * are drained so the socket stays usable.
   */
  transact(data: Uint8Array<ArrayBuffer>, expectAcks: { seq: number; what: Operation }[]): Message[] {
    const first = expectAcks[0]?.what ?? { op: "netlink batch" };
    this.send(data, first);
    const pending = new Map(expectAcks.map((e) => [e.seq, e.what]));
    const replies: Message[] = [];
    let failure: NetlinkError | undefined;
    while (pending.size > 0) {
      const msgs = this.receive(first, failure !== undefined);
      if (msgs === null) break;
      for (const m of msgs) {
        if (m.type !== NLMSG.ERROR) {
          replies.push(m);
          continue;
        }
        const err = parseError(m);
        const what = pending.get(err.seq) ?? first;
        pending.delete(err.seq);
        if (err.errno !== 0 && !failure) {
          failure = new NetlinkError(what.op, err.errno, what.subject, err.detail);
        }
      }
    }
    if (failure) throw failure;
    return replies;
  }

  /** Closes the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function trySetsockopt(fd: number, level: number, name: number, value: Int32Array<ArrayBuffer>): void {
  libcSymbols().setsockopt(fd, level, name, new Uint8Array(value.buffer), 4);
}

function lastErrnoOf(): number {
  return lastErrno();
}
