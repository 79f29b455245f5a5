import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import { ipJson, nsRun, withNetns } from "../tests/net.ts";
import { formatMac, parseMac, RouteNetlink } from "./rtnetlink.ts";
import { NetlinkError } from "./netlink.ts";

type IpLink = {
  ifname: string;
  flags: string[];
  mtu: number;
  address: string;
  master?: string;
  link_type: string;
};
type IpAddr = { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] };
type IpRoute = { dst: string; gateway?: string; dev: string };

Deno.test("rtnetlink: MAC addresses parse and format", () => {
  assertEquals(formatMac(parseMac("02:42:0A:58:00:02")), "02:42:0a:58:00:02");
  assertThrows(() => parseMac("02:42:0a:58:00"), TypeError, "Invalid MAC address");
});

Deno.test({
  name: "rtnetlink (root): bridge, veth into another namespace, addresses, routes, all seen by ip",
  ignore: !IS_ROOT,
  async fn() {
    await withNetns(2, async ([host, ctr]) => {
      using rt = RouteNetlink.open({ netns: host });
      using rc = RouteNetlink.open({ netns: ctr });
      rt.setLink("lo", { up: true });
      rt.createBridge("br0", { mtu: 1450 });
      rt.addAddress("br0", "10.77.3.1/24");
      rt.addAddress("br0", "fd77:3::1/64");
      rt.setLink("br0", { up: true });
      rt.createVeth("veth0", "eth0", { peerNetnsFd: ctr, mtu: 1450, peerMac: "02:42:0a:4d:03:02" });
      rt.setLink("veth0", { master: "br0", up: true });
      rc.setLink("lo", { up: true });
      rc.setLink("eth0", { up: true });
      rc.addAddress("eth0", "10.77.3.2/24");
      rc.addRoute({ dst: "default", gateway: "10.77.3.1" });
      rc.addRoute({ dst: "10.99.0.0/16", dev: "eth0" });

      const hostLinks = await ipJson(host, ["link"]) as unknown as IpLink[];
      const br = hostLinks.find((l) => l.ifname === "br0")!;
      assert(br.flags.includes("UP"));
      assertEquals(br.mtu, 1450);
      assertEquals(hostLinks.find((l) => l.ifname === "veth0")?.master, "br0");
      const ctrLinks = await ipJson(ctr, ["link"]) as unknown as IpLink[];
      assertEquals(ctrLinks.map((l) => l.ifname).sort(), ["eth0", "lo"]);
      assertEquals(ctrLinks.find((l) => l.ifname === "eth0")?.address, "02:42:0a:4d:03:02");
      assert(ctrLinks.find((l) => l.ifname === "lo")!.flags.includes("UP"));

      const addrs = await ipJson(host, ["addr", "show", "br0"]) as unknown as IpAddr[];
      const locals = addrs[0].addr_info.map((a) => `${a.local}/${a.prefixlen}`);
      assert(locals.includes("10.77.3.1/24") && locals.includes("fd77:3::1/64"), locals.join());
      const routes = await ipJson(ctr, ["route"]) as unknown as IpRoute[];
      assertEquals(routes.find((r) => r.dst === "default")?.gateway, "10.77.3.1");
      assertEquals(routes.find((r) => r.dst === "10.99.0.0/16")?.dev, "eth0");

      // Our own listings agree with ip.
      const links = rt.listLinks();
      const veth = links.find((l) => l.name === "veth0")!;
      assertEquals(veth.kind, "veth");
      assertEquals(veth.master, links.find((l) => l.name === "br0")!.index);
      assertEquals(links.find((l) => l.name === "br0")!.kind, "bridge");
      assert(rc.listAddresses("eth0").some((a) => a.address === "10.77.3.2" && a.prefixLength === 24));
      assert(rc.listRoutes().some((r) => r.dst === "default" && r.gateway === "10.77.3.1"));
      assertEquals(rt.getLink("nope0"), undefined);

      // Traffic flows across the bridge.
      const ping = await nsRun(ctr, ["busybox", "ping", "-c", "1", "-W", "2", "10.77.3.1"]);
      assertEquals(ping.code, 0, ping.stdout + ping.stderr);

      // Changes and removals.
      rt.setLink("veth0", { master: null });
      assertEquals(rt.getLink("veth0")?.master, undefined);
      rt.setLink("veth0", { name: "veth1", mtu: 1400, mac: "02:00:00:00:00:99" });
      const renamed = rt.getLink("veth1")!;
      assertEquals([renamed.mtu, renamed.mac], [1400, "02:00:00:00:00:99"]);
      rc.deleteRoute({ dst: "10.99.0.0/16", dev: "eth0" });
      rc.deleteRoute({ dst: "default", gateway: "10.77.3.1" });
      assertEquals(rc.listRoutes().filter((r) => r.family === "inet").map((r) => r.dst), ["10.77.3.0/24"]);
      rc.deleteAddress("eth0", "10.77.3.2/24");
      assertEquals(rc.listAddresses("eth0").filter((a) => a.family === "inet"), []);
      rt.deleteLink("veth1");
      assertEquals(rc.getLink("eth0"), undefined, "deleting one end deletes the peer in the other namespace");
      assertEquals(rt.deleteLinkIfExists("veth1"), false);
      rt.setLink("br0", { up: false });
      assertEquals(rt.getLink("br0")?.up, false);
      rt.deleteLink("br0");
      assertEquals(rt.listLinks().map((l) => l.name), ["lo"]);
    });
  },
});

Deno.test({
  name: "rtnetlink (root): a veth end can be moved and renamed into a namespace after creation",
  ignore: !IS_ROOT,
  async fn() {
    await withNetns(2, async ([host, ctr]) => {
      using rt = RouteNetlink.open({ netns: host });
      rt.createVeth("vh0", "vc0");
      rt.setLink("vc0", { netnsFd: ctr, name: "eth0" });
      assertEquals(rt.getLink("vc0"), undefined);
      const links = await ipJson(ctr, ["link"]) as unknown as IpLink[];
      assert(links.some((l) => l.ifname === "eth0"));
    });
  },
});

Deno.test({
  name: "rtnetlink (root): failures name the operation and the link",
  ignore: !IS_ROOT,
  async fn() {
    await withNetns(1, ([ns]) => {
      using rt = RouteNetlink.open({ netns: ns });
      rt.createBridge("br0");
      const dup = assertThrows(() => rt.createBridge("br0"), NetlinkError);
      assertEquals(dup.message.split(" (")[0], 'create bridge "br0": EEXIST');
      const missing = assertThrows(() => rt.addAddress("ghost0", "10.1.1.1/24"), NetlinkError);
      assertEquals(missing.message, 'add address 10.1.1.1/24 to "ghost0": ENODEV');
      rt.addAddress("br0", "10.1.1.1/24");
      const twice = assertThrows(() => rt.addAddress("br0", "10.1.1.1/24"), NetlinkError);
      assertEquals(twice.code, "EEXIST");
      assertThrows(() => rt.addRoute({ dst: "default", gateway: "10.2.2.2" }), NetlinkError, "add route");
      assertThrows(() => rt.addAddress("br0", "10.1.1.1"), TypeError, "no prefix length");
      assertThrows(() => rt.createBridge("a-name-that-is-too-long"), NetlinkError, "create bridge");
    });
  },
});
