import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { openDatabase } from "../../image/db.ts";
import { ConflictError, NotFoundError } from "../../errors.ts";
import { networkSchema, NetworkStore } from "./store.ts";

async function withStore(fn: (store: NetworkStore, path: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "ctr-netstore-" });
  const db = openDatabase(`${dir}/ctr.db`, [networkSchema]);
  try {
    await fn(new NetworkStore(db), `${dir}/ctr.db`);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("network store: create, find by name/id/prefix, list, remove", () =>
  withStore((s) => {
    const a = s.createNetwork({ name: "front", subnet: "10.77.1.0/24", labels: { team: "web" } });
    assertEquals([a.subnet, a.gateway, a.driver, a.internal], ["10.77.1.0/24", "10.77.1.1", "bridge", false]);
    assertEquals(a.bridge, `ctr-${a.id.slice(0, 11)}`);
    assertEquals(a.labels, { team: "web" });
    assertEquals(s.getNetwork("front")?.id, a.id);
    assertEquals(s.getNetwork(a.id.slice(0, 6))?.name, "front");
    const b = s.createNetwork({ name: "back", internal: true, hostSubnets: ["10.89.0.0/24"] });
    assertEquals(b.subnet, "10.89.1.0/24", "the pool skips subnets in use on the host");
    assertEquals(b.internal, true);
    const c = s.createNetwork({ name: "third" });
    assertEquals(c.subnet, "10.89.0.0/24", "and subnets of other networks");
    const h = s.createNetwork({ name: "host", driver: "host", builtin: true });
    assertEquals([h.subnet, h.bridge, h.builtin], [undefined, undefined, true]);
    assertEquals(s.listNetworks().map((n) => n.name), ["back", "front", "host", "third"]);
    s.removeNetwork("third");
    assertEquals(s.getNetwork("third"), undefined);
    assertThrows(() => s.requireNetwork("third"), NotFoundError, "network third not found");
  }));

Deno.test("network store: bad or clashing networks are refused with Docker's words", () =>
  withStore((s) => {
    s.createNetwork({ name: "a", subnet: "10.77.0.0/16" });
    assertThrows(() => s.createNetwork({ name: "a" }), ConflictError, "network with name a already exists");
    assertThrows(
      () => s.createNetwork({ name: "b", subnet: "10.77.5.0/24" }),
      ConflictError,
      "Pool overlaps",
    );
    assertThrows(() => s.createNetwork({ name: "-x" }), TypeError, "Invalid network name");
    assertThrows(() => s.createNetwork({ name: "c", gateway: "10.1.1.1" }), TypeError, "needs a subnet");
    assertThrows(
      () => s.createNetwork({ name: "d", subnet: "10.78.0.0/24", bridge: "x".repeat(16) }),
      TypeError,
    );
    assertThrows(
      () => s.createNetwork({ name: "e", subnet: "10.78.0.1/24" }),
      TypeError,
      "it should be 10.78.0.0/24",
    );
    assertEquals(s.listNetworks().length, 1, "nothing half-created");
  }));

Deno.test("network store: endpoints get addresses, MACs, interface names; release frees the address", () =>
  withStore((s) => {
    const n = s.createNetwork({ name: "n", subnet: "10.77.2.0/24" });
    const m = s.createNetwork({ name: "m", subnet: "10.77.3.0/24" });
    const e1 = s.allocateEndpoint(n.id, "c1", "web", { aliases: ["www"] });
    assertEquals([e1.ip, e1.mac, e1.ifname, e1.aliases], ["10.77.2.2", "02:42:0a:4d:02:02", "eth0", ["www"]]);
    const e2 = s.allocateEndpoint(n.id, "c2", "db", { ip: "10.77.2.50" });
    assertEquals(e2.ip, "10.77.2.50");
    const e3 = s.allocateEndpoint(m.id, "c1", "web");
    assertEquals(e3.ifname, "eth1", "a second network is the second interface");
    assertThrows(() => s.allocateEndpoint(n.id, "c1", "web"), ConflictError, "already attached");
    assertThrows(
      () => s.allocateEndpoint(n.id, "c3", "x", { ip: "10.77.2.50" }),
      RangeError,
      "already in use",
    );
    s.setHostVeth(n.id, "c1", "veth1234");
    assertEquals(s.endpoint(n.id, "c1")?.hostVeth, "veth1234");
    assertEquals(s.endpointsOf("c1").map((e) => e.ifname), ["eth0", "eth1"]);
    assertEquals(s.endpointsOn(n.id).map((e) => e.containerName), ["web", "db"]);
    assertThrows(() => s.removeNetwork("n"), ConflictError, "has active endpoints (web, db)");
    s.releaseEndpoint(n.id, "c1");
    assertEquals(s.allocateEndpoint(n.id, "c4", "new").ip, "10.77.2.2");
    const host = s.createNetwork({ name: "hostnet", driver: "host" });
    assertThrows(() => s.allocateEndpoint(host.id, "c5", "h"), TypeError, "does not assign addresses");
  }));

Deno.test("network store: published ports and orphan detection", () =>
  withStore((s) => {
    const n = s.createNetwork({ name: "n", subnet: "10.77.4.0/24" });
    s.allocateEndpoint(n.id, "alive", "a");
    s.allocateEndpoint(n.id, "dead", "d");
    s.setPorts("alive", [{ proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80 }]);
    s.setPorts("gone", [{ proto: "udp", hostIp: "127.0.0.1", hostPort: 5353, containerPort: 53 }]);
    assertEquals(s.portsOf("alive"), [{
      containerId: "alive",
      proto: "tcp",
      hostIp: "0.0.0.0",
      hostPort: 8080,
      containerPort: 80,
    }]);
    assertEquals(s.orphanedContainers((id) => id === "alive").sort(), ["dead", "gone"]);
    s.removePorts("gone");
    assertEquals(s.allPorts().length, 1);
  }));

Deno.test("network store: 50 allocations from 10 processes at once get 50 distinct addresses", () =>
  withStore(async (s, path) => {
    const n = s.createNetwork({ name: "busy", subnet: "10.77.0.0/16" });
    const store = new URL("./store.ts", import.meta.url).href;
    const dbm = new URL("../../image/db.ts", import.meta.url).href;
    const script = `
      import { NetworkStore, networkSchema } from "${store}";
      import { openDatabase } from "${dbm}";
      const [path, net, worker] = Deno.args;
      const s = new NetworkStore(openDatabase(path, [networkSchema]));
      for (let i = 0; i < 5; i++) s.allocateEndpoint(net, worker + "-" + i, "c" + worker + i);
    `;
    const procs = Array.from({ length: 10 }, (_, w) =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-check", script, path, n.id, String(w)],
        stdout: "piped",
        stderr: "piped",
      }).output());
    const results = await Promise.all(procs);
    for (const r of results) assert(r.success, new TextDecoder().decode(r.stderr));
    const ips = s.endpointsOn(n.id).map((e) => e.ip);
    assertEquals(ips.length, 50);
    assertEquals(new Set(ips).size, 50);
  }));

