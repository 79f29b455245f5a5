import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { IS_ROOT } from "../../tests/helpers.ts";
import { openDatabase } from "../../image/db.ts";
import { ConflictError, NotFoundError } from "../../errors.ts";
import {
  createNetwork,
  filterNetworks,
  inspectNetwork,
  pruneNetworks,
  removeNetwork,
  summarizeNetwork,
} from "./manage.ts";
import { NetworkService } from "./service.ts";
import { networkSchema } from "./store.ts";

async function withSvc(fn: (svc: NetworkService) => void | Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "ctr-netmanage-" });
  const db = openDatabase(`${root}/ctr.db`, [networkSchema]);
  const svc = new NetworkService({ root, db, config: { nftables: false } });
  try {
    await fn(svc);
  } finally {
    await svc.close();
    db.close();
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test({
  name: "network manage (root): create, filter, inspect, remove and prune as Docker does",
  ignore: !IS_ROOT, // reads the host's addresses over netlink to choose a free subnet
  fn: () =>
    withSvc((svc) => {
      const a = createNetwork(svc, { name: "alpha", subnet: "10.77.10.0/24", labels: { team: "web" } });
      const b = createNetwork(svc, {
        name: "beta",
        internal: true,
        options: { "com.docker.network.bridge.name": "ctrtbeta0" },
      });
      assert(b.subnet!.startsWith("10.89."), b.subnet);
      assertEquals(b.bridge, "ctrtbeta0");
      assertThrows(
        () => createNetwork(svc, { name: "x", driver: "host" }),
        ConflictError,
        'only one instance of "host"',
      );
      assertThrows(
        () => createNetwork(svc, { name: "x", driver: "overlay" }),
        NotFoundError,
        'plugin "overlay" not found',
      );
      assertThrows(
        () => createNetwork(svc, { name: "bridge" }),
        ConflictError,
        "network with name bridge already exists",
      );
      assertThrows(
        () => createNetwork(svc, { name: "lo2", options: { "com.docker.network.bridge.name": "lo" } }),
        ConflictError,
      );

      const all = svc.store.listNetworks();
      assertEquals(all.map((n) => n.name), ["alpha", "beta", "bridge", "host", "none"]);
      const names = (f: string[]) => filterNetworks(svc, all, f).map((n) => n.name);
      assertEquals(names(["type=custom"]), ["alpha", "beta"]);
      assertEquals(names(["type=builtin", "driver=bridge"]), ["bridge"]);
      assertEquals(names(["label=team=web"]), ["alpha"]);
      assertEquals(names(["name=al", "name=et"]), ["alpha", "beta"]);
      assertEquals(names([`id=${a.id.slice(0, 5)}`]), ["alpha"]);
      assertEquals(names(["dangling=true"]), ["alpha", "beta"]);
      assertThrows(() => names(["color=red"]), TypeError, "Invalid filter 'color'");

      assertEquals(summarizeNetwork(a), {
        ID: a.id.slice(0, 12),
        Name: "alpha",
        Driver: "bridge",
        Scope: "local",
        IPv6: "false",
        Internal: "false",
        Labels: "team=web",
        CreatedAt: a.created,
      });
      const doc = inspectNetwork(svc, b);
      assertEquals(doc.IPAM, {
        Driver: "default",
        Options: null,
        Config: [{ Subnet: b.subnet, Gateway: b.gateway }],
      });
      assertEquals(doc.Internal, true);
      assertEquals((doc.Options as Record<string, string>)["com.docker.network.bridge.name"], "ctrtbeta0");

      assertThrows(
        () => removeNetwork(svc, "bridge"),
        ConflictError,
        "bridge is a pre-defined network and cannot be removed",
      );
      assertThrows(() => removeNetwork(svc, "gamma"), NotFoundError, "network gamma not found");
      svc.store.attach("c".repeat(64), a.id, "web");
      assertEquals(pruneNetworks(svc), ["beta"]);
      assertThrows(() => removeNetwork(svc, "alpha"), ConflictError, "has active endpoints (web)");
      svc.store.detachAll("c".repeat(64));
      assertEquals(removeNetwork(svc, a.id.slice(0, 12)).name, "alpha");
      assertEquals(svc.store.listNetworks().map((n) => n.name), ["bridge", "host", "none"]);
    }),
});
