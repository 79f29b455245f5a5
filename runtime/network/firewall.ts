/**
 * ctr's nftables rules: one `ip` table per state root, holding NAT for published ports,
 * outbound masquerade, and isolation between networks. Every rule carries a comment naming
 * its owner (`ctr net <id>` or `ctr container <id>`), so an owner's rules are found and
 * deleted by handle, and recovery can remove rules whose owner is gone.
 *
 * ```text
 * table ip <ctr | ctr_<hash of root>>
 * ├── prerouting  nat    hook prerouting  -100   fib daddr type local jump ports
 * ├── output      nat    hook output      -100   fib daddr type local jump ports
 * ├── ports                                      [ip daddr H] l4proto P th dport HP dnat to C:CP   (per container)
 * ├── postrouting nat    hook postrouting  100   ip saddr SUBNET oifname != BR masquerade           (per network, not internal)
 * │                                              ip saddr 127.0.0.0/8 oifname BR masquerade         (per network)
 * ├── forward     filter hook forward        0   iifname BR oifname != BR jump isolate              (per network)
 * │                                              internal: iifname BR oifname != BR drop; oifname BR iifname != BR drop
 * ├── isolate                                    oifname BR drop                                    (per network)
 * └── input       filter hook input          0   iifname BR ip daddr 127.0.0.0/8 ct state new,invalid drop (per network)
 * ```
 *
 * Why DNAT also from 127.0.0.1: the bridge gets `route_localnet=1` (set in bridge.ts) so a
 * connection to 127.0.0.1:HOSTPORT can be rewritten to the container and masqueraded to the
 * bridge address — the kernel path, as fast as talking to the container directly. The
 * `input` rule drops what route_localnet would otherwise let containers start towards the
 * host's 127.0.0.0/8 (replies of the DNAT above arrive on the bridge addressed to 127.0.0.1
 * too, after de-masquerading, and must pass: they are `established`). The userland proxy
 * still holds each port (port_proxy.ts).
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  CMP,
  CT_STATE,
  type Expr,
  expr,
  HOOK,
  META,
  NFPROTO,
  Nftables,
  type NftBatch,
  PAYLOAD,
  REG,
  VERDICT,
} from "../../ffi/nftables.ts";
import { networkOf, parseCidr, parseIP } from "../../ffi/inet.ts";

const V4 = NFPROTO.IPV4;
const BASE_COMMENT = "ctr base";

/** A bridge network as the firewall needs it. */
export interface FirewallNetwork {
  id: string;
  bridge: string;
  subnet: string;
  internal: boolean;
}

/** One published port's DNAT. */
export interface PortRule {
  proto: "tcp" | "udp";
  /** `0.0.0.0` (or empty) for every local address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/**
 * The table name for a state root: `ctr` for the default root, `ctr_<8 hex>` for others, so
 * concurrent roots (tests) never share rules.
 *
 * @example
 * ```ts
 * firewallTableName("/var/lib/ctr"); // "ctr"
 * ```
 */
export function firewallTableName(root: string): string {
  if (root.replace(/\/+$/, "") === "/var/lib/ctr") return "ctr";
  return `ctr_${createHash("sha256").update(root).digest("hex").slice(0, 8)}`;
}

/** Owner comment of a network's rules. */
export function networkOwner(id: string): string {
  return `ctr net ${id}`;
}

/** Owner comment of a container's rules. */
export function containerOwner(id: string): string {
  return `ctr container ${id}`;
}

function ifname(name: string): Uint8Array {
  const b = new Uint8Array(16);
  b.set(new TextEncoder().encode(name));
  return b;
}

function be16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

const match = {
  iif: (
    op: number,
    name: string,
  ): Expr[] => [expr.meta(META.IIFNAME, REG.R1), expr.cmp(REG.R1, op, ifname(name))],
  oif: (
    op: number,
    name: string,
  ): Expr[] => [expr.meta(META.OIFNAME, REG.R1), expr.cmp(REG.R1, op, ifname(name))],
  /** `ip saddr|daddr PREFIX` (offset 12 = source, 16 = destination). */
  prefix: (offset: 12 | 16, cidr: string): Expr[] => {
    const c = networkOf(parseCidr(cidr));
    const mask = new Uint8Array(4);
    for (let bit = 0; bit < c.prefixLength; bit++) mask[bit >> 3] |= 0x80 >> (bit & 7);
    return [
      expr.payload(PAYLOAD.NETWORK, offset, 4, REG.R1),
      expr.bitwise(REG.R1, REG.R1, mask, new Uint8Array(4)),
      expr.cmp(REG.R1, CMP.EQ, c.address),
    ];
  },
  daddr: (
    ip: string,
  ): Expr[] => [expr.payload(PAYLOAD.NETWORK, 16, 4, REG.R1), expr.cmp(REG.R1, CMP.EQ, parseIP(ip))],
  l4: (proto: "tcp" | "udp"): Expr[] => [
    expr.meta(META.L4PROTO, REG.R1),
    expr.cmp(REG.R1, CMP.EQ, Uint8Array.of(proto === "tcp" ? 6 : 17)),
  ],
  /** `ct state` has any of `bits` (replies to our own loopback DNAT are established). */
  ctStateAny: (bits: number): Expr[] => [
    expr.ctState(REG.R1),
    expr.bitwise(REG.R1, REG.R1, Uint8Array.of(bits & 0xff, 0, 0, 0), new Uint8Array(4)),
    expr.cmp(REG.R1, CMP.NEQ, new Uint8Array(4)),
  ],
  dport: (
    port: number,
  ): Expr[] => [expr.payload(PAYLOAD.TRANSPORT, 2, 2, REG.R1), expr.cmp(REG.R1, CMP.EQ, be16(port))],
};

/**
 * ctr's rules in one table.
 *
 * @example
 * ```ts
 * using fw = Firewall.open(firewallTableName(root));
 * fw?.addNetwork({ id, bridge: "ctr0", subnet: "10.88.0.0/16", internal: false });
 * ```
 */
export class Firewall {
  readonly table: string;
  readonly #nft: Nftables;

