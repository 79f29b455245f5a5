/**
 * Published ports, pure: parse `-p`/`--publish` and `--expose` as Docker does, expand `-P`
 * from the image's exposed ports, and format them for `ctr port` and `ctr ps`.
 *
 * Accepted forms of `-p` (Docker's): `CPORT`, `HOSTPORT:CPORT`, `IP:HOSTPORT:CPORT`,
 * `IP::CPORT`, each with an optional `/tcp` or `/udp`; ports may be ranges (`8000-8010:80-90`
 * pairs them up; `8000-8010:80` takes the first free host port of the range); IPv6 host
 * addresses go in brackets (`[::1]:8080:80`). An empty host port means "any free port".
 *
 * @module
 */
import { formatIP, parseIP } from "../../ffi/inet.ts";

/** Transport protocols ctr publishes. */
export type Proto = "tcp" | "udp";

/** One requested mapping of a container port to a host port (or range to choose from). */
export interface PortMapping {
  /** Host address to listen on; `""` for every address (0.0.0.0). */
  hostIp: string;
  /** First acceptable host port; 0 for an ephemeral one the kernel picks. */
  hostPortStart: number;
  /** Last acceptable host port (equal to the start for a fixed port). */
  hostPortEnd: number;
  containerPort: number;
  proto: Proto;
}

/** A container port, e.g. from EXPOSE: `{ port: 80, proto: "tcp" }`. */
export interface ExposedPort {
  port: number;
  proto: Proto;
}

function parsePortNumber(text: string, what: string, spec: string): number {
  if (!/^\d+$/.test(text)) throw new TypeError(`Invalid ${what} "${text}" in port spec ${spec}`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new RangeError(`Invalid ${what} ${n} in port spec ${spec}: must be 1-65535`);
  return n;
}

function parseRange(text: string, what: string, spec: string): [number, number] {
  const dash = text.indexOf("-");
  if (dash === -1) {
    const n = parsePortNumber(text, what, spec);
    return [n, n];
  }
  const a = parsePortNumber(text.slice(0, dash), what, spec);
  const b = parsePortNumber(text.slice(dash + 1), what, spec);
  if (b < a) throw new RangeError(`Invalid ${what} range ${text} in port spec ${spec}: end before start`);
  return [a, b];
}

function parseProto(text: string | undefined, spec: string): Proto {
  const p = (text ?? "tcp").toLowerCase();
  if (p === "tcp" || p === "udp") return p;
  if (p === "sctp") throw new TypeError(`Protocol sctp is not supported in port spec ${spec}`);
  throw new TypeError(`Invalid protocol "${text}" in port spec ${spec}: use tcp or udp`);
}

/**
 * Parses one `-p` value into mappings (several for a range).
 *
 * @example
 * ```ts
 * parsePublish("127.0.0.1:8080:80/tcp");
 * // [{ hostIp: "127.0.0.1", hostPortStart: 8080, hostPortEnd: 8080, containerPort: 80, proto: "tcp" }]
 * ```
 */
export function parsePublish(spec: string): PortMapping[] {
  const slash = spec.lastIndexOf("/");
  const body = slash === -1 ? spec : spec.slice(0, slash);
  const proto = parseProto(slash === -1 ? undefined : spec.slice(slash + 1), spec);
  let hostIp = "";
  let rest = body;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close === -1 || rest[close + 1] !== ":") {
      throw new TypeError(`Invalid IP address in port spec ${spec}`);
    }
    hostIp = rest.slice(1, close);
    rest = rest.slice(close + 2);
  } else {
    const parts = rest.split(":");
    if (parts.length > 3) {
      throw new TypeError(`Invalid port spec ${spec}: too many colons (put IPv6 addresses in [])`);
    }
    if (parts.length === 3) {
      hostIp = parts[0];
      rest = `${parts[1]}:${parts[2]}`;
    }
  }
  if (hostIp !== "") {
    try {
      hostIp = formatIP(parseIP(hostIp));
    } catch {
      throw new TypeError(`Invalid IP address ${hostIp} in port spec ${spec}`);
    }
  }
  const colon = rest.indexOf(":");
  const hostText = colon === -1 ? "" : rest.slice(0, colon);
  const ctrText = colon === -1 ? rest : rest.slice(colon + 1);
  if (ctrText === "") throw new TypeError(`No container port in port spec ${spec}`);
  const [cStart, cEnd] = parseRange(ctrText, "container port", spec);
  const count = cEnd - cStart + 1;
  if (hostText === "") {
    return Array.from({ length: count }, (_, i) => ({
      hostIp,
      hostPortStart: 0,
      hostPortEnd: 0,
      containerPort: cStart + i,
      proto,
    }));
  }
  const [hStart, hEnd] = parseRange(hostText, "host port", spec);
  const hostCount = hEnd - hStart + 1;
  if (count === 1) {
    return [{ hostIp, hostPortStart: hStart, hostPortEnd: hEnd, containerPort: cStart, proto }];
  }
  if (hostCount !== count) {
    throw new RangeError(`Invalid ranges in port spec ${spec}: host and container ranges differ in size`);
  }
  return Array.from({ length: count }, (_, i) => ({
    hostIp,
    hostPortStart: hStart + i,
    hostPortEnd: hStart + i,
    containerPort: cStart + i,
    proto,
  }));
}

