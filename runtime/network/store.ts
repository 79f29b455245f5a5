/**
 * Networks, endpoints (a container's attachment: address, MAC, aliases, host-side veth) and
 * published ports, kept in the metadata database under the component `network`.
 *
 * Every allocation runs in one write transaction (`BEGIN IMMEDIATE`, image/db.ts): reading
 * the used addresses and inserting the new one cannot interleave with another process, and
 * `UNIQUE (network_id, ip)` backs that up — so 50 containers started at once get 50
 * distinct addresses. Rows whose container no longer exists (a crash between allocation and
 * release) are found by {@linkcode NetworkStore.orphanedContainers} and released by recovery.
 *
 * Tables:
 * ```text
 * networks        id, name (unique), driver (bridge|host|null), bridge (unique), subnet,
 *                 gateway, internal, labels (JSON), options (JSON), created, builtin
 * attachments     (container_id, network_id) → container_name, aliases (JSON), requested_ip,
 *                 position — the networks a container is connected to, running or not
 * endpoints       (network_id, container_id) → container_name, ip (unique per network), mac,
 *                 aliases (JSON), host_veth, ifname, created, dns (JSON) — only while it runs
 * published_ports container_id, proto, host_ip, host_port, container_port — while it runs
 * ```
 *
 * @module
 */
import { type Database, type Schema, transaction } from "../../image/db.ts";
import { ConflictError, NotFoundError } from "../../errors.ts";
import {
  allocateAddress,
  checkRequestedAddress,
  DEFAULT_POOL,
  macForAddress,
  pickSubnet,
  subnetConfig,
  subnetsOverlap,
} from "./ipam.ts";