  private constructor(table: string, nft: Nftables) {
    this.table = table;
    this.#nft = nft;
  }

  /** Opens the firewall, or returns null where nf_tables is not available. */
  static open(table: string, options: { netns?: string | number } = {}): Firewall | null {
    let nft: Nftables;
    try {
      nft = Nftables.open(options);
      nft.listTables(V4);
    } catch {
      return null;
    }
    return new Firewall(table, nft);
  }

  #base(b: NftBatch): void {
    const t = this.table;
    b.addTable(V4, t)
      .addChain(V4, t, "prerouting", { type: "nat", hook: HOOK.PREROUTING, priority: -100 })
      .addChain(V4, t, "output", { type: "nat", hook: HOOK.OUTPUT, priority: -100 })
      .addChain(V4, t, "ports")
      .addChain(V4, t, "postrouting", { type: "nat", hook: HOOK.POSTROUTING, priority: 100 })
      .addChain(V4, t, "forward", { type: "filter", hook: HOOK.FORWARD, priority: 0 })
      .addChain(V4, t, "isolate")
      .addChain(V4, t, "input", { type: "filter", hook: HOOK.INPUT, priority: 0 });
  }

  /** Creates the table and base rules when the table is missing. */
  #ensureBase(): void {
    if (this.#nft.hasTable(V4, this.table)) return;
    const b = this.#nft.batch();
    this.#base(b);
    const toPorts = [
      expr.fibDaddrType(REG.R1),
      expr.cmp(REG.R1, CMP.EQ, Uint8Array.of(2, 0, 0, 0)), // RTN_LOCAL as a host-order u32
      expr.verdict(VERDICT.JUMP, "ports"),
    ];
    b.addRule(V4, this.table, "prerouting", toPorts, { comment: BASE_COMMENT });
    b.addRule(V4, this.table, "output", toPorts, { comment: BASE_COMMENT });
    try {
      b.commit();
    } catch (e) {
      // Another process created it at the same moment (table creation is not exclusive,
      // but its base rules would be duplicated): keep whichever set landed first.
      if (!this.#nft.hasTable(V4, this.table)) throw e;
    }
    this.#dedupeBase();
  }

  /** Two processes racing to create the table may both add base rules; keep one of each. */
  #dedupeBase(): void {
    const seen = new Set<string>();
    const b = this.#nft.batch();
    for (const r of this.#nft.listRules(V4, this.table)) {
      if (r.comment !== BASE_COMMENT) continue;
      if (seen.has(r.chain)) b.deleteRule(V4, this.table, r.chain, r.handle);
      seen.add(r.chain);
    }
    b.commit();
  }

