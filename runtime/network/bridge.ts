/**
 * The host side of bridge networks and the container side of an endpoint, over rtnetlink:
 * bring a network's bridge up with its gateway address, create a container's veth pair with
 * the peer directly inside the container's network namespace, configure it there (address,
 * MAC, default route), and take all of it down again.
 *
 * Like Podman (and unlike Docker's permanent docker0), a bridge exists only while a
 * container is attached to its network, so removing the last container leaves the host's
 * links, addresses and rules exactly as they were.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { NetlinkError } from "../../ffi/netlink.ts";
import { RouteNetlink } from "../../ffi/rtnetlink.ts";
import { cidrsOverlap, parseCidr } from "../../ffi/inet.ts";
import { prefixLengthOf } from "./ipam.ts";
import { macForAddress } from "./ipam.ts";

/** What a bridge needs. */
export interface BridgeSpec {
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
}

/** What a container's interface on a network needs. */
export interface EndpointSpec {
  /** Host end of the veth pair. */
  hostVeth: string;
  /** Name inside the container (`eth0`). */
  ifname: string;
  ip: string;
  mac: string;
  /** Add the default route through this network's gateway. */
  defaultRoute: boolean;
}

const EEXIST = 17;

/**
 * Writes a sysctl under /proc/sys (host namespace: the main thread is there when this runs).
 *
 * @example
 * ```ts
 * writeSysctl("net/ipv4/ip_forward", "1");
 * ```
 */
export function writeSysctl(key: string, value: string): void {
  const path = `/proc/sys/${key}`;
  try {
    if (Deno.readTextFileSync(path).trim() === value) return;
  } catch { /* try the write, which reports the problem */ }
  Deno.writeTextFileSync(path, `${value}\n`);
}

/**
 * The host veth name of a container on a network: `ve` + 12 hex digits of a hash of both
 * ids, so recovery finds it even if ctr died before recording it.
 *
 * @example
 * ```ts
 * hostVethName("3f5…", "9ab…"); // "ve1c0ffee12345"
 * ```
 */
export function hostVethName(containerId: string, networkId: string): string {
  return `ve${createHash("sha256").update(`${containerId}/${networkId}`).digest("hex").slice(0, 12)}`;
}

/**
 * Subnets in use on the host (addresses and non-default routes), which a picked subnet must
 * avoid.
 *
 * @example
 * ```ts
 * hostSubnets(); // ["192.0.2.2/24", "127.0.0.1/8", …]
 * ```
 */
export function hostSubnets(rt?: RouteNetlink): string[] {
  const own = rt ?? RouteNetlink.open();
  try {
    const out: string[] = [];
    for (const a of own.listAddresses()) if (a.family === "inet") out.push(`${a.address}/${a.prefixLength}`);
    for (const r of own.listRoutes()) if (r.family === "inet" && r.dst !== "default") out.push(r.dst);
    return out;
  } finally {
    if (!rt) own.close();
  }
}

/**
 * Creates (or completes) a network's bridge: the link, its gateway address, up, and the
 * sysctls. Safe to call again; a bridge another process just created is fine.
 *
 * @example
 * ```ts
 * ensureBridge(rt, { bridge: "ctr0", subnet: "10.88.0.0/16", gateway: "10.88.0.1", internal: false });
 * ```
 */
export function ensureBridge(
  rt: RouteNetlink,
  spec: BridgeSpec,
  options: { localnet?: boolean; ipForward?: boolean } = {},
): void {
  let link = rt.getLink(spec.bridge);
  if (!link) {
    // Another interface in the subnet (another root's bridge, a VPN, the LAN) would make
    // the routes ambiguous: refuse rather than break the host's networking.
    const mine = parseCidr(spec.subnet);
    const names = new Map(rt.listLinks().map((l) => [l.index, l.name]));
    for (const a of rt.listAddresses()) {
      if (a.family !== "inet" || !cidrsOverlap(parseCidr(`${a.address}/${a.prefixLength}`), mine)) continue;
      throw new Error(
        `Cannot bring up bridge ${spec.bridge}: subnet ${spec.subnet} overlaps ${a.address}/${a.prefixLength} on ${
          names.get(a.index) ?? a.index
        }`,
      );
    }
    try {
      // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports, which changes
      // as containers come and go and confuses neighbours' ARP caches.
      rt.createBridge(spec.bridge, { mac: macForAddress(spec.gateway) });
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === EEXIST)) throw e;
    }
    link = rt.getLink(spec.bridge);
  }
  if (link && link.kind !== "bridge") {
    throw new Error(`Cannot use "${spec.bridge}" as a bridge: it is a ${link.kind ?? "physical"} link`);
  }
  const cidr = `${spec.gateway}/${prefixLengthOf(spec.subnet)}`;
  if (!rt.listAddresses(spec.bridge).some((a) => a.address === spec.gateway)) {
    try {
      rt.addAddress(spec.bridge, cidr);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === EEXIST)) throw e;
    }
  }
  if (!link?.up) rt.setLink(spec.bridge, { up: true });
  if (!spec.internal && options.ipForward !== false) writeSysctl("net/ipv4/ip_forward", "1");
  // Loopback DNAT to containers needs the bridge to route 127.0.0.0/8 (firewall.ts).
  if (options.localnet) writeSysctl(`net/ipv4/conf/${spec.bridge}/route_localnet`, "1");
}

/**
 * Deletes a bridge (with its address); returns whether it existed.
 *
 * @example
 * ```ts
 * removeBridge(rt, "ctr0");
 * ```
 */
export function removeBridge(rt: RouteNetlink, bridge: string): boolean {
  return rt.deleteLinkIfExists(bridge);
}

/**
 * Creates a container's interface on a bridge: the veth pair with its peer created inside
 * the container's namespace under its final name, the host end enslaved and up, then the
 * address, MAC and (for the first network) default route set from inside.
 *
 * @example
 * ```ts
 * connectEndpoint(rt, inside, "ctr0", nsFd, { hostVeth, ifname: "eth0", ip: "10.88.0.2", mac, defaultRoute: true }, spec);
 * ```
 */
export function connectEndpoint(
  host: RouteNetlink,
  inside: RouteNetlink,
  netnsFd: number,
  ep: EndpointSpec,
  net: BridgeSpec,
): void {
  // A veth left by a crash under the same deterministic name goes first.
  host.deleteLinkIfExists(ep.hostVeth);
  const mtu = host.getLink(net.bridge)?.mtu;
  host.createVeth(ep.hostVeth, ep.ifname, { peerNetnsFd: netnsFd, peerMac: ep.mac, mtu });
  try {
    host.setLink(ep.hostVeth, { master: net.bridge, up: true });
    inside.addAddress(ep.ifname, `${ep.ip}/${prefixLengthOf(net.subnet)}`);
    inside.setLink(ep.ifname, { up: true });
    if (ep.defaultRoute && !net.internal) inside.addRoute({ dst: "default", gateway: net.gateway });
  } catch (e) {
    host.deleteLinkIfExists(ep.hostVeth);
    throw e;
  }
}