/** The first free subnet of the first pool that has one. */
function pickFromPools(taken: string[], pools: { base: string; size: number }[]): string {
  let last: unknown;
  for (const pool of pools) {
    try {
      return pickSubnet(taken, pool);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/** The network component's tables. Append migrations; never edit a released one. */
export const networkSchema: Schema = {
  component: "network",
  migrations: [
    `CREATE TABLE networks (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      driver TEXT NOT NULL,
      bridge TEXT UNIQUE,
      subnet TEXT,
      gateway TEXT,
      internal INTEGER NOT NULL DEFAULT 0,
      labels TEXT NOT NULL DEFAULT '{}',
      options TEXT NOT NULL DEFAULT '{}',
      created TEXT NOT NULL,
      builtin INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE endpoints (
      network_id TEXT NOT NULL REFERENCES networks(id),
      container_id TEXT NOT NULL,
      container_name TEXT NOT NULL,
      ip TEXT NOT NULL,
      mac TEXT NOT NULL,
      aliases TEXT NOT NULL DEFAULT '[]',
      host_veth TEXT,
      ifname TEXT NOT NULL,
      created TEXT NOT NULL,
      PRIMARY KEY (network_id, container_id),
      UNIQUE (network_id, ip)
    );
    CREATE INDEX endpoints_by_container ON endpoints(container_id);
    CREATE TABLE attachments (
      container_id TEXT NOT NULL,
      network_id TEXT NOT NULL REFERENCES networks(id),
      container_name TEXT NOT NULL,
      aliases TEXT NOT NULL DEFAULT '[]',
      requested_ip TEXT,
      position INTEGER NOT NULL,
      PRIMARY KEY (container_id, network_id)
    );
    CREATE TABLE published_ports (
      container_id TEXT NOT NULL,
      proto TEXT NOT NULL,
      host_ip TEXT NOT NULL,
      host_port INTEGER NOT NULL,
      container_port INTEGER NOT NULL,
      PRIMARY KEY (container_id, proto, host_ip, host_port)
    );`,
    // The resolvers (`--dns`) the embedded DNS forwards a container's other queries to.
    `ALTER TABLE endpoints ADD COLUMN dns TEXT NOT NULL DEFAULT '[]';`,
  ],
};

/** Network drivers. */
export type NetworkDriver = "bridge" | "host" | "null";

/** A network. */
export interface NetworkRecord {
  id: string;
  name: string;
  driver: NetworkDriver;
  /** Bridge interface name (bridge driver). */
  bridge?: string;
  subnet?: string;
  gateway?: string;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** RFC 3339 creation time. */
  created: string;
  /** One of the predefined networks (`bridge`, `host`, `none`), which cannot be removed. */
  builtin: boolean;
}

/** A container's attachment to a network. */
export interface EndpointRecord {
  networkId: string;
  containerId: string;
  containerName: string;
  ip: string;
  mac: string;
  aliases: string[];
  /** Host end of the veth pair, once created. */
  hostVeth?: string;
  /** Interface name inside the container (`eth0`, `eth1`, …). */
  ifname: string;
  created: string;
  /** Upstream resolvers for this container's forwarded DNS queries (`--dns`); empty = the host's. */
  dns: string[];
}

/** A container's wish to be on a network (kept while it is stopped). */
export interface AttachmentRecord {
  containerId: string;
  networkId: string;
  containerName: string;
  aliases: string[];
  /** `--ip`. */
  requestedIp?: string;
  /** Order of connection: the first is eth0. */
  position: number;
}

/** A published port as bound on the host. */
export interface PortRecord {
  containerId: string;
  proto: "tcp" | "udp";
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

/** What `network create` asks for. */
export interface NetworkSpec {
  name: string;
  driver?: NetworkDriver;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  /** Bridge interface name; default `ctr-` + 11 hex digits of the id. */
  bridge?: string;
  builtin?: boolean;
  /** Subnets in use outside ctr (host routes and addresses) that a picked subnet must avoid. */
  hostSubnets?: string[];
  /** Pools to pick a subnet from when none is given (default 10.89.0.0/16 in /24s). */
  pools?: { base: string; size: number }[];
}

type Row = Record<string, string | number | null>;

function toNetwork(r: Row): NetworkRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    driver: String(r.driver) as NetworkDriver,
    bridge: r.bridge === null ? undefined : String(r.bridge),
    subnet: r.subnet === null ? undefined : String(r.subnet),
    gateway: r.gateway === null ? undefined : String(r.gateway),
    internal: Number(r.internal) === 1,
    labels: JSON.parse(String(r.labels)),
    options: JSON.parse(String(r.options)),
    created: String(r.created),
    builtin: Number(r.builtin) === 1,
  };
}

function toEndpoint(r: Row): EndpointRecord {
  return {
    networkId: String(r.network_id),
    containerId: String(r.container_id),
    containerName: String(r.container_name),
    ip: String(r.ip),
    mac: String(r.mac),
    aliases: JSON.parse(String(r.aliases)),
    hostVeth: r.host_veth === null ? undefined : String(r.host_veth),
    ifname: String(r.ifname),
    created: String(r.created),
    dns: JSON.parse(String(r.dns ?? "[]")),
  };
}

function toAttachment(r: Row): AttachmentRecord {
  return {
    containerId: String(r.container_id),
    networkId: String(r.network_id),
    containerName: String(r.container_name),
    aliases: JSON.parse(String(r.aliases)),
    requestedIp: r.requested_ip === null ? undefined : String(r.requested_ip),
    position: Number(r.position),
  };
}

function toPort(r: Row): PortRecord {
  return {
    containerId: String(r.container_id),
    proto: String(r.proto) as "tcp" | "udp",
    hostIp: String(r.host_ip),
    hostPort: Number(r.host_port),
    containerPort: Number(r.container_port),
  };
}

function randomId(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Network names as Docker allows them. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Network metadata over the database.
 *
 * @example
 * ```ts
 * const store = new NetworkStore(openDatabase(`${root}/ctr.db`, [networkSchema]));
 * const net = store.createNetwork({ name: "web", subnet: "10.77.0.0/24" });
 * const ep = store.allocateEndpoint(net.id, containerId, "api", { aliases: ["db"] });
 * ```
 */
export class NetworkStore {
  readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  /** Creates a network; the name must be free and a bridge subnet must not overlap another. */
  createNetwork(spec: NetworkSpec): NetworkRecord {
    if (!NAME_RE.test(spec.name)) {
      throw new TypeError(`Invalid network name "${spec.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    const driver = spec.driver ?? "bridge";
    return transaction(this.db, () => {
      if (this.#byName(spec.name)) throw new ConflictError(`network with name ${spec.name} already exists`);
      const id = randomId();
      let subnet: string | undefined, gateway: string | undefined, bridge: string | undefined;
      if (driver === "bridge") {
        const others = this.listNetworks().filter((n) => n.subnet);
        if (spec.subnet) {
          const c = subnetConfig(spec.subnet, spec.gateway);
          const clash = others.find((n) => subnetsOverlap(n.subnet!, c.subnet));
          if (clash) {
            throw new ConflictError(
              `Pool overlaps with other one on this address space: ${c.subnet} overlaps network ${clash.name} (${clash.subnet})`,
            );
          }
          ({ subnet, gateway } = c);
        } else {
          if (spec.gateway) throw new TypeError("A gateway needs a subnet: give --subnet too");
          const taken = [...others.map((n) => n.subnet!), ...(spec.hostSubnets ?? [])];
          const picked = pickFromPools(taken, spec.pools ?? [DEFAULT_POOL]);
          ({ subnet, gateway } = subnetConfig(picked));
        }
        bridge = spec.bridge ?? `ctr-${id.slice(0, 11)}`;
        if (bridge.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(bridge)) {
          throw new TypeError(`Invalid bridge name "${bridge}": at most 15 of [a-zA-Z0-9_.-]`);
        }
        const sameBridge = others.find((n) => n.bridge === bridge);
        if (sameBridge) {
          throw new ConflictError(`Bridge ${bridge} is already used by network ${sameBridge.name}`);
        }
      }
      this.db.prepare(
        `INSERT INTO networks (id, name, driver, bridge, subnet, gateway, internal, labels, options, created, builtin)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        id,
        spec.name,
        driver,
        bridge ?? null,
        subnet ?? null,
        gateway ?? null,
        spec.internal ? 1 : 0,
        JSON.stringify(spec.labels ?? {}),
        JSON.stringify(spec.options ?? {}),
        new Date().toISOString(),
        spec.builtin ? 1 : 0,
      );
      return this.getNetwork(id)!;
    });
  }

  #byName(name: string): NetworkRecord | undefined {
    const r = this.db.prepare("SELECT * FROM networks WHERE name = ?").get(name) as Row | undefined;
    return r ? toNetwork(r) : undefined;
  }

  /** A network by full id, name, or unique id prefix (as Docker resolves them). */
  getNetwork(ref: string): NetworkRecord | undefined {
    const exact = this.db.prepare("SELECT * FROM networks WHERE id = ?").get(ref) as Row | undefined;
    if (exact) return toNetwork(exact);
    const named = this.#byName(ref);
    if (named) return named;
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const prefixed = this.db.prepare("SELECT * FROM networks WHERE id LIKE ? || '%'").all(ref) as Row[];
    if (prefixed.length > 1) {
      throw new ConflictError(`network ${ref} is ambiguous (${prefixed.length} matches found)`);
    }
    return prefixed.length ? toNetwork(prefixed[0]) : undefined;
  }

  /** Like {@linkcode getNetwork} but throws NotFoundError as Docker words it. */
  requireNetwork(ref: string): NetworkRecord {
    const n = this.getNetwork(ref);
    if (!n) throw new NotFoundError(`network ${ref} not found`);
    return n;
  }

  /** All networks, by name. */
  listNetworks(): NetworkRecord[] {
    return (this.db.prepare("SELECT * FROM networks ORDER BY name").all() as Row[]).map(toNetwork);
  }

  /** Removes a network's row; refuses while containers are connected (running or not). */
  removeNetwork(id: string): void {
    transaction(this.db, () => {
      const n = this.requireNetwork(id);
      const names = new Set([
        ...this.attachmentsOn(n.id).map((a) => a.containerName),
        ...this.endpointsOn(n.id).map((e) => e.containerName),
      ]);
      if (names.size) {
        throw new ConflictError(
          `error while removing network: network ${n.name} id ${n.id} has active endpoints (${
            [...names].join(", ")
          })`,
        );
      }
      this.db.prepare("DELETE FROM networks WHERE id = ?").run(n.id);
    });
  }

  /** Connects a container to a network (its wish; addresses come at start). */
  attach(
    containerId: string,
    networkId: string,
    containerName: string,
    options: { aliases?: string[]; ip?: string } = {},
  ): AttachmentRecord {
    return transaction(this.db, () => {
      const n = this.requireNetwork(networkId);
      if (this.attachment(containerId, n.id)) {
        throw new ConflictError(`endpoint with name ${containerName} already exists in network ${n.name}`);
      }
      const row = this.db.prepare("SELECT MAX(position) AS p FROM attachments WHERE container_id = ?")
        .get(containerId) as Row;
      const position = row.p === null ? 0 : Number(row.p) + 1;
      this.db.prepare(
        `INSERT INTO attachments (container_id, network_id, container_name, aliases, requested_ip, position)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(
        containerId,
        n.id,
        containerName,
        JSON.stringify(options.aliases ?? []),
        options.ip ?? null,
        position,
      );
      return this.attachment(containerId, n.id)!;
    });
  }

  /** One attachment. */
  attachment(containerId: string, networkId: string): AttachmentRecord | undefined {
    const r = this.db.prepare("SELECT * FROM attachments WHERE container_id = ? AND network_id = ?")
      .get(containerId, networkId) as Row | undefined;
    return r ? toAttachment(r) : undefined;
  }

  /** A container's networks, in connection order. */
  attachmentsOf(containerId: string): AttachmentRecord[] {
    return (this.db.prepare("SELECT * FROM attachments WHERE container_id = ? ORDER BY position")
      .all(containerId) as Row[]).map(toAttachment);
  }

  /** The containers connected to a network. */
  attachmentsOn(networkId: string): AttachmentRecord[] {
    return (this.db.prepare("SELECT * FROM attachments WHERE network_id = ? ORDER BY container_name")
      .all(networkId) as Row[]).map(toAttachment);
  }

  /** Disconnects a container from a network (its wish). */
  detach(containerId: string, networkId: string): void {
    this.db.prepare("DELETE FROM attachments WHERE container_id = ? AND network_id = ?").run(
      containerId,
      networkId,
    );
  }

  /** A container's new name, on its attachments and endpoints (the embedded DNS answers it). */
  renameContainer(containerId: string, name: string): void {
    transaction(this.db, () => {
      this.db.prepare("UPDATE attachments SET container_name = ? WHERE container_id = ?").run(
        name,
        containerId,
      );
      this.db.prepare("UPDATE endpoints SET container_name = ? WHERE container_id = ?").run(
        name,
        containerId,
      );
    });
  }

  /** Forgets every attachment of a container (on `rm`). */
  detachAll(containerId: string): void {
    this.db.prepare("DELETE FROM attachments WHERE container_id = ?").run(containerId);
  }

  /**
   * Reserves an address for a container on a bridge network (the requested `ip`, else the
   * lowest free one) and records the endpoint. Attaching twice is a ConflictError.
   */
  allocateEndpoint(
    networkId: string,
    containerId: string,
    containerName: string,
    options: { ip?: string; aliases?: string[]; ifname?: string; dns?: string[] } = {},
  ): EndpointRecord {
    return transaction(this.db, () => {
      const n = this.requireNetwork(networkId);
      if (n.driver !== "bridge" || !n.subnet || !n.gateway) {
        throw new TypeError(`Network ${n.name} (driver ${n.driver}) does not assign addresses`);
      }
      const existing = this.db.prepare("SELECT 1 FROM endpoints WHERE network_id = ? AND container_id = ?")
        .get(n.id, containerId);
      if (existing) {
        throw new ConflictError(`container ${containerName} is already attached to network ${n.name}`);
      }
      const used = new Set(
        (this.db.prepare("SELECT ip FROM endpoints WHERE network_id = ?").all(n.id) as Row[]).map((r) =>
          String(r.ip)
        ),
      );
      const config = { subnet: n.subnet, gateway: n.gateway };
      const ip = options.ip ? checkRequestedAddress(config, options.ip, used) : allocateAddress(config, used);
      const ifname = options.ifname ?? `eth${this.endpointsOf(containerId).length}`;
      this.db.prepare(
        `INSERT INTO endpoints (network_id, container_id, container_name, ip, mac, aliases, host_veth, ifname, created, dns)
         VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
      ).run(
        n.id,
        containerId,
        containerName,
        ip,
        macForAddress(ip),
        JSON.stringify(options.aliases ?? []),
        ifname,
        new Date().toISOString(),
        JSON.stringify(options.dns ?? []),
      );
      return this.endpoint(n.id, containerId)!;
    });
  }

  /** Records the host end of an endpoint's veth pair. */
  setHostVeth(networkId: string, containerId: string, hostVeth: string): void {
    this.db.prepare("UPDATE endpoints SET host_veth = ? WHERE network_id = ? AND container_id = ?")
      .run(hostVeth, networkId, containerId);
  }

  /** One endpoint. */
  endpoint(networkId: string, containerId: string): EndpointRecord | undefined {
    const r = this.db.prepare("SELECT * FROM endpoints WHERE network_id = ? AND container_id = ?")
      .get(networkId, containerId) as Row | undefined;
    return r ? toEndpoint(r) : undefined;
  }

  /** Releases an endpoint (its address becomes free). */
  releaseEndpoint(networkId: string, containerId: string): void {
    this.db.prepare("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?").run(
      networkId,
      containerId,
    );
  }

  /** A container's endpoints, in attachment order. */
  endpointsOf(containerId: string): EndpointRecord[] {
    return (this.db.prepare("SELECT * FROM endpoints WHERE container_id = ? ORDER BY created, ifname")
      .all(containerId) as Row[]).map(toEndpoint);
  }

  /** The endpoints on a network. */
  endpointsOn(networkId: string): EndpointRecord[] {
    return (this.db.prepare("SELECT * FROM endpoints WHERE network_id = ? ORDER BY ip").all(
      networkId,
    ) as Row[])
      .map(toEndpoint);
  }

  /** Every endpoint. */
  allEndpoints(): EndpointRecord[] {
    return (this.db.prepare("SELECT * FROM endpoints").all() as Row[]).map(toEndpoint);
  }

  /** Replaces a container's published ports. */
  setPorts(containerId: string, ports: Omit<PortRecord, "containerId">[]): void {
    transaction(this.db, () => {
      this.db.prepare("DELETE FROM published_ports WHERE container_id = ?").run(containerId);
      const ins = this.db.prepare(
        "INSERT INTO published_ports (container_id, proto, host_ip, host_port, container_port) VALUES (?, ?, ?, ?, ?)",
      );
      for (const p of ports) ins.run(containerId, p.proto, p.hostIp, p.hostPort, p.containerPort);
    });
  }

  /** A container's published ports. */
  portsOf(containerId: string): PortRecord[] {
    return (this.db.prepare(
      "SELECT * FROM published_ports WHERE container_id = ? ORDER BY container_port, proto, host_ip",
    ).all(containerId) as Row[]).map(toPort);
  }

  /** Every published port. */
  allPorts(): PortRecord[] {
    return (this.db.prepare("SELECT * FROM published_ports").all() as Row[]).map(toPort);
  }

  /** Forgets a container's published ports. */
  removePorts(containerId: string): void {
    this.db.prepare("DELETE FROM published_ports WHERE container_id = ?").run(containerId);
  }

  /** Container ids that hold attachments, endpoints or ports but for which `exists` says no. */
  orphanedContainers(exists: (containerId: string) => boolean): string[] {
    const ids = new Set<string>([
      ...(this.db.prepare("SELECT DISTINCT container_id FROM attachments").all() as Row[]).map((r) =>
        String(r.container_id)
      ),
      ...(this.db.prepare("SELECT DISTINCT container_id FROM endpoints").all() as Row[]).map((r) =>
        String(r.container_id)
      ),
      ...(this.db.prepare("SELECT DISTINCT container_id FROM published_ports").all() as Row[]).map((r) =>
        String(r.container_id)
      ),
    ]);
    return [...ids].filter((id) => !exists(id));
  }
}