/**
 * Parses an exposed port (`--expose 80`, `80/udp`, `8000-8002`, or an image config key
 * `80/tcp`).
 *
 * @example
 * ```ts
 * parseExposed("53/udp"); // [{ port: 53, proto: "udp" }]
 * ```
 */
export function parseExposed(spec: string): ExposedPort[] {
  const slash = spec.lastIndexOf("/");
  const proto = parseProto(slash === -1 ? undefined : spec.slice(slash + 1), spec);
  const [a, b] = parseRange(slash === -1 ? spec : spec.slice(0, slash), "port", spec);
  return Array.from({ length: b - a + 1 }, (_, i) => ({ port: a + i, proto }));
}

/**
 * The mappings `-P` adds: every exposed port not already published gets an ephemeral host
 * port on every address.
 *
 * @example
 * ```ts
 * publishAll([{ port: 80, proto: "tcp" }], []);
 * // [{ hostIp: "", hostPortStart: 0, hostPortEnd: 0, containerPort: 80, proto: "tcp" }]
 * ```
 */
export function publishAll(exposed: ExposedPort[], published: PortMapping[]): PortMapping[] {
  const have = new Set(published.map((p) => `${p.containerPort}/${p.proto}`));
  const out: PortMapping[] = [];
  for (const e of exposed) {
    const key = `${e.port}/${e.proto}`;
    if (have.has(key)) continue;
    have.add(key);
    out.push({ hostIp: "", hostPortStart: 0, hostPortEnd: 0, containerPort: e.port, proto: e.proto });
  }
  return out;
}

/** A port as bound: container port/proto and where on the host it is reachable. */
export interface BoundPort {
  containerPort: number;
  proto: Proto;
  /** `0.0.0.0` for every address. */
  hostIp: string;
  hostPort: number;
}

function hostAddr(ip: string): string {
  return ip.includes(":") ? `[${ip}]` : ip;
}

/**
 * `ctr port` lines (`80/tcp -> 0.0.0.0:32768`), optionally for one container port
 * (`80`, `80/tcp`), sorted by port.
 *
 * @example
 * ```ts
 * formatPortLines([{ containerPort: 80, proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080 }]);
 * // ["80/tcp -> 0.0.0.0:8080"]
 * ```
 */
export function formatPortLines(ports: BoundPort[], filter?: string): string[] {
  let list = [...ports].sort((a, b) => a.containerPort - b.containerPort || a.proto.localeCompare(b.proto));
  if (filter !== undefined) {
    const [port, proto = "tcp"] = filter.split("/");
    list = list.filter((p) => String(p.containerPort) === port && p.proto === proto);
    return list.map((p) => `${hostAddr(p.hostIp)}:${p.hostPort}`);
  }
  return list.map((p) => `${p.containerPort}/${p.proto} -> ${hostAddr(p.hostIp)}:${p.hostPort}`);
}

/**
 * The PORTS column of `ctr ps`: published ports as `0.0.0.0:8080->80/tcp`, exposed but
 * unpublished ones as `80/tcp`, consecutive runs folded into ranges as Docker does.
 *
 * @example
 * ```ts
 * formatPsPorts([{ containerPort: 80, proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080 }], []);
 * // "0.0.0.0:8080->80/tcp"
 * ```
 */
export function formatPsPorts(bound: BoundPort[], exposed: ExposedPort[] = []): string {
  const published = new Set(bound.map((b) => `${b.containerPort}/${b.proto}`));
  type Item = { hostIp?: string; hostPort?: number; port: number; proto: Proto };
  const items: Item[] = [
    ...bound.map((b) => ({ hostIp: b.hostIp, hostPort: b.hostPort, port: b.containerPort, proto: b.proto })),
    ...exposed.filter((e) => !published.has(`${e.port}/${e.proto}`)).map((e) => ({
      port: e.port,
      proto: e.proto,
    })),
  ];
  items.sort((a, b) =>
    (a.hostIp ?? "").localeCompare(b.hostIp ?? "") || a.proto.localeCompare(b.proto) || a.port - b.port
  );
  // Fold runs where both the container and the host port go up by one.
  const runs: { first: Item; last: Item }[] = [];
  for (const it of items) {
    const r = runs[runs.length - 1];
    if (
      r && r.last.proto === it.proto && r.last.hostIp === it.hostIp && r.last.port + 1 === it.port &&
      (it.hostPort === undefined ? r.last.hostPort === undefined : r.last.hostPort! + 1 === it.hostPort)
    ) r.last = it;
    else runs.push({ first: it, last: it });
  }
  const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
  return runs.map(({ first, last }) => {
    const c = `${range(first.port, last.port)}/${first.proto}`;
    if (first.hostPort === undefined) return c;
    return `${hostAddr(first.hostIp!)}:${range(first.hostPort, last.hostPort!)}->${c}`;
  }).join(", ");
}
