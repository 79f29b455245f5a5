/**
 * Published ports in userland: bind every host port a container publishes (which both
 * reserves it — a port in use is a clear error before the container starts — and resolves
 * ephemeral ports), then relay TCP connections and UDP datagrams to the container.
 *
 * Where nftables is present, DNAT rules (`runtime/network/firewall.ts`) take the traffic in
 * the kernel before it reaches these sockets, so the proxy only holds the ports, as Docker's
 * docker-proxy does next to its iptables rules; where nftables is absent it carries all of
 * it. It runs in whatever long-lived process owns the container (the supervisor).
 *
 * UDP uses `node:dgram`, which is stable in Deno (Deno.listenDatagram needs --unstable-net).
 *
 * @module
 */
import dgram from "node:dgram";
import type { BoundPort, PortMapping, Proto } from "./ports.ts";

/** How long a UDP flow without traffic keeps its relay socket. */
const UDP_IDLE_MS = 60_000;

/** A host port is taken (by another container or any other program). */
export class PortInUseError extends Error {
  override name = "PortInUseError";
}

interface TcpBinding {
  kind: "tcp";
  listener: Deno.TcpListener;
  bound: BoundPort;
}

interface UdpBinding {
  kind: "udp";
  socket: dgram.Socket;
  bound: BoundPort;
}

type Binding = TcpBinding | UdpBinding;

function describe(ip: string, port: number, proto: Proto): string {
  return `${ip.includes(":") ? `[${ip}]` : ip}:${port}${proto === "udp" ? "/udp" : ""}`;
}

async function bindUdp(ip: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: ip.includes(":") ? "udp6" : "udp4" });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind({ address: ip, port, exclusive: true }, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  return socket;
}

function isInUse(e: unknown): boolean {
  return e instanceof Deno.errors.AddrInUse || (e as { code?: string })?.code === "EADDRINUSE";
}

async function bindOne(m: PortMapping): Promise<Binding> {
  const ip = m.hostIp || "0.0.0.0";
  const candidates = m.hostPortStart === 0
    ? [0]
    : Array.from({ length: m.hostPortEnd - m.hostPortStart + 1 }, (_, i) => m.hostPortStart + i);
  let lastError: unknown;
  for (const port of candidates) {
    try {
      if (m.proto === "tcp") {
        const listener = Deno.listen({ hostname: ip, port, transport: "tcp" });
        const p = (listener.addr as Deno.NetAddr).port;
        return {
          kind: "tcp",
          listener,
          bound: { containerPort: m.containerPort, proto: "tcp", hostIp: ip, hostPort: p },
        };
      }
      const socket = await bindUdp(ip, port);
      const p = socket.address().port;
      return {
        kind: "udp",
        socket,
        bound: { containerPort: m.containerPort, proto: "udp", hostIp: ip, hostPort: p },
      };
    } catch (e) {
      lastError = e;
      if (!isInUse(e)) break;
    }
  }
  const where = m.hostPortStart === m.hostPortEnd
    ? describe(ip, m.hostPortStart, m.proto)
    : `${describe(ip, m.hostPortStart, m.proto)}-${m.hostPortEnd}`;
  if (isInUse(lastError)) throw new PortInUseError(`Bind for ${where} failed: port is already allocated`);
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(`Bind for ${where} failed: ${reason}`);
}

/**
 * Copies `src` to `dst` until `src` ends, then half-closes `dst`, so each direction finishes
 * on its own as on a direct connection. (Closing a Deno `conn.writable` — what `pipeTo` does
 * at the end — closes the whole connection, which would cut the other direction short.)
 */
async function pump(src: Deno.TcpConn, dst: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(256 * 1024);
  try {
    for (;;) {
      const n = await src.read(buf);
      if (n === null) break;
      for (let off = 0; off < n;) off += await dst.write(buf.subarray(off, n));
    }
  } finally {
    try {
      await dst.closeWrite();
    } catch { /* peer gone */ }
  }
}

