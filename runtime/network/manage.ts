/**
 * What `ctr network create|ls|inspect|rm|prune` do, with Docker's checks, words and output
 * shapes; the CLI only parses flags and prints.
 *
 * @module
 */
import { ConflictError, NotFoundError } from "../../errors.ts";
import { RouteNetlink } from "../../ffi/rtnetlink.ts";
import { removeBridge } from "./bridge.ts";
import { prefixLengthOf } from "./ipam.ts";
import type { NetworkService } from "./service.ts";
import type { NetworkRecord } from "./store.ts";

/** Docker's option naming a network's bridge interface. */
export const BRIDGE_NAME_OPTION = "com.docker.network.bridge.name";

/** What `network create` takes. */
export interface CreateNetworkOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  labels?: Record<string, string>;
  /** `-o key=value` driver options (`com.docker.network.bridge.name` is honoured). */
  options?: Record<string, string>;
}

/**
 * Creates a user-defined network.
 *
 * @example
 * ```ts
 * createNetwork(svc, { name: "web", subnet: "10.77.0.0/24" }).id;
 * ```
 */
export function createNetwork(svc: NetworkService, o: CreateNetworkOptions): NetworkRecord {
  const driver = o.driver ?? "bridge";
  if (driver === "host" || driver === "null") {
    throw new ConflictError(`only one instance of "${driver}" network is allowed`);
  }
  if (driver !== "bridge") throw new NotFoundError(`plugin "${driver}" not found`);
  svc.ensureBuiltins();
  const bridge = o.options?.[BRIDGE_NAME_OPTION];
  if (bridge) {
    using rt = RouteNetlink.open();
    const link = rt.getLink(bridge);
    if (link && link.kind !== "bridge") {
      throw new ConflictError(`Cannot use "${bridge}" as a bridge: it is a ${link.kind ?? "physical"} link`);
    }
  }
  return svc.createNetwork({
    name: o.name,
    driver: "bridge",
    subnet: o.subnet,
    gateway: o.gateway,
    internal: o.internal,
    labels: o.labels,
    options: o.options,
    bridge,
  });
}

/** One `network ls` row, with the fields `--format` may name. */
export interface NetworkSummary {
  ID: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPv6: string;
  Internal: string;
  Labels: string;
  CreatedAt: string;
}

/**
 * The `network ls` view of a network.
 *
 * @example
 * ```ts
 * summarizeNetwork(net).Name;
 * ```
 */
export function summarizeNetwork(n: NetworkRecord, noTrunc = false): NetworkSummary {
  return {
    ID: noTrunc ? n.id : n.id.slice(0, 12),
    Name: n.name,
    Driver: n.driver,
    Scope: "local",
    IPv6: "false",
    Internal: String(n.internal),
    Labels: Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(","),
    CreatedAt: n.created,
  };
}

/**
 * Applies `--filter` values (`name=`, `id=`, `driver=`, `label=K` or `label=K=V`,
 * `type=builtin|custom`, `dangling=true|false`) as Docker does: values of one key are ORed,
 * keys are ANDed; name and id match substrings/prefixes.
 *
 * @example
 * ```ts
 * filterNetworks(svc, nets, ["driver=bridge", "label=team"]);
 * ```
 */
export function filterNetworks(
  svc: NetworkService,
  nets: NetworkRecord[],
  filters: string[],
): NetworkRecord[] {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw new TypeError(`Bad format of filter (expected name=value): ${f}`);
    const k = f.slice(0, eq), v = f.slice(eq + 1);
    if (!["name", "id", "driver", "label", "type", "dangling", "scope"].includes(k)) {
      throw new TypeError(`Invalid filter '${k}'`);
    }
    byKey.set(k, [...(byKey.get(k) ?? []), v]);
  }
  const test = (n: NetworkRecord, k: string, v: string): boolean => {
    switch (k) {
      case "name":
        return n.name.includes(v);
      case "id":
        return n.id.startsWith(v);
      case "driver":
        return n.driver === v;
      case "scope":
        return v === "local";
      case "type":
        if (v !== "builtin" && v !== "custom") throw new TypeError(`Invalid filter: 'type'='${v}'`);
        return (v === "builtin") === n.builtin;
      case "dangling": {
        const used = svc.store.attachmentsOn(n.id).length > 0 || svc.store.endpointsOn(n.id).length > 0;
        return (v === "true" || v === "1") === (!used && !n.builtin);
      }
      default: { // label
        const i = v.indexOf("=");
        return i === -1 ? v in n.labels : n.labels[v.slice(0, i)] === v.slice(i + 1);
      }
    }
  };
  return nets.filter((n) => [...byKey].every(([k, vs]) => vs.some((v) => test(n, k, v))));
}

/**
 * Docker's `network inspect` object.
 *
 * @example
 * ```ts
 * JSON.stringify([inspectNetwork(svc, net)], null, 4);
 * ```
 */
export function inspectNetwork(svc: NetworkService, n: NetworkRecord): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const ep of svc.store.endpointsOn(n.id)) {
    containers[ep.containerId] = {
      Name: ep.containerName,
      EndpointID: `${n.id.slice(0, 32)}${ep.containerId.slice(0, 32)}`,
      MacAddress: ep.mac,
      IPv4Address: n.subnet ? `${ep.ip}/${prefixLengthOf(n.subnet)}` : "",
      IPv6Address: "",
    };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: "local",
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: "default",
      Options: null,
      Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway }] : [],
    },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: n.bridge && !n.options[BRIDGE_NAME_OPTION]
      ? { ...n.options, [BRIDGE_NAME_OPTION]: n.bridge }
      : n.options,
    Labels: n.labels,
  };
}

/**
 * Removes a network: not a predefined one, not while containers are connected. A bridge or
 * rules a crash left behind go too.
 *
 * @example
 * ```ts
 * removeNetwork(svc, "web");
 * ```
 */
export function removeNetwork(svc: NetworkService, ref: string): NetworkRecord {
  const n = svc.store.requireNetwork(ref);
  if (n.builtin) throw new ConflictError(`${n.name} is a pre-defined network and cannot be removed`);
  svc.releaseNetwork(n);
  // A bridge or rules a crash left behind go too (no container is on the network now).
  if (n.bridge) {
    using rt = RouteNetlink.open();
    removeBridge(rt, n.bridge);
  }
  svc.firewall?.removeNetwork(n.id);
  svc.firewall?.removeTableIfUnused();
  return n;
}

/**
 * Removes every user-defined network no container is connected to (matching `filters`);
 * returns their names.
 *
 * @example
 * ```ts
 * pruneNetworks(svc, ["label=tmp"]); // ["tmpnet"]
 * ```
 */
export function pruneNetworks(svc: NetworkService, filters: string[] = []): string[] {
  const removed: string[] = [];
  for (const n of filterNetworks(svc, svc.store.listNetworks(), filters)) {
    if (n.builtin) continue;
    if (svc.store.attachmentsOn(n.id).length || svc.store.endpointsOn(n.id).length) continue;
    try {
      removeNetwork(svc, n.id);
      removed.push(n.name);
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e; // a container connected meanwhile
    }
  }
  return removed;
}
