/**
 * Links, addresses and routes over rtnetlink (NETLINK_ROUTE), without the `ip` binary:
 * create bridges and veth pairs (the peer straight into another network namespace), set
 * master/up/down/MTU/MAC/name/namespace, add and delete IPv4/IPv6 addresses and routes, list
 * them, delete links.
 *
 * A {@linkcode RouteNetlink} acts in the network namespace it was opened in; open one with
 * `{ netns: "/proc/PID/ns/net" }` to configure a container from the host (see
 * `ffi/netlink.ts` on why that is safe in Deno).
 *
 * Message layouts: include/uapi/linux/rtnetlink.h (`ifinfomsg`, `ifaddrmsg`, `rtmsg`) and
 * include/uapi/linux/if_link.h (`IFLA_*`, `IFLA_INFO_*`, `VETH_INFO_PEER`).
 *
 * @module
 */
import {
  type Message,
  MessageWriter,
  NETLINK,
  NetlinkError,
  NetlinkSocket,
  NLM_F,
  parseAttributes,
} from "./netlink.ts";
import { broadcastOf, formatIP, parseCidr, parseIP } from "./inet.ts";

/** rtnetlink message types. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
} as const;

/** Link attributes (if_link.h). */
export const IFLA = {
  ADDRESS: 1,
  BROADCAST: 2,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  MASTER: 10,
  OPERSTATE: 16,
  LINKINFO: 18,
  NET_NS_PID: 19,
  GROUP: 27,
  NET_NS_FD: 28,
  EXT_MASK: 29,
  LINK_NETNSID: 37,
} as const;

/** IFLA_LINKINFO nested attributes. */
export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4 } as const;

const VETH_INFO_PEER = 1;

/** Address attributes (if_addr.h). */
export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, FLAGS: 8 } as const;

/** Route attributes. */
export const RTA = {
  DST: 1,
  SRC: 2,
  IIF: 3,
  OIF: 4,
  GATEWAY: 5,
  PRIORITY: 6,
  PREFSRC: 7,
  TABLE: 15,
} as const;

/** Interface flags. */
export const IFF = { UP: 0x1, BROADCAST: 0x2, LOOPBACK: 0x8, RUNNING: 0x40, LOWER_UP: 0x10000 } as const;

const AF_UNSPEC = 0, AF_INET = 2, AF_INET6 = 10;
const RT_TABLE_MAIN = 254;
const RTPROT_STATIC = 4;
const RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253, RT_SCOPE_NOWHERE = 255;
const RTN_UNICAST = 1;
const IFA_F_NODAD = 0x02;
const ENODEV = 19;

/** A network interface. */
export interface Link {
  index: number;
  name: string;
  /** `IFLA_INFO_KIND`: `bridge`, `veth`, … (absent for physical and loopback devices). */
  kind?: string;
  /** IFF_* flags. */
  flags: number;
  up: boolean;
  mtu?: number;
  /** MAC address as `aa:bb:cc:dd:ee:ff`. */
  mac?: string;
  /** Index of the bridge this link is a port of. */
  master?: number;
  /** For a veth: the peer's index (in the netns named by `linkNetnsId`, if set). */
  link?: number;
  linkNetnsId?: number;
}

/** An address on an interface. */
export interface Address {
  index: number;
  family: "inet" | "inet6";
  address: string;
  prefixLength: number;
  scope: number;
  label?: string;
}

/** A route in the main table. */
export interface Route {
  family: "inet" | "inet6";
  /** Destination as CIDR, `default` for the default route. */
  dst: string;
  gateway?: string;
  /** Output interface index. */
  oif?: number;
  protocol: number;
  scope: number;
  type: number;
  table: number;
}

/** Changes to a link, applied in one message. */
export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  /** MAC `aa:bb:cc:dd:ee:ff`. */
  mac?: string;
  /** New name. */
  name?: string;
  /** Bridge to enslave to (by name), or null to release from its bridge. */
  master?: string | null;
  /** Move to the network namespace behind this fd. */
  netnsFd?: number;
}

/**
 * Encodes a `struct ifinfomsg` (16 bytes).
 *
 * @example
 * ```ts
 * ifinfomsg({ index: 3, flags: IFF.UP, change: IFF.UP });
 * ```
 */
export function ifinfomsg(
  o: { family?: number; index?: number; flags?: number; change?: number },
): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint8(0, o.family ?? AF_UNSPEC);
  v.setInt32(4, o.index ?? 0, true);
  v.setUint32(8, o.flags ?? 0, true);
  v.setUint32(12, o.change ?? 0, true);
  return b;
}

