import dgram from "node:dgram";
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { PortInUseError, PortPublisher } from "./port_proxy.ts";
import { parsePublish } from "./ports.ts";

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

Deno.test("port proxy: TCP bytes go through both ways, with half-close, to the target port", async () => {
  // The "container": reads everything, then answers with its length and the reversed bytes.
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serverPort = (server.addr as Deno.NetAddr).port;
  const served = (async () => {
    const c = await server.accept();
    const data = await (async () => {
      const chunks: number[] = [];
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        chunks.push(...buf.subarray(0, n));
      }
      return chunks;
    })();
    await c.write(new TextEncoder().encode(`${data.length}:`));
    await c.write(Uint8Array.from(data.reverse()));
    c.close();
  })();
  const pub = await PortPublisher.bind(parsePublish(`127.0.0.1::${serverPort}`));
  try {
    const [b] = pub.bound;
    assertEquals([b.hostIp, b.proto, b.containerPort], ["127.0.0.1", "tcp", serverPort]);
    assert(b.hostPort > 0 && b.hostPort !== serverPort);
    pub.startProxy("127.0.0.1");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: b.hostPort });
    const payload = new Uint8Array(300_000).map((_, i) => i % 251);
    await conn.write(payload);
    await conn.closeWrite();
    const reply = await readAll(conn);
    const head = new TextDecoder().decode(reply.subarray(0, 7));
    assertEquals(head, "300000:");
    assertEquals(reply.length, 7 + 300_000);
    assertEquals(reply[7], payload[payload.length - 1]);
    conn.close();
    await served;
  } finally {
    await pub.close();
    server.close();
  }
});

Deno.test("port proxy: a port already in use is a clear error and nothing stays bound", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const freePort = (other.addr as Deno.NetAddr).port;
  other.close();
  try {
    await assertRejects(
      () =>
        PortPublisher.bind([
          ...parsePublish(`127.0.0.1:${freePort}:80`),
          ...parsePublish(`127.0.0.1:${port}:81`),
        ]),
      PortInUseError,
      `Bind for 127.0.0.1:${port} failed: port is already allocated`,
    );
    // The first port was released when the second failed.
    const again = Deno.listen({ hostname: "127.0.0.1", port: freePort });
    again.close();
  } finally {
    taken.close();
  }
});

Deno.test("port proxy: a host range takes the first free port; close releases it", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    let pub: PortPublisher;
    try {
      pub = await PortPublisher.bind(parsePublish(`127.0.0.1:${port}-${port + 1}:80`));
    } catch (e) {
      if (e instanceof PortInUseError) return; // port+1 happened to be taken by someone else
      throw e;
    }
    assertEquals(pub.bound[0].hostPort, port + 1);
    await pub.close();
    Deno.listen({ hostname: "127.0.0.1", port: port + 1 }).close();
  } finally {
    taken.close();
  }
});

Deno.test("port proxy: UDP datagrams are relayed and answered per client", async () => {
  const echo = dgram.createSocket("udp4");
  await new Promise<void>((r) => echo.bind(0, "127.0.0.1", () => r()));
  echo.on("message", (msg, rinfo) => echo.send(Buffer.from(`echo:${msg}`), rinfo.port, rinfo.address));
  const pub = await PortPublisher.bind(parsePublish(`127.0.0.1::${echo.address().port}/udp`));
  const client = dgram.createSocket("udp4");
  try {
    const [b] = pub.bound;
    assertEquals(b.proto, "udp");
    pub.startProxy("127.0.0.1");
    const reply = new Promise<string>((r) => client.once("message", (m) => r(String(m))));
    client.send(Buffer.from("ping"), b.hostPort, "127.0.0.1");
    assertEquals(await reply, "echo:ping");
    // Binding the same UDP port again fails as for TCP.
    await assertRejects(
      () => PortPublisher.bind(parsePublish(`127.0.0.1:${b.hostPort}:53/udp`)),
      PortInUseError,
      "/udp",
    );
  } finally {
    client.close();
    await pub.close();
    echo.close();
  }
});
