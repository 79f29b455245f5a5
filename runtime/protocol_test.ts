import { assertEquals } from "../tests/assert.ts";
import { ConnReader, encodeFrame, Frame, framePayload, reachableSocketPath, writeAll } from "./protocol.ts";

Deno.test("protocol: a JSON line, then frames, across a real unix socket", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const server = (async () => {
      const conn = await listener.accept();
      const r = new ConnReader(conn);
      const req = await r.readJson<{ op: string }>();
      await writeAll(conn, new TextEncoder().encode(JSON.stringify({ ok: true, got: req!.op }) + "\n"));
      await writeAll(conn, encodeFrame(Frame.STDOUT, new TextEncoder().encode("out")));
      await writeAll(conn, encodeFrame(Frame.EXIT, { code: 3 }));
      const f = await r.readFrame();
      conn.close();
      return f;
    })();
    const conn = await Deno.connect({ transport: "unix", path });
    await writeAll(conn, new TextEncoder().encode('{"op":"ping"}\n'));
    await writeAll(conn, encodeFrame(Frame.STDIN, new Uint8Array([1, 2, 3])));
    const r = new ConnReader(conn);
    assertEquals(await r.readJson(), { ok: true, got: "ping" });
    const frames = [];
    for await (const f of r.frames()) frames.push(f);
    conn.close();
    assertEquals(frames.map((f) => f.type), [Frame.STDOUT, Frame.EXIT]);
    assertEquals(new TextDecoder().decode(frames[0].payload), "out");
    assertEquals(framePayload(frames[1].payload), { code: 3 });
    const got = await server;
    assertEquals([got!.type, [...got!.payload]], [Frame.STDIN, [1, 2, 3]]);
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("protocol: a socket path too long for sun_path is reached through a directory fd", () => {
  const short = "/tmp/x/ctr.sock";
  assertEquals(reachableSocketPath(short), short);
  const dir = Deno.makeTempDirSync({ prefix: "x".repeat(120) });
  try {
    const p = reachableSocketPath(`${dir}/ctr.sock`);
    assertEquals(/^\/proc\/self\/fd\/\d+\/ctr\.sock$/.test(p), true);
  } finally {
    Deno.removeSync(dir);
  }
});