function ifaddrmsg(family: number, prefixLength: number, flags: number, scope: number, index: number) {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, family);
  v.setUint8(1, prefixLength);
  v.setUint8(2, flags);
  v.setUint8(3, scope);
  v.setUint32(4, index, true);
  return b;
}

function rtmsg(
  o: { family: number; dstLen?: number; table?: number; protocol?: number; scope?: number; type?: number },
) {
  const b = new Uint8Array(12);
  b[0] = o.family;
  b[1] = o.dstLen ?? 0;
  b[4] = o.table ?? RT_TABLE_MAIN;
  b[5] = o.protocol ?? 0;
  b[6] = o.scope ?? RT_SCOPE_UNIVERSE;
  b[7] = o.type ?? 0;
  return b;
}

/**
 * Parses `aa:bb:cc:dd:ee:ff`.
 *
 * @example
 * ```ts
 * parseMac("02:42:0a:58:00:02").length; // 6
 * ```
 */
export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new TypeError(`Invalid MAC address: ${mac}`);
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/**
 * Formats MAC bytes as `aa:bb:cc:dd:ee:ff`.
 *
 * @example
 * ```ts
 * formatMac(Uint8Array.of(2, 66, 10, 88, 0, 2)); // "02:42:0a:58:00:02"
 * ```
 */
export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/**
 * Decodes an RTM_NEWLINK message.
 *
 * @example
 * ```ts
 * const links = messages.map(parseLink);
 * ```
 */
export function parseLink(m: Message): Link {
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  const index = v.getInt32(4, true);
  const flags = v.getUint32(8, true);
  const a = parseAttributes(m.payload.subarray(16));
  const info = a.nested(IFLA.LINKINFO);
  const mac = a.get(IFLA.ADDRESS);
  const linkNetnsId = a.get(IFLA.LINK_NETNSID);
  return {
    index,
    name: a.string(IFLA.IFNAME) ?? "",
    kind: info?.string(IFLA_INFO.KIND),
    flags,
    up: (flags & IFF.UP) !== 0,
    mtu: a.u32(IFLA.MTU),
    mac: mac && mac.length === 6 ? formatMac(mac) : undefined,
    master: a.u32(IFLA.MASTER),
    link: a.u32(IFLA.LINK),
    linkNetnsId: linkNetnsId
      ? new DataView(linkNetnsId.buffer, linkNetnsId.byteOffset).getInt32(0, true)
      : undefined,
  };
}

function parseAddress(m: Message): Address {
  const p = m.payload;
  const family = p[0];
  const a = parseAttributes(p.subarray(8));
  const bytes = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS) ?? new Uint8Array(family === AF_INET ? 4 : 16);
  return {
    index: new DataView(p.buffer, p.byteOffset).getUint32(4, true),
    family: family === AF_INET ? "inet" : "inet6",
    address: formatIP(bytes),
    prefixLength: p[1],
    scope: p[3],
    label: a.string(IFA.LABEL),
  };
}

function parseRoute(m: Message): Route {
  const p = m.payload;
  const family = p[0];
  const a = parseAttributes(p.subarray(12));
  const dst = a.get(RTA.DST);
  const gw = a.get(RTA.GATEWAY);
  return {
    family: family === AF_INET ? "inet" : "inet6",
    dst: dst ? `${formatIP(dst)}/${p[1]}` : p[1] === 0 ? "default" : `?/${p[1]}`,
    gateway: gw ? formatIP(gw) : undefined,
    oif: a.u32(RTA.OIF),
    protocol: p[5],
    scope: p[6],
    type: p[7],
    table: a.u32(RTA.TABLE) ?? p[4],
  };
}

/**
 * rtnetlink operations on one network namespace.
 *
 * @example
 * ```ts
 * using rt = RouteNetlink.open();
 * rt.createBridge("ctrt1a2b");
 * rt.addAddress("ctrt1a2b", "10.77.3.1/24");
 * rt.setLink("ctrt1a2b", { up: true });
 * rt.deleteLink("ctrt1a2b");
 * ```
 */
export class RouteNetlink {
  readonly #nl: NetlinkSocket;

  private constructor(nl: NetlinkSocket) {
    this.#nl = nl;
  }

  /** Opens rtnetlink in this thread's namespace, or in `netns` (path or fd). */
  static open(options: { netns?: string | number } = {}): RouteNetlink {
    return new RouteNetlink(NetlinkSocket.open(NETLINK.ROUTE, options));
  }

  /** Every link in the namespace. */
  listLinks(): Link[] {
    const m = new MessageWriter(RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP).bytes(ifinfomsg({}));
    return this.#nl.dump(m, { op: "list links" }).filter((x) => x.type === RTM.NEWLINK).map(parseLink);
  }

