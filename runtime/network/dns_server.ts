/**
 * The embedded DNS resolver of user-defined networks: a small UDP + TCP DNS server that
 * answers A/AAAA queries for the names of containers on the network (container name,
 * aliases, short id, and `name.network`) and forwards every other query, byte for byte, to
 * the host's resolvers.
 *
 * Where it listens (a design choice, see README "Networking"): on the network's gateway
 * address, port 53, in the host's network namespace, and containers' /etc/resolv.conf names
 * that address. Docker instead listens on 127.0.0.11 inside each container's namespace and
 * DNATs to it; listening on the gateway needs one socket per network instead of one per
 * container, no rules, and forwarding works with any host resolver — including loopback ones
 * such as systemd-resolved's 127.0.0.53, which a resolver inside the container could not
 * reach.
 *
 * @module
 */
import dgram from "node:dgram";
import { parseIP } from "../../ffi/inet.ts";
import { buildResponse, errorResponse, parseQuery, QTYPE, RCODE } from "./dns_message.ts";

/** Addresses for a name on this network, or null when the name is not ours (forward it). */
export type NameLookup = (name: string) => string[] | null;

/** Options of a {@linkcode DnsServer}. */
export interface DnsServerOptions {
  /** Address to listen on (the network's gateway). */
  address: string;
  /** Port (53 in production; tests pick a free one). */
  port?: number;
  lookup: NameLookup;
  /** Upstream resolvers, `IP` or `IP:PORT` (default port 53). */
  upstreams: string[];
  /** Upstreams for queries from one client address (a container's `--dns`); default `upstreams`. */
  upstreamsFor?: (source: string) => string[];
  /** Per-upstream timeout. */
  timeoutMs?: number;
  /** TTL of answers ctr gives. */
  ttl?: number;
}

const MAX_UDP = 4096;

/**
 * The nameservers of a resolv.conf text.
 *
 * @example
 * ```ts
 * resolvConfNameservers("nameserver 1.1.1.1\nnameserver ::1\n"); // ["1.1.1.1", "::1"]
 * ```
 */
export function resolvConfNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    try {
      parseIP(m[1].split("%")[0]);
      out.push(m[1]);
    } catch { /* not an address */ }
  }
  return out;
}

function splitHostPort(upstream: string): { host: string; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(upstream) ?? /^([^:]+):(\d+)$/.exec(upstream);
  return m ? { host: m[1], port: Number(m[2]) } : { host: upstream, port: 53 };
}

/**
 * One network's resolver.
 *
 * @example
 * ```ts
 * const dns = await DnsServer.listen({ address: "10.89.0.1", lookup, upstreams: ["10.255.255.53"] });
 * await dns.close();
 * ```
 */
export class DnsServer {
  readonly #udp: dgram.Socket;
  readonly #tcp: Deno.TcpListener;
  readonly #options: DnsServerOptions;
  readonly #conns = new Set<Deno.Conn>();
  #closed = false;

