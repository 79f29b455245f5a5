import { assert, assertEquals, assertStringIncludes, assertThrows } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import { nsRun, spawnIn, withNetns } from "../tests/net.ts";
import {
  CMP,
  decodeRuleComment,
  encodeRuleComment,
  expr,
  HOOK,
  META,
  NFPROTO,
  Nftables,
  PAYLOAD,
  REG,
  VERDICT,
} from "./nftables.ts";
import { NetlinkError } from "./netlink.ts";
import { RouteNetlink } from "./rtnetlink.ts";

const V4 = NFPROTO.IPV4;
const be16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const ifname = (s: string) => {
  const b = new Uint8Array(16);
  b.set(new TextEncoder().encode(s));
  return b;
};

Deno.test("nftables: rule comments use libnftnl's user-data encoding", () => {
  assertEquals([...encodeRuleComment("ab")], [0, 3, 97, 98, 0]);
  assertEquals(decodeRuleComment(encodeRuleComment("ctr:container 1")), "ctr:container 1");
  assertEquals(decodeRuleComment(Uint8Array.of(5, 1, 9, 0, 2, 120, 0)), "x", "skips other TLVs");
  assertEquals(decodeRuleComment(Uint8Array.of(0, 9, 1)), undefined, "truncated");
  assertThrows(() => encodeRuleComment("x".repeat(300)), RangeError);
});

Deno.test({
  name: "nftables (root): tables, chains and commented rules, as nft lists them",
  ignore: !IS_ROOT,
  async fn() {
    await withNetns(1, async ([ns]) => {
      using nft = Nftables.open({ netns: ns });
      nft.batch()
        .addTable(V4, "ctr_t")
        .addChain(V4, "ctr_t", "post", { type: "nat", hook: HOOK.POSTROUTING, priority: 100 })
        .addChain(V4, "ctr_t", "fwd", { type: "filter", hook: HOOK.FORWARD, priority: 0 })
        .addChain(V4, "ctr_t", "isolate")
        .addRule(V4, "ctr_t", "post", [
          expr.payload(PAYLOAD.NETWORK, 12, 4, REG.R1),
          expr.bitwise(REG.R1, REG.R1, Uint8Array.of(255, 255, 255, 0), new Uint8Array(4)),
          expr.cmp(REG.R1, CMP.EQ, Uint8Array.of(10, 9, 8, 0)),
          expr.meta(META.OIFNAME, REG.R1),
          expr.cmp(REG.R1, CMP.NEQ, ifname("br9")),
          expr.masquerade(),
        ], { comment: "ctr:net9" })
        .addRule(V4, "ctr_t", "fwd", [
          expr.meta(META.IIFNAME, REG.R1),
          expr.cmp(REG.R1, CMP.EQ, ifname("br9")),
          expr.verdict(VERDICT.JUMP, "isolate"),
        ], { comment: "ctr:net9" })
        .addRule(V4, "ctr_t", "isolate", [
          expr.meta(META.OIFNAME, REG.R1),
          expr.cmp(REG.R1, CMP.EQ, ifname("br9")),
          expr.counter(),
          expr.verdict(VERDICT.DROP),
        ], { comment: "ctr:net9" })
        .commit();
      // Adding the table and chains again is harmless (create without EXCL).
      nft.batch().addTable(V4, "ctr_t").addChain(V4, "ctr_t", "isolate").commit();

      const listed = await nsRun(ns, ["nft", "list", "ruleset"]);
      const text = listed.stdout;
      assertStringIncludes(text, "type nat hook postrouting priority srcnat; policy accept;");
      assertStringIncludes(text, 'ip saddr 10.9.8.0/24 oifname != "br9" masquerade comment "ctr:net9"');
      assertStringIncludes(text, 'iifname "br9" jump isolate comment "ctr:net9"');
      assertStringIncludes(text, 'oifname "br9" counter packets 0 bytes 0 drop comment "ctr:net9"');

      assert(nft.hasTable(V4, "ctr_t"));
      const chains = nft.listChains(V4, "ctr_t");
      assertEquals(chains.map((c) => c.name).sort(), ["fwd", "isolate", "post"]);
      assertEquals(chains.find((c) => c.name === "post")?.priority, 100);
      assertEquals(chains.find((c) => c.name === "fwd")?.hook, HOOK.FORWARD);
      const rules = nft.listRules(V4, "ctr_t");
      assertEquals(rules.length, 3);
      assert(rules.every((r) => r.comment === "ctr:net9" && r.handle > 0n));

      // Delete by handle, one chain at a time.
      const post = nft.listRules(V4, "ctr_t", "post");
      assertEquals(post.length, 1);
      nft.batch().deleteRule(V4, "ctr_t", "post", post[0].handle).commit();
      assertEquals(nft.listRules(V4, "ctr_t", "post"), []);

      nft.batch().deleteTable(V4, "ctr_t").commit();
      assertEquals(nft.listTables(), []);
      assertEquals(nft.listRules(V4, "ctr_t"), [], "a missing table lists no rules");
      assertEquals((await nsRun(ns, ["nft", "list", "ruleset"])).stdout.trim(), "");
    });
  },
});

