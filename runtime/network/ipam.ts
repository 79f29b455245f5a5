/**
 * IP address management, pure: validate a network's subnet and gateway, pick a free subnet
 * for a new network, and pick (or check a requested) free address inside a subnet given the
 * addresses already in use. Persistence and locking live in `runtime/network/store.ts`,
 * which calls these inside one write transaction so concurrent starts never collide.
 *
 * @module
 */
import {
  bigIntToIP,
  broadcastOf,
  type Cidr,
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIP,
  ipToBigInt,
  networkOf,
  parseCidr,
  parseIP,
} from "../../ffi/inet.ts";

/** A validated IPv4 or IPv6 subnet with its gateway. */
export interface SubnetConfig {
  /** Network address and prefix, e.g. `10.88.0.0/16`. */
  subnet: string;
  /** The bridge's own address, e.g. `10.88.0.1`. */
  gateway: string;
}

/** The subnet of ctr's default bridge network, as Podman's. */
export const DEFAULT_SUBNET = "10.88.0.0/16";

/** Where subnets for new user networks come from when none is given: /24s of 10.89.0.0/16. */
export const DEFAULT_POOL = { base: "10.89.0.0/16", size: 24 } as const;

/**
 * Validates `subnet` (must be a network address) and `gateway` (inside it, not the network
 * or broadcast address; default: the first host address) as Docker does.
 *
 * @example
 * ```ts
 * subnetConfig("10.88.0.0/16"); // { subnet: "10.88.0.0/16", gateway: "10.88.0.1" }
 * ```
 */
export function subnetConfig(subnet: string, gateway?: string): SubnetConfig {
  const c = parseCidr(subnet);
  const net = networkOf(c);
  if (formatIP(net.address) !== formatIP(c.address)) {
    throw new TypeError(`Invalid subnet ${subnet}: it should be ${formatCidr(net)}`);
  }
  const bits = c.address.length * 8;
  if (bits - c.prefixLength < 2) {
    throw new RangeError(`Subnet ${subnet} is too small: it needs room for a gateway and a container`);
  }
  let gw: Uint8Array;
  if (gateway === undefined) {
    gw = bigIntToIP(ipToBigInt(net.address) + 1n, net.address.length);
  } else {
    gw = parseIP(gateway);
    if (!cidrContains(net, gw)) throw new RangeError(`Gateway ${gateway} is not in subnet ${subnet}`);
    if (isReserved(net, gw)) {
      throw new RangeError(`Gateway ${gateway} is the network or broadcast address of ${subnet}`);
    }
  }
  return { subnet: formatCidr(net), gateway: formatIP(gw) };
}

function isReserved(net: Cidr, ip: Uint8Array): boolean {
  const n = ipToBigInt(ip);
  if (n === ipToBigInt(net.address)) return true;
  // IPv4 keeps its broadcast address; IPv6 has none, but Docker keeps the last one free too.
  return n === ipToBigInt(broadcastOf(net));
}

/**
 * Picks a free address in `subnet`: the lowest one that is not the network, broadcast or
 * gateway address and not in `used`. Throws a RangeError naming the subnet when full.
 *
 * @example
 * ```ts
 * allocateAddress({ subnet: "10.88.0.0/16", gateway: "10.88.0.1" }, new Set(["10.88.0.2"])); // "10.88.0.3"
 * ```
 */
export function allocateAddress(config: SubnetConfig, used: ReadonlySet<string>): string {
  const net = parseCidr(config.subnet);
  const len = net.address.length;
  const first = ipToBigInt(net.address) + 1n;
  const last = ipToBigInt(broadcastOf(net)) - 1n;
  const taken = new Set<bigint>([ipToBigInt(parseIP(config.gateway))]);
  for (const u of used) taken.add(ipToBigInt(parseIP(u)));
  // Walking up from the bottom visits at most |used| + 2 taken addresses before a free one.
  for (let n = first; n <= last; n++) {
    if (!taken.has(n)) return formatIP(bigIntToIP(n, len));
  }
  throw new RangeError(`No free address left in subnet ${config.subnet}`);
}

/**
 * Checks that a requested address (`--ip`) can be given: inside the subnet, not reserved,
 * not the gateway, not in use. Returns it in canonical form.
 *
 * @example
 * ```ts
 * checkRequestedAddress({ subnet: "10.88.0.0/16", gateway: "10.88.0.1" }, "10.88.5.5", new Set()); // "10.88.5.5"
 * ```
 */
export function checkRequestedAddress(
  config: SubnetConfig,
  requested: string,
  used: ReadonlySet<string>,
): string {
  const net = parseCidr(config.subnet);
  const ip = parseIP(requested);
  const text = formatIP(ip);
  if (!cidrContains(net, ip)) throw new RangeError(`Address ${requested} is not in subnet ${config.subnet}`);
  if (isReserved(net, ip)) {
    throw new RangeError(`Address ${requested} is the network or broadcast address of ${config.subnet}`);
  }
  if (text === formatIP(parseIP(config.gateway))) {
    throw new RangeError(`Address ${requested} is the gateway of ${config.subnet}`);
  }
  if ([...used].some((u) => formatIP(parseIP(u)) === text)) {
    throw new RangeError(`Address ${requested} is already in use`);
  }
  return text;
}

/**
 * Picks the first `size`-bit subnet of the pool `base` that overlaps none of `taken` (other
 * networks' subnets, and routes and addresses already on the host).
 *
 * @example
 * ```ts
 * pickSubnet(["10.89.0.0/24"]); // "10.89.1.0/24"
 * ```
 */
export function pickSubnet(taken: string[], pool: { base: string; size: number } = DEFAULT_POOL): string {
  const base = networkOf(parseCidr(pool.base));
  const len = base.address.length;
  const step = 1n << BigInt(len * 8 - pool.size);
  const start = ipToBigInt(base.address);
  const end = ipToBigInt(broadcastOf(base));
  const takenCidrs = taken.map((t) => parseCidr(t.includes("/") ? t : `${t}/${len * 8}`));
  for (let n = start; n + step - 1n <= end; n += step) {
    const candidate = { address: bigIntToIP(n, len), prefixLength: pool.size };
    if (!takenCidrs.some((t) => cidrsOverlap(t, candidate))) return formatCidr(candidate);
  }
  throw new RangeError(`No free subnet left in pool ${pool.base}; give one with --subnet`);
}

/**
 * Whether two subnets overlap (a new network must not overlap an existing one).
 *
 * @example
 * ```ts
 * subnetsOverlap("10.0.0.0/8", "10.88.0.0/16"); // true
 * ```
 */
export function subnetsOverlap(a: string, b: string): boolean {
  return cidrsOverlap(parseCidr(a), parseCidr(b));
}

/**
 * A MAC address derived from an IPv4 address (02:42 + the four bytes), as Docker did: a
 * reused address comes back with the same MAC, so neighbours' ARP caches stay right.
 *
 * @example
 * ```ts
 * macForAddress("10.88.0.2"); // "02:42:0a:58:00:02"
 * ```
 */
export function macForAddress(ip: string): string {
  const b = parseIP(ip);
  const tail = b.length === 4 ? b : b.subarray(12);
  return ["02", "42", ...[...tail].map((x) => x.toString(16).padStart(2, "0"))].join(":");
}

/**
 * The prefix length of a subnet (for the container's address, e.g. `/16`).
 *
 * @example
 * ```ts
 * prefixLengthOf("10.88.0.0/16"); // 16
 * ```
 */
export function prefixLengthOf(subnet: string): number {
  return parseCidr(subnet).prefixLength;
}
