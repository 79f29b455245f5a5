import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import {
  MessageWriter,
  NETLINK,
  NetlinkError,
  NetlinkSocket,
  NLA_F_NESTED,
  NLM_F,
  NLMSG,
  parseAttributes,
  parseError,
  parseMessages,
} from "./netlink.ts";
import { ifinfomsg, RTM } from "./rtnetlink.ts";

Deno.test("netlink: a message encodes header, padding and nested attributes", () => {
  const m = new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK);
  m.bytes(ifinfomsg({ index: 7 }));
  m.string(3, "abc"); // 4 + 4 bytes (with NUL)
  m.nested(18, () => m.string(1, "bridge"), true); // 4 + (4 + 7 → 12)
  m.u32(4, 1500);
  const bytes = m.finish(42);
  const [msg] = parseMessages(bytes);
  assertEquals(bytes.length, 16 + 16 + 8 + 16 + 8);
  assertEquals(msg.type, RTM.NEWLINK);
  assertEquals(msg.flags, NLM_F.REQUEST | NLM_F.ACK);
  assertEquals(msg.seq, 42);
  const view = new DataView(bytes.buffer);
  assertEquals(view.getUint16(16 + 16 + 8 + 2, true), 18 | NLA_F_NESTED);
  const attrs = parseAttributes(msg.payload.subarray(16));
  assertEquals(attrs.string(3), "abc");
  assertEquals(attrs.nested(18)?.string(1), "bridge");
  assertEquals(attrs.u32(4), 1500);
  assertEquals(attrs.get(99), undefined);
});

Deno.test("netlink: big-endian and repeated attributes round-trip", () => {
  const m = new MessageWriter(1, 0);
  m.be16(1, 8080).be32(2, 0x01020304).be64(3, 5n).u8(4, 9).u16(5, 7).i32(6, -3).flag(7).u32(8, 1).u32(8, 2);
  const a = parseAttributes(parseMessages(m.finish(1))[0].payload);
  assertEquals([...a.get(1)!], [0x1f, 0x90]);
  assertEquals(a.be32(2), 0x01020304);
  assertEquals(a.be64(3), 5n);
  assertEquals(a.u8(4), 9);
  assertEquals(a.u16(5), 7);
  assertEquals(new DataView(a.get(6)!.slice().buffer).getInt32(0, true), -3);
  assert(a.has(7));
  assertEquals(a.all(8).length, 2);
  assertEquals(a.list.map((x) => x.type), [1, 2, 3, 4, 5, 6, 7, 8, 8]);
});

Deno.test("netlink: an error reply yields errno, the request's seq and the extended-ack text", () => {
  // nlmsgerr: error -17, then the capped original header (seq 9), then TLV MSG "exists".
  const body = new MessageWriter(0, 0);
  const head = new Uint8Array(20);
  const v = new DataView(head.buffer);
  v.setInt32(0, -17, true);
  v.setUint32(4, 16, true);
  v.setUint32(12, 9, true);
  body.bytes(head);
  body.string(1, "exists");
  const raw = body.finish(9);
  const hv = new DataView(raw.buffer);
  hv.setUint16(4, NLMSG.ERROR, true);
  hv.setUint16(6, NLM_F.CAPPED | NLM_F.ACK_TLVS, true);
  const err = parseError(parseMessages(raw)[0]);
  assertEquals(err, { errno: 17, detail: "exists", seq: 9 });
  const e = new NetlinkError("create bridge", 17, "ctr0", "exists");
  assertEquals(e.message, 'create bridge "ctr0": EEXIST (exists)');
  assertEquals(e.code, "EEXIST");
});

Deno.test("netlink: truncated input parses to nothing rather than garbage", () => {
  assertEquals(parseMessages(new Uint8Array(10)), []);
  assertEquals(parseAttributes(Uint8Array.of(200, 0, 1, 0)).list, []);
});

Deno.test({
  name: "netlink (root): a dump of links includes lo",
  ignore: !IS_ROOT,
  fn() {
    using nl = NetlinkSocket.open(NETLINK.ROUTE);
    const m = new MessageWriter(RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP).bytes(ifinfomsg({}));
    const msgs = nl.dump(m, { op: "list links" });
    assert(msgs.some((x) => parseAttributes(x.payload.subarray(16)).string(3) === "lo"));
  },
});

Deno.test({
  name: "netlink (root): a kernel error names the operation and the object",
  ignore: !IS_ROOT,
  fn() {
    using nl = NetlinkSocket.open(NETLINK.ROUTE);
    const m = new MessageWriter(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK).bytes(
      ifinfomsg({ index: 0x7ffffff0 }),
    );
    const e = assertThrows(() => nl.request(m, { op: "delete link", subject: "ghost" }), NetlinkError);
    assertEquals(e.code, "ENODEV");
    assert(e.message.startsWith('delete link "ghost": ENODEV'), e.message);
  },
});