Deno.test("network store: attachments keep order, aliases and requested addresses; block network removal", () =>
  withStore((s) => {
    const a = s.createNetwork({ name: "a", subnet: "10.77.5.0/24" });
    const b = s.createNetwork({ name: "b", subnet: "10.77.6.0/24" });
    s.attach("c1", b.id, "web", { aliases: ["www"], ip: "10.77.6.9" });
    s.attach("c1", a.id, "web");
    assertEquals(s.attachmentsOf("c1").map((x) => [x.networkId, x.position, x.aliases, x.requestedIp]), [
      [b.id, 0, ["www"], "10.77.6.9"],
      [a.id, 1, [], undefined],
    ]);
    assertThrows(
      () => s.attach("c1", a.id, "web"),
      ConflictError,
      "endpoint with name web already exists in network a",
    );
    assertThrows(() => s.removeNetwork("a"), ConflictError, "has active endpoints (web)");
    s.allocateEndpoint(a.id, "c1", "web");
    s.renameContainer("c1", "site");
    assertEquals(s.attachmentsOf("c1").map((x) => x.containerName), ["site", "site"]);
    assertEquals(s.endpointsOf("c1").map((x) => x.containerName), ["site"]);
    s.releaseEndpoint(a.id, "c1");
    assertEquals(s.orphanedContainers(() => false), ["c1"]);
    s.detach("c1", a.id);
    s.removeNetwork("a");
    s.detachAll("c1");
    assertEquals(s.attachmentsOf("c1"), []);
  }));
