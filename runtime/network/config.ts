/**
 * Network settings from ctr's config file — `$CTR_CONFIG` if set, else `<root>/config.json`
 * — with the key names of Docker's `daemon.json` (other keys belong to other parts of ctr):
 *
 * ```json
 * {
 *   "bridge": "ctr0",
 *   "bip": "10.88.0.1/16",
 *   "default-address-pools": [{ "base": "10.89.0.0/16", "size": 24 }],
 *   "iptables": true,
 *   "ip-forward": true,
 *   "dns": ["192.0.2.53"]
 * }
 * ```
 *
 * - `bridge` / `bip`: interface name and gateway address with prefix of the default `bridge`
 *   network, read when that network is first created. Defaults: `ctr0` and `10.88.0.1/16`
 *   for the default root `/var/lib/ctr`; for any other root `ctr<8 hex of its path>` and a
 *   /24 of `10.90.0.0/15` no other root has claimed (subnet_claims.ts), so roots side by
 *   side never share a bridge or a subnet.
 * - `default-address-pools`: where subnets of new networks without `--subnet` come from.
 * - `iptables: false`: no NAT or isolation rules (ctr writes nftables rules; the key keeps
 *   Docker's name); published ports are then carried by the userland proxy alone.
 * - `ip-forward: false`: leave `net.ipv4.ip_forward` alone.
 * - `dns`: resolvers for containers that give no `--dns`.
 *
 * @module
 */
import { formatCidr, networkOf, parseCidr } from "../../ffi/inet.ts";
import { DEFAULT_POOL } from "./ipam.ts";

/** The network part of ctr's settings. */
export interface NetworkConfig {
  /** Interface of the default bridge (unset: `ctr0` for /var/lib/ctr, `ctr<hash>` for other roots). */
  bridge?: string;
  /** Subnet of the default bridge (unset: 10.88.0.0/16 for /var/lib/ctr, a free /24 of 10.90.0.0/15 for others). */
  subnet?: string;
  /** Gateway of the default bridge. */
  gateway?: string;
  pools: { base: string; size: number }[];
  nftables: boolean;
  ipForward: boolean;
  dns: string[];
}

/** The defaults (the default bridge's name and subnet depend on the root, see service.ts). */
export const DEFAULT_NETWORK_CONFIG: NetworkConfig = {
  pools: [{ ...DEFAULT_POOL }],
  nftables: true,
  ipForward: true,
  dns: [],
};

/**
 * Validates the network keys of a parsed config document.
 *
 * @example
 * ```ts
 * parseNetworkConfig({ bip: "10.99.0.1/24" }).subnet; // "10.99.0.0/24"
 * ```
 */
export function parseNetworkConfig(doc: unknown, file = "config.json"): NetworkConfig {
  const out: NetworkConfig = structuredClone(DEFAULT_NETWORK_CONFIG);
  if (doc === undefined || doc === null) return out;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new TypeError(`Invalid ${file}: not a JSON object`);
  }
  const o = doc as Record<string, unknown>;
  const bad = (key: string, why: string) => new TypeError(`Invalid "${key}" in ${file}: ${why}`);
  if (o.bridge !== undefined) {
    if (typeof o.bridge !== "string" || !/^[a-zA-Z0-9_.-]{1,15}$/.test(o.bridge)) {
      throw bad("bridge", "an interface name of at most 15 of [a-zA-Z0-9_.-]");
    }
    out.bridge = o.bridge;
  }
  if (o.bip !== undefined) {
    if (typeof o.bip !== "string") throw bad("bip", "a string such as 10.88.0.1/16");
    let c;
    try {
      c = parseCidr(o.bip);
    } catch (e) {
      throw bad("bip", (e as Error).message);
    }
    out.subnet = formatCidr(networkOf(c));
    out.gateway = o.bip.slice(0, o.bip.indexOf("/"));
  }
  if (o["default-address-pools"] !== undefined) {
    const pools = o["default-address-pools"];
    if (!Array.isArray(pools) || !pools.length) throw bad("default-address-pools", "a non-empty list");
    out.pools = pools.map((p) => {
      if (typeof p?.base !== "string" || typeof p?.size !== "number") {
        throw bad("default-address-pools", 'entries are { "base": CIDR, "size": N }');
      }
      const base = parseCidr(p.base);
      if (p.size < base.prefixLength || p.size > 30) {
        throw bad("default-address-pools", `size ${p.size} does not fit ${p.base}`);
      }
      return { base: formatCidr(networkOf(base)), size: p.size };
    });
  }
  for (const [key, field] of [["iptables", "nftables"], ["ip-forward", "ipForward"]] as const) {
    if (o[key] === undefined) continue;
    if (typeof o[key] !== "boolean") throw bad(key, "true or false");
    out[field] = o[key] as boolean;
  }
  if (o.dns !== undefined) {
    if (!Array.isArray(o.dns) || o.dns.some((d) => typeof d !== "string")) {
      throw bad("dns", "a list of addresses");
    }
    out.dns = o.dns as string[];
  }
  return out;
}

/**
 * Reads the network settings (absent file: defaults).
 *
 * @example
 * ```ts
 * loadNetworkConfig("/var/lib/ctr").bridge; // "ctr0"
 * ```
 */
export function loadNetworkConfig(root: string): NetworkConfig {
  const file = Deno.env.get("CTR_CONFIG") || `${root}/config.json`;
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return parseNetworkConfig(undefined);
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Invalid ${file}: ${(e as Error).message}`);
  }
  return parseNetworkConfig(doc, file);
}
