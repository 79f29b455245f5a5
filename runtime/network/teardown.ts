/**
 * Removes whatever networking a state root still holds on the host — veths of endpoints,
 * bridges of its networks, its nftables table — for when its supervisor is gone and cannot
 * clean up itself (tests tearing a root down, `ctr system`-style cleanup). The records stay;
 * only live host state goes.
 *
 * @module
 */
import { openDatabase } from "../../image/db.ts";
import { RouteNetlink } from "../../ffi/rtnetlink.ts";
import { hostVethName, removeBridge } from "./bridge.ts";
import { Firewall, firewallTableName } from "./firewall.ts";
import { NFPROTO, Nftables } from "../../ffi/nftables.ts";
import { networkSchema, NetworkStore } from "./store.ts";

/**
 * Takes down `root`'s interfaces and rules (no process of that root may be running).
 *
 * @example
 * ```ts
 * teardownRootNetwork("/tmp/ctr-test-x");
 * ```
 */
export function teardownRootNetwork(root: string): void {
  try {
    Deno.statSync(`${root}/ctr.db`);
  } catch {
    return;
  }
  const db = openDatabase(`${root}/ctr.db`, [networkSchema]);
  try {
    const store = new NetworkStore(db);
    using rt = RouteNetlink.open();
    for (const ep of store.allEndpoints()) {
      rt.deleteLinkIfExists(ep.hostVeth ?? hostVethName(ep.containerId, ep.networkId));
      store.releaseEndpoint(ep.networkId, ep.containerId);
    }
    for (const p of store.allPorts()) store.removePorts(p.containerId);
    for (const n of store.listNetworks()) if (n.bridge) removeBridge(rt, n.bridge);
    const table = firewallTableName(root);
    const fw = Firewall.open(table);
    if (fw?.exists()) {
      fw.close();
      using nft = Nftables.open();
      nft.batch().deleteTable(NFPROTO.IPV4, table).commit();
    } else fw?.close();
  } finally {
    db.close();
  }
}
