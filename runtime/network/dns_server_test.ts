import dgram from "node:dgram";
import { assertEquals } from "../../tests/assert.ts";
import { buildQuery, buildResponse, parseAnswers, parseQuery, QTYPE, RCODE } from "./dns_message.ts";
import { DnsServer, resolvConfNameservers } from "./dns_server.ts";

async function udpQuery(port: number, name: string, type: number): Promise<ReturnType<typeof parseAnswers>> {
  const s = dgram.createSocket("udp4");
  try {
    const reply = new Promise<Uint8Array>((r) => s.once("message", (m) => r(new Uint8Array(m))));
    s.send(buildQuery(4242, name, type), port, "127.0.0.1");
    return parseAnswers(await reply);
  } finally {
    s.close();
  }
}

async function tcpQuery(port: number, name: string, type: number): Promise<ReturnType<typeof parseAnswers>> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const q = buildQuery(99, name, type);
    const framed = new Uint8Array(2 + q.length);
    new DataView(framed.buffer).setUint16(0, q.length);
    framed.set(q, 2);
    await conn.write(framed);
    const head = new Uint8Array(2);
    await conn.read(head);
    const body = new Uint8Array(new DataView(head.buffer).getUint16(0));
    for (let off = 0; off < body.length;) off += (await conn.read(body.subarray(off)))!;
    return parseAnswers(body);
  } finally {
    conn.close();
  }
}

/** A stand-in for the host's resolver on loopback: answers every A query with 192.0.2.99. */
async function fakeUpstream(): Promise<{ port: number; queries: string[]; close: () => void }> {
  const s = dgram.createSocket("udp4");
  const queries: string[] = [];
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  s.on("message", (m, rinfo) => {
    const raw = new Uint8Array(m);
    const q = parseQuery(raw)!;
    queries.push(q.name);
    const reply = q.name === "nowhere.test"
      ? buildResponse(raw, q, [], RCODE.NXDOMAIN)
      : buildResponse(raw, q, [Uint8Array.of(192, 0, 2, 99)], RCODE.NOERROR, 30);
    s.send(reply, rinfo.port, rinfo.address);
  });
  return { port: s.address().port, queries, close: () => s.close() };
}

const names: Record<string, string[]> = {
  web: ["10.77.0.2"],
  "web.mynet": ["10.77.0.2"],
  api: ["10.77.0.3", "10.77.0.4"],
  six: ["fd00::5"],
};

Deno.test("dns server: names on the network are answered; others are forwarded upstream", async () => {
  const upstream = await fakeUpstream();
  const dns = await DnsServer.listen({
    address: "127.0.0.1",
    port: 0,
    lookup: (n) => names[n] ?? null,
    upstreams: [`127.0.0.1:${upstream.port}`],
  });
  try {
    const web = await udpQuery(dns.port, "WEB", QTYPE.A);
    assertEquals(web.rcode, RCODE.NOERROR);
    assertEquals(web.answers.map((a) => [...a.data].join(".")), ["10.77.0.2"]);
    assertEquals(web.answers[0].ttl, 600);
    assertEquals((await udpQuery(dns.port, "web.mynet", QTYPE.A)).answers.length, 1);
    assertEquals((await udpQuery(dns.port, "api", QTYPE.A)).answers.length, 2);
    const aaaa = await udpQuery(dns.port, "web", QTYPE.AAAA);
    assertEquals([aaaa.rcode, aaaa.answers.length], [RCODE.NOERROR, 0], "our name, no IPv6: empty NOERROR");
    assertEquals((await udpQuery(dns.port, "six", QTYPE.AAAA)).answers[0].data.length, 16);

    const fwd = await udpQuery(dns.port, "example.test", QTYPE.A);
    assertEquals(fwd.answers.map((a) => [...a.data].join(".")), ["192.0.2.99"]);
    assertEquals(fwd.answers[0].ttl, 30, "the upstream's answer is relayed as is");
    assertEquals((await udpQuery(dns.port, "nowhere.test", QTYPE.A)).rcode, RCODE.NXDOMAIN);
    assertEquals(upstream.queries, ["example.test", "nowhere.test"], "our own names never go upstream");

    const tcp = await tcpQuery(dns.port, "api", QTYPE.A);
    assertEquals(tcp.answers.length, 2);
  } finally {
    await dns.close();
    upstream.close();
  }
});

Deno.test("dns server: with no reachable upstream the answer is SERVFAIL", async () => {
  // A port nobody answers on: bind one, close it.
  const s = dgram.createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const dead = s.address().port;
  s.close();
  const dns = await DnsServer.listen({
    address: "127.0.0.1",
    port: 0,
    lookup: () => null,
    upstreams: [`127.0.0.1:${dead}`],
    timeoutMs: 200,
  });
  try {
    assertEquals((await udpQuery(dns.port, "example.test", QTYPE.A)).rcode, RCODE.SERVFAIL);
  } finally {
    await dns.close();
  }
});

Deno.test("dns server: resolv.conf nameservers are read", () => {
  assertEquals(
    resolvConfNameservers(
      "# c\nnameserver 10.255.255.53\nsearch x\nnameserver fe80::1%eth0\nnameserver bogus\n",
    ),
    ["10.255.255.53", "fe80::1%eth0"],
  );
});