/**
 * The host side of a container's published ports.
 *
 * @example
 * ```ts
 * const pub = await PortPublisher.bind(parsePublish("127.0.0.1::80"));
 * pub.bound; // [{ containerPort: 80, proto: "tcp", hostIp: "127.0.0.1", hostPort: 41234 }]
 * pub.startProxy("10.88.0.2");
 * await pub.close();
 * ```
 */
export class PortPublisher {
  readonly #bindings: Binding[];
  readonly #conns = new Set<Deno.Conn>();
  readonly #udpFlows = new Set<dgram.Socket>();
  #closed = false;

  private constructor(bindings: Binding[]) {
    this.#bindings = bindings;
  }

  /**
   * Binds every mapping; on any failure releases what it bound and throws
   * {@linkcode PortInUseError} (`Bind for 0.0.0.0:8080 failed: port is already allocated`).
   */
  static async bind(mappings: PortMapping[]): Promise<PortPublisher> {
    const done: Binding[] = [];
    try {
      for (const m of mappings) done.push(await bindOne(m));
    } catch (e) {
      await new PortPublisher(done).close();
      throw e;
    }
    return new PortPublisher(done);
  }

  /** What got bound, with ephemeral ports resolved. */
  get bound(): BoundPort[] {
    return this.#bindings.map((b) => b.bound);
  }

  /** Starts relaying to the container at `target` (its address on the network). */
  startProxy(target: string): void {
    for (const b of this.#bindings) {
      if (b.kind === "tcp") this.#acceptLoop(b, target);
      else this.#relayUdp(b, target);
    }
  }

  async #acceptLoop(b: TcpBinding, target: string): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await b.listener.accept() as Deno.TcpConn;
      } catch {
        return; // closed
      }
      this.#relayTcp(conn, target, b.bound.containerPort);
    }
  }

  async #relayTcp(client: Deno.TcpConn, target: string, port: number): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.TcpConn | undefined;
    try {
      upstream = await Deno.connect({ hostname: target, port });
      this.#conns.add(upstream);
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      await Promise.allSettled([pump(client, upstream), pump(upstream, client)]);
    } catch {
      // Connection refused or reset: the client sees its connection close.
    } finally {
      for (const c of [client, upstream]) {
        if (!c) continue;
        this.#conns.delete(c);
        try {
          c.close();
        } catch { /* already closed */ }
      }
    }
  }

  #relayUdp(b: UdpBinding, target: string): void {
    const flows = new Map<string, { socket: dgram.Socket; timer: number }>();
    b.socket.on("message", (msg, rinfo) => {
      const key = `${rinfo.address}:${rinfo.port}`;
      let flow = flows.get(key);
      if (!flow) {
        const socket = dgram.createSocket(target.includes(":") ? "udp6" : "udp4");
        this.#udpFlows.add(socket);
        socket.on("message", (reply) => {
          if (!this.#closed) b.socket.send(reply, rinfo.port, rinfo.address);
        });
        socket.on("error", () => {});
        const f = { socket, timer: 0 };
        flows.set(key, f);
        flow = f;
      }
      const f = flow;
      clearTimeout(f.timer);
      // With node types loaded setTimeout is typed as Node's; in Deno it returns a number.
      f.timer = setTimeout(() => {
        flows.delete(key);
        this.#udpFlows.delete(f.socket);
        f.socket.close();
      }, UDP_IDLE_MS) as unknown as number;
      Deno.unrefTimer(f.timer);
      f.socket.send(msg, b.bound.containerPort, target);
    });
    b.socket.on("error", () => {});
  }

  /** Stops relaying and releases every port. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of this.#bindings) {
      if (b.kind === "tcp") {
        try {
          b.listener.close();
        } catch { /* closed */ }
      } else {
        await new Promise<void>((resolve) => b.socket.close(() => resolve()));
      }
    }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    for (const s of this.#udpFlows) {
      try {
        s.close();
      } catch { /* closed */ }
    }
  }
}
