/**
 * The network flags of `ctr run`/`create`, pure: `--network`, `--network-alias`, `--ip`,
 * `-p/--publish`, `-P/--publish-all`, `--expose`, `--dns`, `--dns-search`, `--dns-option`,
 * `--add-host`, turned into Docker's HostConfig fields (`NetworkMode`, `PortBindings`,
 * `PublishAllPorts`, `Dns`, `DnsSearch`, `DnsOptions`, `ExtraHosts`), `Config.ExposedPorts`
 * and the per-network settings (aliases, address) — with Docker's conflict checks.
 *
 * @module
 */
import { parseIP } from "../../ffi/inet.ts";
import { parseExtraHost } from "./etc_files.ts";
import { type ExposedPort, parseExposed, parsePublish, type PortMapping, publishAll } from "./ports.ts";

/** Docker's `PortBindings`: `"80/tcp"` → where on the host. */
export type PortBindings = Record<string, { HostIp: string; HostPort: string }[]>;

/** The network part of a HostConfig. */
export interface NetworkHostConfig {
  NetworkMode: string;
  PortBindings: PortBindings;
  PublishAllPorts: boolean;
  Dns: string[];
  DnsSearch: string[];
  DnsOptions: string[];
  ExtraHosts: string[];
}

/** Settings of the container on its first network (Docker's `NetworkingConfig`). */
export interface NetworkingRequest {
  aliases: string[];
  ip?: string;
}

/** What the flags give. */
export interface NetworkRunSettings {
  hostConfig: NetworkHostConfig;
  /** `--expose` ports as `Config.ExposedPorts` keys (`80/tcp`). */
  exposedPorts: string[];
  networking: NetworkingRequest;
}

type Flags = Record<string, unknown>;

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * Parses and checks the network flags.
 *
 * @example
 * ```ts
 * parseNetworkRunFlags({ network: "web", publish: ["8080:80"] }).hostConfig.PortBindings;
 * // { "80/tcp": [{ HostIp: "", HostPort: "8080" }] }
 * ```
 */
export function parseNetworkRunFlags(flags: Flags): NetworkRunSettings {
  const mode = str(flags.network) ?? "bridge";
  const isContainer = mode.startsWith("container:");
  if (isContainer && mode === "container:") {
    throw new TypeError("Invalid network mode: container: needs a container");
  }
  const conflicts: [string, boolean][] = [
    ["hostname", str(flags.hostname) !== undefined],
    ["dns", list(flags.dns).length > 0],
    ["dns-search", list(flags["dns-search"]).length > 0],
    ["dns-option", list(flags["dns-option"]).length > 0],
    ["add-host", list(flags["add-host"]).length > 0],
    ["publish", list(flags.publish).length > 0 || flags["publish-all"] === true],
    ["mac-address", str(flags["mac-address"]) !== undefined],
  ];
  if (isContainer) {
    for (const [name, given] of conflicts) {
      if (given) throw new TypeError(`Conflicting options: ${name} and the network mode`);
    }
  }
  const aliases = [...list(flags["network-alias"]), ...list(flags["net-alias"])];
  const ip = str(flags.ip);
  if (ip !== undefined) {
    try {
      parseIP(ip);
    } catch {
      throw new TypeError(`invalid IPv4 address: ${ip}`);
    }
  }
  for (const d of list(flags.dns)) {
    try {
      parseIP(d);
    } catch {
      throw new TypeError(`${d} is not an ip address`);
    }
  }
  for (const h of list(flags["add-host"])) {
    // host-gateway is resolved at start; check the rest now.
    parseExtraHost(h, "0.0.0.0");
  }
  const bindings: PortBindings = {};
  for (const spec of list(flags.publish)) {
    for (const m of parsePublish(spec)) {
      const key = `${m.containerPort}/${m.proto}`;
      const hostPort = m.hostPortStart === 0
        ? ""
        : m.hostPortStart === m.hostPortEnd
        ? String(m.hostPortStart)
        : `${m.hostPortStart}-${m.hostPortEnd}`;
      (bindings[key] ??= []).push({ HostIp: m.hostIp, HostPort: hostPort });
    }
  }
  const exposed = list(flags.expose).flatMap(parseExposed).map((e) => `${e.port}/${e.proto}`);
  return {
    hostConfig: {
      NetworkMode: mode,
      PortBindings: bindings,
      PublishAllPorts: flags["publish-all"] === true,
      Dns: list(flags.dns),
      DnsSearch: list(flags["dns-search"]),
      DnsOptions: list(flags["dns-option"]),
      ExtraHosts: list(flags["add-host"]),
    },
    exposedPorts: [...new Set([...exposed, ...Object.keys(bindings)])],
    networking: { aliases, ip },
  };
}

/**
 * The mappings to bind at start: `PortBindings`, plus every exposed port when
 * `PublishAllPorts`.
 *
 * @example
 * ```ts
 * portMappings({ "80/tcp": [{ HostIp: "", HostPort: "" }] }, false, []);
 * ```
 */
export function portMappings(
  bindings: PortBindings | undefined,
  all: boolean,
  exposed: string[],
): PortMapping[] {
  const out: PortMapping[] = [];
  for (const [key, hosts] of Object.entries(bindings ?? {})) {
    const [port, proto = "tcp"] = key.split("/");
    for (const h of hosts) {
      const ip = h.HostIp.includes(":") ? `[${h.HostIp}]` : h.HostIp;
      const spec = `${ip ? `${ip}:` : ""}${h.HostPort}:${port}/${proto}`;
      out.push(...parsePublish(h.HostPort || ip ? spec : `${port}/${proto}`));
    }
  }
  if (all) {
    const ports: ExposedPort[] = exposed.flatMap(parseExposed);
    out.push(...publishAll(ports, out));
  }
  return out;
}