Deno.test({
  name: "nftables (root): a failing batch changes nothing and names the failing step",
  ignore: !IS_ROOT,
  async fn() {
    await withNetns(1, ([ns]) => {
      using nft = Nftables.open({ netns: ns });
      const e = assertThrows(() =>
        nft.batch()
          .addTable(V4, "ctr_t")
          .addChain(V4, "ctr_t", "a")
          .addRule(V4, "ctr_t", "missing", [expr.counter()], { comment: "ctr:x" })
          .commit(), NetlinkError);
      assertEquals(e.code, "ENOENT");
      assertStringIncludes(e.message, 'add nft rule "ctr:x" to "ctr_t/missing": ENOENT');
      assertEquals(nft.listTables(), [], "the table of the failed batch was not created");
      // The socket is still usable.
      nft.batch().addTable(V4, "ctr_t").commit();
      assert(nft.hasTable(V4, "ctr_t"));
      const gone = assertThrows(
        () => nft.batch().deleteRule(V4, "ctr_t", "a", 424242n).commit(),
        NetlinkError,
      );
      assertEquals(gone.code, "ENOENT");
    });
  },
});

Deno.test({
  name: "nftables (root): DNAT of a local port reaches a server in another namespace, also from 127.0.0.1",
  ignore: !IS_ROOT,
  async fn() {
    const www = await Deno.makeTempDir();
    await Deno.writeTextFile(`${www}/index.html`, "served across the bridge\n");
    try {
      await withNetns(2, async ([host, ctr]) => {
        using rt = RouteNetlink.open({ netns: host });
        using rc = RouteNetlink.open({ netns: ctr });
        rt.setLink("lo", { up: true });
        rt.createBridge("br0");
        rt.addAddress("br0", "10.77.3.1/24");
        rt.setLink("br0", { up: true });
        rt.createVeth("veth0", "eth0", { peerNetnsFd: ctr });
        rt.setLink("veth0", { master: "br0", up: true });
        rc.setLink("lo", { up: true });
        rc.setLink("eth0", { up: true });
        rc.addAddress("eth0", "10.77.3.2/24");
        rc.addRoute({ dst: "default", gateway: "10.77.3.1" });
        const sysctl = await nsRun(host, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/br0/route_localnet"]);
        assertEquals(sysctl.code, 0);

        using nft = Nftables.open({ netns: host });
        const toPorts = [
          expr.fibDaddrType(REG.R1),
          expr.cmp(REG.R1, CMP.EQ, Uint8Array.of(2, 0, 0, 0)), // RTN_LOCAL, host order
          expr.verdict(VERDICT.JUMP, "ports"),
        ];
        nft.batch()
          .addTable(V4, "ctr_t")
          .addChain(V4, "ctr_t", "pre", { type: "nat", hook: HOOK.PREROUTING, priority: -100 })
          .addChain(V4, "ctr_t", "out", { type: "nat", hook: HOOK.OUTPUT, priority: -100 })
          .addChain(V4, "ctr_t", "post", { type: "nat", hook: HOOK.POSTROUTING, priority: 100 })
          .addChain(V4, "ctr_t", "ports")
          .addRule(V4, "ctr_t", "pre", toPorts)
          .addRule(V4, "ctr_t", "out", toPorts)
          .addRule(V4, "ctr_t", "ports", [
            expr.meta(META.L4PROTO, REG.R1),
            expr.cmp(REG.R1, CMP.EQ, Uint8Array.of(6)),
            expr.payload(PAYLOAD.TRANSPORT, 2, 2, REG.R1),
            expr.cmp(REG.R1, CMP.EQ, be16(8080)),
            expr.immediate(REG.R1, Uint8Array.of(10, 77, 3, 2)),
            expr.immediate(REG.R2, be16(80)),
            expr.nat("dnat", V4, REG.R1, REG.R2),
          ], { comment: "ctr:c1" })
          .addRule(V4, "ctr_t", "post", [
            expr.payload(PAYLOAD.NETWORK, 12, 4, REG.R1),
            expr.bitwise(REG.R1, REG.R1, Uint8Array.of(255, 0, 0, 0), new Uint8Array(4)),
            expr.cmp(REG.R1, CMP.EQ, Uint8Array.of(127, 0, 0, 0)),
            expr.meta(META.OIFNAME, REG.R1),
            expr.cmp(REG.R1, CMP.EQ, ifname("br0")),
            expr.masquerade(),
          ], { comment: "ctr:net" })
          .commit();

        const httpd = spawnIn(ctr, ["busybox", "httpd", "-f", "-p", "80", "-h", www]);
        try {
          const fetch = async (url: string) => {
            for (let i = 0; i < 50; i++) {
              const r = await nsRun(host, ["busybox", "wget", "-q", "-O-", url]);
              if (r.code === 0) return r.stdout;
              await new Promise((res) => setTimeout(res, 50));
            }
            return "";
          };
          assertEquals(await fetch("http://10.77.3.2/"), "served across the bridge\n");
          assertEquals(await fetch("http://10.77.3.1:8080/"), "served across the bridge\n");
          assertEquals(await fetch("http://127.0.0.1:8080/"), "served across the bridge\n");
          // Without the DNAT rule the port is closed again.
          const [rule] = nft.listRules(V4, "ctr_t", "ports").filter((r) => r.comment === "ctr:c1");
          nft.batch().deleteRule(V4, "ctr_t", "ports", rule.handle).commit();
          const closed = await nsRun(host, ["busybox", "wget", "-q", "-O-", "http://127.0.0.1:8080/"]);
          assert(closed.code !== 0);
        } finally {
          httpd.kill();
          await httpd.status;
        }
      });
    } finally {
      await Deno.remove(www, { recursive: true });
    }
  },
});