  /** The link called `name`, or undefined when there is none. */
  getLink(name: string): Link | undefined {
    const m = new MessageWriter(RTM.GETLINK, NLM_F.REQUEST | NLM_F.ACK).bytes(ifinfomsg({}));
    m.string(IFLA.IFNAME, name);
    try {
      const r = this.#nl.request(m, { op: "get link", subject: name });
      return r.length ? parseLink(r[0]) : undefined;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
      throw e;
    }
  }

  /** Index of the link `name`; throws a NetlinkError ENODEV naming it when absent. */
  linkIndex(name: string, op = "find link"): number {
    const l = this.getLink(name);
    if (!l) throw new NetlinkError(op, ENODEV, name);
    return l.index;
  }

  /** Creates a bridge (down). */
  createBridge(name: string, options: { mtu?: number; mac?: string } = {}): void {
    const m = new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL)
      .bytes(ifinfomsg({}));
    m.string(IFLA.IFNAME, name);
    if (options.mtu) m.u32(IFLA.MTU, options.mtu);
    if (options.mac) m.attr(IFLA.ADDRESS, parseMac(options.mac));
    m.nested(IFLA.LINKINFO, () => m.string(IFLA_INFO.KIND, "bridge"));
    this.#nl.request(m, { op: "create bridge", subject: name });
  }

  /**
   * Creates a veth pair `name` ↔ `peer`. With `peerNetnsFd` the peer is created directly in
   * that namespace (so a name such as `eth0` cannot clash with the host's).
   */
  createVeth(
    name: string,
    peer: string,
    options: { peerNetnsFd?: number; mtu?: number; peerMac?: string } = {},
  ): void {
    const m = new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL)
      .bytes(ifinfomsg({}));
    m.string(IFLA.IFNAME, name);
    if (options.mtu) m.u32(IFLA.MTU, options.mtu);
    m.nested(IFLA.LINKINFO, () => {
      m.string(IFLA_INFO.KIND, "veth");
      m.nested(IFLA_INFO.DATA, () => {
        m.nested(VETH_INFO_PEER, () => {
          m.bytes(ifinfomsg({}));
          m.string(IFLA.IFNAME, peer);
          if (options.mtu) m.u32(IFLA.MTU, options.mtu);
          if (options.peerMac) m.attr(IFLA.ADDRESS, parseMac(options.peerMac));
          if (options.peerNetnsFd !== undefined) m.u32(IFLA.NET_NS_FD, options.peerNetnsFd);
        });
      });
    });
    this.#nl.request(m, { op: `create veth pair (peer "${peer}")`, subject: name });
  }

  /** Applies `changes` to the link `name` in one RTM_NEWLINK. */
  setLink(name: string, changes: LinkChanges): void {
    const index = this.linkIndex(name, "change link");
    const up = changes.up === undefined ? {} : { flags: changes.up ? IFF.UP : 0, change: IFF.UP };
    const m = new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK).bytes(ifinfomsg({ index, ...up }));
    if (changes.name !== undefined) m.string(IFLA.IFNAME, changes.name);
    if (changes.mtu !== undefined) m.u32(IFLA.MTU, changes.mtu);
    if (changes.mac !== undefined) m.attr(IFLA.ADDRESS, parseMac(changes.mac));
    if (changes.master !== undefined) {
      m.u32(IFLA.MASTER, changes.master === null ? 0 : this.linkIndex(changes.master, "set master"));
    }
    if (changes.netnsFd !== undefined) m.u32(IFLA.NET_NS_FD, changes.netnsFd);
    const what = Object.entries(changes).map(([k, v]) => `${k}=${v}`).join(" ");
    this.#nl.request(m, { op: `set link ${what} on`, subject: name });
  }

  /** Deletes a link (for a veth, both ends go). */
  deleteLink(name: string): void {
    const index = this.linkIndex(name, "delete link");
    const m = new MessageWriter(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK).bytes(ifinfomsg({ index }));
    this.#nl.request(m, { op: "delete link", subject: name });
  }

  /**
   * Deletes a link if it exists, without blocking the event loop while the kernel waits
   * for RCU (see {@linkcode NetlinkSocket.requestAsync}); resolves to whether it existed.
   */
  async deleteLinkAsync(name: string): Promise<boolean> {
    const link = this.getLink(name);
    if (!link) return false;
    const m = new MessageWriter(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK).bytes(
      ifinfomsg({ index: link.index }),
    );
    try {
      await this.#nl.requestAsync(m, { op: "delete link", subject: name });
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENODEV) return false;
      throw e;
    }
  }

  /** Deletes a link if it exists; returns whether it did. */
  deleteLinkIfExists(name: string): boolean {
    try {
      this.deleteLink(name);
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENODEV) return false;
      throw e;
    }
  }

  #address(type: number, link: string, cidr: string, flags: number): void {
    const c = parseCidr(cidr);
    const v4 = c.address.length === 4;
    const verb = type === RTM.NEWADDR ? "add" : "delete";
    const op = `${verb} address ${cidr} ${verb === "add" ? "to" : "from"}`;
    const index = this.linkIndex(link, op);
    const m = new MessageWriter(type, flags).bytes(
      ifaddrmsg(v4 ? AF_INET : AF_INET6, c.prefixLength, v4 ? 0 : IFA_F_NODAD, RT_SCOPE_UNIVERSE, index),
    );
    m.attr(IFA.LOCAL, c.address);
    m.attr(IFA.ADDRESS, c.address);
    if (v4 && type === RTM.NEWADDR && c.prefixLength < 31) m.attr(IFA.BROADCAST, broadcastOf(c));
    this.#nl.request(m, { op, subject: link });
  }

  /** Adds `cidr` (e.g. `10.88.0.1/16`, `fd00::1/64`) to the link. */
  addAddress(link: string, cidr: string): void {
    this.#address(RTM.NEWADDR, link, cidr, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL);
  }

  /** Removes `cidr` from the link. */
  deleteAddress(link: string, cidr: string): void {
    this.#address(RTM.DELADDR, link, cidr, NLM_F.REQUEST | NLM_F.ACK);
  }

  /** Addresses of every link, or of one. */
  listAddresses(link?: string): Address[] {
    const index = link === undefined ? undefined : this.linkIndex(link, "list addresses");
    const m = new MessageWriter(RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP).bytes(
      ifaddrmsg(AF_UNSPEC, 0, 0, 0, 0),
    );
    const all = this.#nl.dump(m, { op: "list addresses", subject: link })
      .filter((x) => x.type === RTM.NEWADDR).map(parseAddress);
    return index === undefined ? all : all.filter((a) => a.index === index);
  }

  #route(type: number, r: { dst: string; gateway?: string; dev?: string }, flags: number): void {
    const isDefault = r.dst === "default";
    const dst = isDefault ? undefined : parseCidr(r.dst);
    const gw = r.gateway === undefined ? undefined : parseIP(r.gateway);
    const length = dst?.address.length ?? gw?.length ?? 4;
    const family = length === 4 ? AF_INET : AF_INET6;
    const m = new MessageWriter(type, flags).bytes(rtmsg({
      family,
      dstLen: dst?.prefixLength ?? 0,
      protocol: type === RTM.NEWROUTE ? RTPROT_STATIC : 0,
      // A delete with scope NOWHERE matches a route of any scope.
      scope: type === RTM.DELROUTE ? RT_SCOPE_NOWHERE : gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
      type: RTN_UNICAST,
    }));
    if (dst) m.attr(RTA.DST, dst.address);
    if (gw) m.attr(RTA.GATEWAY, gw);
    if (r.dev) m.u32(RTA.OIF, this.linkIndex(r.dev, "route via"));
    const verb = type === RTM.NEWROUTE ? "add" : "delete";
    const via = `${gw ? ` via ${r.gateway}` : ""}${r.dev ? ` dev ${r.dev}` : ""}`;
    this.#nl.request(m, { op: `${verb} route`, subject: `${r.dst}${via}` });
  }

  /** Adds a route in the main table: `dst` as CIDR or `default`, via `gateway` and/or `dev`. */
  addRoute(r: { dst: string; gateway?: string; dev?: string }): void {
    this.#route(RTM.NEWROUTE, r, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL);
  }

  /** Deletes a route from the main table. */
  deleteRoute(r: { dst: string; gateway?: string; dev?: string }): void {
    this.#route(RTM.DELROUTE, r, NLM_F.REQUEST | NLM_F.ACK);
  }

  /** Routes of the main table (IPv4 and IPv6). */
  listRoutes(): Route[] {
    const m = new MessageWriter(RTM.GETROUTE, NLM_F.REQUEST | NLM_F.DUMP).bytes(
      rtmsg({ family: AF_UNSPEC, table: 0 }),
    );
    return this.#nl.dump(m, { op: "list routes" })
      .filter((x) => x.type === RTM.NEWROUTE).map(parseRoute).filter((r) => r.table === RT_TABLE_MAIN);
  }

  /** Closes the socket. */
  close(): void {
    this.#nl.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