  private constructor(udp: dgram.Socket, tcp: Deno.TcpListener, options: DnsServerOptions) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#options = options;
  }

  /** Binds UDP and TCP on the address and starts answering. */
  static async listen(options: DnsServerOptions): Promise<DnsServer> {
    const udp = dgram.createSocket(options.address.includes(":") ? "udp6" : "udp4");
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind({ address: options.address, port: options.port ?? 53, exclusive: true }, () => {
        udp.off("error", reject);
        resolve();
      });
    });
    let tcp: Deno.TcpListener;
    try {
      tcp = Deno.listen({ hostname: options.address, port: udp.address().port, transport: "tcp" });
    } catch (e) {
      udp.close();
      throw e;
    }
    const server = new DnsServer(udp, tcp, options);
    server.#serveUdp();
    server.#serveTcp();
    return server;
  }

  /** The port it listens on (UDP and TCP). */
  get port(): number {
    return this.#udp.address().port;
  }

  /**
   * Answers one query: from `lookup` when the name is ours, else by forwarding. Never
   * throws; failures become SERVFAIL.
   */
  async answer(query: Uint8Array, transport: "udp" | "tcp", source?: string): Promise<Uint8Array> {
    const q = parseQuery(query);
    if (!q) return errorResponse(query, RCODE.FORMERR);
    let addresses: string[] | null = null;
    if (q.opcode === 0 && q.class === 1) {
      try {
        addresses = this.#options.lookup(q.name);
      } catch {
        return errorResponse(query, RCODE.SERVFAIL);
      }
    }
    if (addresses !== null) {
      const bytes = addresses.map(parseIP).filter((b) =>
        q.type === QTYPE.ANY || (q.type === QTYPE.A && b.length === 4) ||
        (q.type === QTYPE.AAAA && b.length === 16)
      );
      return buildResponse(query, q, bytes, RCODE.NOERROR, this.#options.ttl ?? 600);
    }
    const upstreams = source !== undefined && this.#options.upstreamsFor
      ? this.#options.upstreamsFor(source)
      : this.#options.upstreams;
    for (const upstream of upstreams) {
      try {
        return transport === "udp"
          ? await this.#forwardUdp(query, upstream)
          : await this.#forwardTcp(query, upstream);
      } catch { /* try the next one */ }
    }
    return errorResponse(query, RCODE.SERVFAIL);
  }

  #forwardUdp(query: Uint8Array, upstream: string): Promise<Uint8Array> {
    const { host, port } = splitHostPort(upstream);
    const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
    const id = new DataView(query.buffer, query.byteOffset).getUint16(0);
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`DNS upstream ${upstream} timed out`)),
        this.#options.timeoutMs ?? 2000,
      );
      const finish = (err: Error | null, reply?: Uint8Array) => {
        clearTimeout(timer);
        socket.close();
        if (err) reject(err);
        else resolve(reply!);
      };
      socket.on("error", (e) => finish(e));
      socket.on("message", (msg) => {
        // Ignore stray datagrams that do not answer this query.
        if (msg.length >= 2 && msg.readUInt16BE(0) === id) finish(null, new Uint8Array(msg));
      });
      socket.send(query, port, host);
    });
  }

  async #forwardTcp(query: Uint8Array, upstream: string): Promise<Uint8Array> {
    const { host, port } = splitHostPort(upstream);
    const conn = await Deno.connect({ hostname: host, port });
    const timer = setTimeout(() => conn.close(), this.#options.timeoutMs ?? 2000);
    try {
      const framed = new Uint8Array(2 + query.length);
      new DataView(framed.buffer).setUint16(0, query.length);
      framed.set(query, 2);
      await writeAll(conn, framed);
      const reply = await readFrame(conn);
      if (!reply) throw new Error(`DNS upstream ${upstream} closed the connection`);
      return reply;
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch { /* closed by the timer */ }
    }
  }

  #serveUdp(): void {
    this.#udp.on("message", async (msg, rinfo) => {
      const reply = await this.answer(new Uint8Array(msg), "udp", rinfo.address);
      if (this.#closed) return;
      let out = reply;
      if (out.length > MAX_UDP) {
        // Too big for a datagram: send the header with TC set so the client retries on TCP.
        out = reply.slice(0, 12);
        new DataView(out.buffer).setUint16(2, new DataView(reply.buffer).getUint16(2) | 0x0200);
      }
      this.#udp.send(out, rinfo.port, rinfo.address);
    });
    this.#udp.on("error", () => {});
  }

  async #serveTcp(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#tcp.accept();
      } catch {
        return;
      }
      this.#conns.add(conn);
      (async () => {
        try {
          for (;;) {
            const query = await readFrame(conn);
            if (!query) break;
            const reply = await this.answer(query, "tcp", (conn.remoteAddr as Deno.NetAddr).hostname);
            const framed = new Uint8Array(2 + reply.length);
            new DataView(framed.buffer).setUint16(0, reply.length);
            framed.set(reply, 2);
            await writeAll(conn, framed);
          }
        } catch {
          /* client went away */
        } finally {
          this.#conns.delete(conn);
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  }

  /** Stops answering and releases the sockets. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#tcp.close();
    } catch { /* closed */ }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  for (let off = 0; off < n;) {
    const got = await conn.read(out.subarray(off));
    if (got === null) return null;
    off += got;
  }
  return out;
}

async function readFrame(conn: Deno.Conn): Promise<Uint8Array | null> {
  const len = await readExactly(conn, 2);
  if (!len) return null;
  return await readExactly(conn, new DataView(len.buffer).getUint16(0));
}
