/**
 * A container's /etc/hosts and /etc/resolv.conf, pure, following Docker:
 *
 * - hosts: localhost lines, `--add-host` entries (`host-gateway` → the gateway), then the
 *   container's own addresses with its hostname (and name and aliases on user networks).
 * - resolv.conf on user-defined networks: the embedded resolver (the network's gateway
 *   address, see dns_server.ts) with the host's or `--dns-search`/`--dns-option` search and
 *   options; `--dns` servers become the resolver's upstreams instead of being written.
 * - resolv.conf on the default bridge: `--dns` servers or the host's non-loopback ones (a
 *   loopback resolver of the host is unreachable from a container), host search/options.
 * - host network: the host's resolv.conf as it is.
 *
 * @module
 */
import { parseIP } from "../../ffi/inet.ts";

/** What the hosts file needs. */
export interface HostsInput {
  hostname: string;
  domainname?: string;
  /** The container's addresses (first network first). */
  addresses: string[];
  /** Extra names for the addresses (container name, aliases) on user networks. */
  names?: string[];
  /** `--add-host` values, `name:ip` (or `name=ip`). */
  extraHosts?: string[];
  /** What `host-gateway` stands for. */
  hostGateway?: string;
}

/**
 * Parses an `--add-host` value (`name:ip`, `name=ip`, `name:[::1]`); `host-gateway` is
 * replaced by `hostGateway`.
 *
 * @example
 * ```ts
 * parseExtraHost("db:10.0.0.5"); // { names: ["db"], ip: "10.0.0.5" }
 * ```
 */
export function parseExtraHost(value: string, hostGateway?: string): { names: string[]; ip: string } {
  const eq = value.indexOf("="), colon = value.indexOf(":");
  const sep = eq !== -1 && (colon === -1 || eq < colon) ? eq : colon;
  if (sep <= 0) throw new TypeError(`Invalid --add-host value "${value}": expected NAME:IP`);
  const names = value.slice(0, sep).split(",").filter((n) => n);
  let ip = value.slice(sep + 1);
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  if (ip === "host-gateway") {
    if (!hostGateway) {
      throw new TypeError(`Cannot resolve host-gateway in --add-host ${value}: no bridge network`);
    }
    ip = hostGateway;
  }
  try {
    parseIP(ip);
  } catch {
    throw new TypeError(`Invalid IP address "${ip}" in --add-host ${value}`);
  }
  if (!names.length || names.some((n) => !/^[a-zA-Z0-9_.-]+$/.test(n))) {
    throw new TypeError(`Invalid host name in --add-host ${value}`);
  }
  return { names, ip };
}

/**
 * The /etc/hosts text.
 *
 * @example
 * ```ts
 * buildHosts({ hostname: "3f57d9401f8d", addresses: ["10.88.0.2"] });
 * ```
 */
export function buildHosts(input: HostsInput): string {
  const lines = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::\tip6-localnet",
    "ff00::\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
  ];
  for (const h of input.extraHosts ?? []) {
    const { names, ip } = parseExtraHost(h, input.hostGateway);
    lines.push(`${ip}\t${names.join(" ")}`);
  }
  const fqdn = input.domainname ? `${input.hostname}.${input.domainname}` : "";
  const own = [...new Set([fqdn, input.hostname, ...(input.names ?? [])].filter((n) => n))];
  for (const a of input.addresses) lines.push(`${a}\t${own.join(" ")}`);
  return lines.join("\n") + "\n";
}

/** The parts of a resolv.conf. */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/**
 * Parses resolv.conf text.
 *
 * @example
 * ```ts
 * parseResolvConf("nameserver 1.1.1.1\nsearch a b\n").search; // ["a", "b"]
 * ```
 */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === "nameserver" && rest[0]) out.nameservers.push(rest[0]);
    else if (key === "search" || key === "domain") out.search = rest;
    else if (key === "options") out.options.push(...rest);
  }
  return out;
}

function isLoopback(ip: string): boolean {
  try {
    const b = parseIP(ip.split("%")[0]);
    return b.length === 4 ? b[0] === 127 : b.every((x, i) => (i === 15 ? x === 1 : x === 0));
  } catch {
    return false;
  }
}

/** The container's resolver choices. */
export interface ResolvInput {
  /** The host's resolv.conf text. */
  host: string;
  /** `embedded`: user network with ctr's resolver at `resolver`; `direct`: default bridge; `host`: host network. */
  mode: "embedded" | "direct" | "host";
  /** Address of the embedded resolver. */
  resolver?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

/**
 * The /etc/resolv.conf text.
 *
 * @example
 * ```ts
 * buildResolvConf({ host: "nameserver 1.1.1.1\n", mode: "embedded", resolver: "10.89.0.1" });
 * // "nameserver 10.89.0.1\noptions ndots:0\n"
 * ```
 */
export function buildResolvConf(input: ResolvInput): string {
  const host = parseResolvConf(input.host);
  if (input.mode === "host" && !input.dns?.length && !input.dnsSearch?.length && !input.dnsOptions?.length) {
    return input.host.endsWith("\n") || input.host === "" ? input.host : input.host + "\n";
  }
  const search = input.dnsSearch?.length ? input.dnsSearch.filter((s) => s !== ".") : host.search;
  let options = input.dnsOptions?.length ? [...input.dnsOptions] : [...host.options];
  let servers: string[];
  if (input.mode === "embedded") {
    servers = [input.resolver!];
    // As Docker: the embedded resolver answers short names itself, so try them first.
    if (!options.some((o) => o.startsWith("ndots:"))) options = [...options, "ndots:0"];
  } else {
    servers = input.dns?.length
      ? input.dns
      : host.nameservers.filter((s) => input.mode === "host" || !isLoopback(s));
  }
  const lines = servers.map((s) => `nameserver ${s}`);
  if (search.length) lines.push(`search ${search.join(" ")}`);
  if (options.length) lines.push(`options ${options.join(" ")}`);
  return lines.join("\n") + "\n";
}