  #deleteOwned(b: NftBatch, owner: string): number {
    let n = 0;
    for (const r of this.#nft.listRules(V4, this.table)) {
      if (r.comment === owner) {
        b.deleteRule(V4, this.table, r.chain, r.handle);
        n++;
      }
    }
    return n;
  }

  /** Installs a network's rules (replacing any it had). */
  addNetwork(net: FirewallNetwork): void {
    this.#ensureBase();
    const t = this.table, comment = networkOwner(net.id), br = net.bridge;
    const b = this.#nft.batch();
    this.#deleteOwned(b, comment);
    if (net.internal) {
      b.addRule(V4, t, "forward", [
        ...match.iif(CMP.EQ, br),
        ...match.oif(CMP.NEQ, br),
        expr.verdict(VERDICT.DROP),
      ], {
        comment,
      });
      b.addRule(V4, t, "forward", [
        ...match.oif(CMP.EQ, br),
        ...match.iif(CMP.NEQ, br),
        expr.verdict(VERDICT.DROP),
      ], {
        comment,
      });
    } else {
      b.addRule(V4, t, "postrouting", [
        ...match.prefix(12, net.subnet),
        ...match.oif(CMP.NEQ, br),
        expr.masquerade(),
      ], {
        comment,
      });
      b.addRule(V4, t, "forward", [
        ...match.iif(CMP.EQ, br),
        ...match.oif(CMP.NEQ, br),
        expr.verdict(VERDICT.JUMP, "isolate"),
      ], { comment });
    }
    b.addRule(V4, t, "postrouting", [
      ...match.prefix(12, "127.0.0.0/8"),
      ...match.oif(CMP.EQ, br),
      expr.masquerade(),
    ], {
      comment,
    });
    b.addRule(V4, t, "isolate", [...match.oif(CMP.EQ, br), expr.verdict(VERDICT.DROP)], { comment });
    b.addRule(V4, t, "input", [
      ...match.iif(CMP.EQ, br),
      ...match.prefix(16, "127.0.0.0/8"),
      ...match.ctStateAny(CT_STATE.NEW | CT_STATE.INVALID),
      expr.verdict(VERDICT.DROP),
    ], { comment });
    b.commit();
  }

  /** Removes a network's rules. */
  removeNetwork(id: string): void {
    if (!this.#nft.hasTable(V4, this.table)) return;
    const b = this.#nft.batch();
    this.#deleteOwned(b, networkOwner(id));
    b.commit();
  }

  /** Installs a container's DNAT rules (replacing any it had). */
  addContainerPorts(containerId: string, rules: PortRule[]): void {
    if (!rules.length) return this.removeContainer(containerId);
    this.#ensureBase();
    const comment = containerOwner(containerId);
    const b = this.#nft.batch();
    this.#deleteOwned(b, comment);
    for (const r of rules) {
      const onIp = r.hostIp && r.hostIp !== "0.0.0.0" ? match.daddr(r.hostIp) : [];
      b.addRule(V4, this.table, "ports", [
        ...onIp,
        ...match.l4(r.proto),
        ...match.dport(r.hostPort),
        expr.immediate(REG.R1, parseIP(r.containerIp)),
        expr.immediate(REG.R2, be16(r.containerPort)),
        expr.nat("dnat", V4, REG.R1, REG.R2),
      ], { comment });
    }
    b.commit();
  }

  /** Removes a container's rules. */
  removeContainer(containerId: string): void {
    if (!this.#nft.hasTable(V4, this.table)) return;
    const b = this.#nft.batch();
    this.#deleteOwned(b, containerOwner(containerId));
    b.commit();
  }

  /** Owner comments of every rule in the table (base rules excluded). */
  owners(): Set<string> {
    return new Set(
      this.#nft.listRules(V4, this.table).map((r) => r.comment ?? "").filter((c) => c && c !== BASE_COMMENT),
    );
  }

  /** Removes rules whose owner `keep` rejects; returns the owners removed. */
  prune(keep: (owner: string) => boolean): string[] {
    if (!this.#nft.hasTable(V4, this.table)) return [];
    const gone = [...this.owners()].filter((o) => !keep(o));
    if (!gone.length) return [];
    const b = this.#nft.batch();
    for (const o of gone) this.#deleteOwned(b, o);
    b.commit();
    return gone;
  }

  /** Deletes the whole table when no owned rule is left; returns whether it did. */
  removeTableIfUnused(): boolean {
    if (!this.#nft.hasTable(V4, this.table)) return false;
    if (this.owners().size) return false;
    try {
      this.#nft.batch().deleteTable(V4, this.table).commit();
    } catch {
      return false; // gone already
    }
    return true;
  }

  /** Whether the table exists. */
  exists(): boolean {
    return this.#nft.hasTable(V4, this.table);
  }

  /** Closes the netlink socket. */
  close(): void {
    this.#nft.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
