/**
 * The hook between the container lifecycle and networking: the supervisor owns one
 * {@linkcode ContainerNetworking} and calls it at each step of a container's life.
 *
 * ```text
 * create  → register(c, networking)        records the networks (checks names, aliases, --ip)
 * start   → start(c, paths, findRunning)   before the init: ports bound, namespace built,
 *                                           /etc/hosts + resolv.conf written; returns
 *                                           `netns` for InitSpec.network
 *         → started.release()               once the init has joined (or failed)
 * exit    → stop(id)                        interfaces, rules, proxies released
 * rm      → forget(id)
 * restart of the supervisor → recover(running, known)
 * ```
 *
 * @module
 */
import type { Database } from "../../image/db.ts";
import { type ContainerPaths, containerPaths } from "../container_store.ts";
import type { Container } from "../container_store.ts";
import { formatPsPorts, type PortMapping } from "./ports.ts";
import { type NetworkingRequest, portMappings } from "./run_flags.ts";
import { NetworkService, type NetworkSettings, type StartedNetwork } from "./service.ts";

/** The network fields ctr adds to Docker's HostConfig (all optional in older records). */
interface NetworkFields {
  PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  PublishAllPorts?: boolean;
  Dns?: string[];
  DnsSearch?: string[];
  DnsOptions?: string[];
  ExtraHosts?: string[];
}

/** A running container another one may join (`--network container:NAME`). */
export interface RunningContainer {
  id: string;
  pid: number;
}

function fields(c: Container): NetworkFields {
  return c.HostConfig as unknown as NetworkFields;
}

function exposedOf(c: Container): string[] {
  return Object.keys((c.Config as unknown as { ExposedPorts?: Record<string, unknown> }).ExposedPorts ?? {});
}

/**
 * Networking of one state root's containers.
 *
 * @example
 * ```ts
 * const net = new ContainerNetworking(root, db);
 * const started = await net.start(c, paths, (ref) => manager.running(ref));
 * spec.network = started.netns;
 * ```
 */
export class ContainerNetworking {
  readonly service: NetworkService;
  readonly root: string;

  constructor(root: string, db: Database) {
    this.root = root;
    this.service = new NetworkService({ root, db });
  }

  /** Records a new container's networks; throws Docker's errors for bad combinations. */
  register(c: Container, networking: Partial<NetworkingRequest> = {}): void {
    this.service.register({
      containerId: c.Id,
      containerName: c.Name,
      networkMode: c.HostConfig.NetworkMode,
      aliases: networking.aliases,
      ip: networking.ip,
    });
  }

  /** The port mappings a start binds. */
  mappings(c: Container): PortMapping[] {
    const f = fields(c);
    return portMappings(f.PortBindings, f.PublishAllPorts === true, exposedOf(c));
  }

  /**
   * Prepares the container's network before its init is spawned. For `container:NAME`,
   * `findRunning` resolves the other container (which must be running).
   */
  async start(
    c: Container,
    paths: ContainerPaths,
    findRunning: (ref: string) => RunningContainer | undefined,
  ): Promise<StartedNetwork> {
    const mode = c.HostConfig.NetworkMode || "bridge";
    const f = fields(c);
    let joinNetns: string | undefined;
    if (mode.startsWith("container:")) {
      const ref = mode.slice("container:".length);
      const other = findRunning(ref);
      if (!other) throw new TypeError(`cannot join network of a non running container: ${ref}`);
      if (other.id === c.Id) throw new TypeError("cannot join own network");
      joinNetns = `/proc/${other.pid}/ns/net`;
      // Docker shares the other container's /etc/hosts and /etc/resolv.conf.
      const theirs = containerPaths(this.root, other.id);
      await Deno.copyFile(theirs.hosts, paths.hosts).catch(() => {});
      await Deno.copyFile(theirs.resolvConf, paths.resolvConf).catch(() => {});
    }
    return await this.service.start({
      containerId: c.Id,
      containerName: c.Name,
      networkMode: mode,
      hostname: c.Config.Hostname,
      domainname: c.Config.Domainname,
      joinNetns,
      publish: this.mappings(c),
      dns: f.Dns,
      dnsSearch: f.DnsSearch,
      dnsOptions: f.DnsOptions,
      extraHosts: f.ExtraHosts,
      hostsPath: joinNetns ? undefined : paths.hosts,
      resolvConfPath: joinNetns ? undefined : paths.resolvConf,
    });
  }

  /**
   * `network connect`: refused, as by Docker, for containers without a network namespace of
   * their own to add to (`host`, `container:`) or in `none` mode; plugged in now when `pid`
   * says the container runs.
   */
  async connect(
    c: Container,
    network: string,
    options: { aliases?: string[]; ip?: string; pid?: number },
  ): Promise<void> {
    const mode = c.HostConfig.NetworkMode || "bridge";
    if (mode === "host" || mode.startsWith("container:")) {
      throw new TypeError(
        "container sharing network namespace with another container or host cannot be connected to any other network",
      );
    }
    if (mode === "none") {
      throw new TypeError(
        "container cannot be connected to multiple networks with one of the networks in private (none) mode",
      );
    }
    await this.service.connect(c.Id, c.Name, network, {
      aliases: options.aliases,
      ip: options.ip,
      running: options.pid ? `/proc/${options.pid}/ns/net` : undefined,
      dns: fields(c).Dns,
    });
  }

  /** Releases a stopped container's network. */
  stop(id: string): Promise<void> {
    return this.service.stop(id);
  }

  /** Forgets a removed container. */
  forget(id: string): Promise<void> {
    return this.service.forget(id);
  }

  /** After a supervisor restart (see NetworkService.recover). */
  recover(running: Map<string, number>, known: Set<string>): Promise<{ released: string[] }> {
    return this.service.recover(running, known);
  }

  /** The PORTS column of `ctr ps` (empty unless running, as Docker shows it). */
  psPorts(c: Container): string {
    if (c.State.Status !== "running" && c.State.Status !== "paused") return "";
    return formatPsPorts(
      this.service.ports(c.Id),
      exposedOf(c).map((k) => {
        const [port, proto = "tcp"] = k.split("/");
        return { port: Number(port), proto: proto as "tcp" | "udp" };
      }),
    );
  }

  /** Docker's NetworkSettings of a container. */
  settings(c: Container, pid: number): NetworkSettings {
    return this.service.settings(c.Id, pid ? `/proc/${pid}/ns/net` : "");
  }

  /** Stops proxies and DNS servers of this process (on supervisor shutdown). */
  close(): Promise<void> {
    return this.service.close();
  }
}
