/**
 * Container networking, end to end: the one object the runtime talks to.
 *
 * - `register` (at create) records which networks a container joins (`--network`,
 *   `--network-alias`, `--ip`); `forget` (at rm) drops that.
 * - `start` (before the container's init is spawned) binds the published ports (a taken
 *   port fails here, before anything else happens), creates a fresh network namespace held
 *   by an fd, plugs a veth into each network's bridge with the peer created inside that
 *   namespace, sets addresses and the default route, installs DNAT rules, starts the
 *   embedded DNS of user networks and writes /etc/hosts and /etc/resolv.conf. It returns the
 *   namespace path the init joins (`InitSpec.network`), so no synchronisation with the init
 *   is needed: the namespace is complete before the init exists. (`--network none` returns
 *   `none`: the init makes its loopback-only namespace itself, which is cheaper.)
 * - `stop` (when the container's process is gone) undoes all of that; a network's bridge,
 *   address and rules go with its last container. Link removal waits for RCU in the kernel,
 *   so it runs on Deno's blocking pool; the runtime need not wait for it, and a later
 *   `start` or `forget` of the same container does.
 * - `recover` (when a supervisor starts) releases what dead containers held and re-binds
 *   ports and DNS for live ones.
 *
 * The long-lived parts — port proxies and DNS servers — live in the process that owns this
 * object, which must outlive the containers' starts: the supervisor.
 *
 * Setting a network up runs inside the host-wide subnet-claims lock and the database's write
 * transaction (in that order, everywhere), so concurrent `ctr` processes see each network's
 * bridge and rules either fully set up or not at all; within the supervisor, plugging into
 * and tearing down one network are ordered by a per-network lock.
 *
 * @module
 */
import { type Database, transaction } from "../../image/db.ts";
import { libc } from "../../ffi/libc.ts";
import { createNetns, netnsPath } from "../../ffi/netns.ts";
import { RouteNetlink } from "../../ffi/rtnetlink.ts";
import { NotFoundError } from "../../errors.ts";
import { connectEndpoint, ensureBridge, hostSubnets, hostVethName, removeBridge } from "./bridge.ts";
import { DnsServer } from "./dns_server.ts";
import { buildHosts, buildResolvConf, parseResolvConf } from "./etc_files.ts";
import { containerOwner, Firewall, firewallTableName, networkOwner } from "./firewall.ts";
import { DEFAULT_SUBNET, pickSubnet, prefixLengthOf } from "./ipam.ts";
import { SubnetClaims } from "./subnet_claims.ts";
import { createHash } from "node:crypto";
import { DEFAULT_NETWORK_CONFIG, loadNetworkConfig, type NetworkConfig } from "./config.ts";
import { PortPublisher } from "./port_proxy.ts";
import type { BoundPort, PortMapping } from "./ports.ts";
import { type EndpointRecord, type NetworkRecord, type NetworkSpec, NetworkStore } from "./store.ts";

/** Where the default bridge of a root other than /var/lib/ctr takes its /24 from. */
export const SIDE_ROOT_POOL = { base: "10.90.0.0/15", size: 24 } as const;

function rootHash(root: string): string {
  return createHash("sha256").update(root.replace(/\/+$/, "")).digest("hex").slice(0, 8);
}

/** Options of a {@linkcode NetworkService}. */
export interface NetworkServiceOptions {
  /** The state root (names the nftables table). */
  root: string;
  /** The metadata database, opened with `networkSchema`. */
  db: Database;
  /** The host's resolv.conf (default `/etc/resolv.conf`). */
  hostResolvConf?: string;
  /** Settings (default: read from the state root's config file, see config.ts). */
  config?: Partial<NetworkConfig>;
  /** Host-wide subnet claims (default /run/ctr/subnets). */
  claimsDir?: string;
  /** Port of the embedded DNS (53; tests may use another). */
  dnsPort?: number;
}

/** How a container joins networks, as given at create. */
export interface NetworkRequest {
  containerId: string;
  containerName: string;
  /** `bridge` (default), `host`, `none`, `container:<id>`, or a network name or id. */
  networkMode?: string;
  /** `--network-alias` (user-defined networks only). */
  aliases?: string[];
  /** `--ip` (user-defined networks only). */
  ip?: string;
}

/** What `start` needs at each start. */
export interface StartRequest {
  containerId: string;
  containerName: string;
  /** The NetworkMode given at create (see {@linkcode NetworkRequest}). */
  networkMode?: string;
  hostname: string;
  domainname?: string;
  /** For `container:<id>` mode: the other container's namespace, `/proc/<pid>/ns/net`. */
  joinNetns?: string;
  /** Published ports (`-p`, plus what `-P` adds). */
  publish?: PortMapping[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  extraHosts?: string[];
  /** Files to write (they are bind-mounted onto /etc/hosts and /etc/resolv.conf). */
  hostsPath?: string;
  resolvConfPath?: string;
}

/** One network of a container, as `inspect` shows it (Docker's EndpointSettings). */
export interface EndpointSettings {
  Aliases: string[] | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
  IPAMConfig: { IPv4Address: string } | null;
}

/** Docker's NetworkSettings (the parts ctr fills). */
export interface NetworkSettings {
  Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
  SandboxKey: string;
  Networks: Record<string, EndpointSettings>;
  IPAddress: string;
  Gateway: string;
  IPPrefixLen: number;
  MacAddress: string;
}

/** The result of {@linkcode NetworkService.start}. */
export interface StartedNetwork {
  /** `InitSpec.network`: `host`, `none`, or a namespace path for the init to join. */
  netns: string;
  ports: BoundPort[];
  endpoints: EndpointRecord[];
  /** Call once the init has joined the namespace (or failed to): closes the fd holding it. */
  release(): void;
}

type Mode =
  | { kind: "host" }
  | { kind: "none" }
  | { kind: "container"; ref: string }
  | { kind: "networks" };

/**
 * Parses a NetworkMode.
 *
 * @example
 * ```ts
 * parseNetworkMode("container:web"); // { kind: "container", ref: "web" }
 * ```
 */
export function parseNetworkMode(mode: string | undefined): Mode {
  const m = mode ?? "bridge";
  if (m === "host") return { kind: "host" };
  if (m === "none") return { kind: "none" };
  if (m.startsWith("container:")) {
    const ref = m.slice("container:".length);
    if (!ref) throw new TypeError("Invalid network mode container: (no container given)");
    return { kind: "container", ref };
  }
  if (m === "") return { kind: "networks" };
  return { kind: "networks" };
}

/**
 * The networking of the containers of one state root.
 *
 * @example
 * ```ts
 * const net = new NetworkService({ root, db });
 * net.register({ containerId, containerName: "web", networkMode: "mynet" });
 * const started = await net.start({ containerId, containerName: "web", hostname: "web", publish });
 * spawnInit({ ...spec, network: started.netns });
 * started.release();
 * ```
 */
export class NetworkService {
  readonly store: NetworkStore;
  readonly root: string;
  readonly #options: NetworkServiceOptions;
  /** The settings in effect. */
  readonly config: NetworkConfig;
  /** Subnets claimed by every root on this host. */
  readonly claims: SubnetClaims;
  readonly #publishers = new Map<string, PortPublisher>();
  readonly #dns = new Map<string, DnsServer>();
  readonly #dnsStarting = new Map<string, Promise<void>>();
  readonly #netLocks = new Map<string, Promise<void>>();
  readonly #stopping = new Map<string, Promise<void>>();
  #firewall: Firewall | null | undefined;

  constructor(options: NetworkServiceOptions) {
    this.#options = options;
    this.root = options.root;
    this.config = {
      ...(options.config ? DEFAULT_NETWORK_CONFIG : loadNetworkConfig(options.root)),
      ...options.config,
    };
    this.claims = new SubnetClaims(options.claimsDir);
    this.store = new NetworkStore(options.db);
  }

  /** The firewall, or null without nftables (opened on first use). */
  get firewall(): Firewall | null {
    if (this.#firewall === undefined) {
      this.#firewall = this.config.nftables ? Firewall.open(firewallTableName(this.root)) : null;
    }
    return this.#firewall;
  }

  /** Creates the predefined `bridge`, `host` and `none` networks when missing. */
  ensureBuiltins(): void {
    if (["bridge", "host", "none"].every((n) => this.store.getNetwork(n))) return;
    this.claims.withLock(() =>
      transaction(this.store.db, () => {
        if (!this.store.getNetwork("bridge")) {
          // The default root gets the well-known names (as Podman's); any other root its own
          // bridge and a subnet no other root holds, so roots can run side by side.
          const isDefaultRoot = this.root.replace(/\/+$/, "") === "/var/lib/ctr";
          const subnet = this.config.subnet ?? (isDefaultRoot
            ? DEFAULT_SUBNET
            : pickSubnet([...this.claims.othersOf(this.root), ...hostSubnets()], SIDE_ROOT_POOL));
          const n = this.store.createNetwork({
            name: "bridge",
            driver: "bridge",
            bridge: this.config.bridge ?? (isDefaultRoot ? "ctr0" : `ctr${rootHash(this.root)}`),
            subnet,
            gateway: this.config.gateway,
            builtin: true,
            options: { "com.docker.network.bridge.default_bridge": "true" },
          });
          this.claims.claim(n.subnet!, this.root, n.id);
        }
        if (!this.store.getNetwork("host")) {
          this.store.createNetwork({ name: "host", driver: "host", builtin: true });
        }
        if (!this.store.getNetwork("none")) {
          this.store.createNetwork({ name: "none", driver: "null", builtin: true });
        }
      })
    );
  }

  /**
   * Creates a user-defined network, its subnet checked against (or picked around) the
   * subnets of the host and of every other root, and claims it.
   */
  createNetwork(spec: NetworkSpec): NetworkRecord {
    return this.claims.withLock(() =>
      transaction(this.store.db, () => {
        const n = this.store.createNetwork({
          ...spec,
          hostSubnets: spec.subnet ? [] : [...this.claims.othersOf(this.root), ...hostSubnets()],
          pools: spec.pools ?? this.config.pools,
        });
        if (n.subnet) this.claims.claim(n.subnet, this.root, n.id);
        return n;
      })
    );
  }

  /** Removes a network's record and claim (its bridge went with its last container). */
  releaseNetwork(n: NetworkRecord): void {
    this.claims.withLock(() =>
      transaction(this.store.db, () => {
        this.store.removeNetwork(n.id);
        if (n.subnet) this.claims.release(n.subnet, this.root);
      })
    );
  }

  /** Whether a network is the default bridge (no embedded DNS, no aliases, no --ip). */
  static isDefaultBridge(n: NetworkRecord): boolean {
    return n.builtin && n.driver === "bridge";
  }

  /**
   * Records the networks of a new container (at create). Checks what Docker checks: the
   * network exists, aliases and `--ip` only on user-defined networks.
   */
  register(req: NetworkRequest): void {
    const mode = parseNetworkMode(req.networkMode);
    if (mode.kind !== "networks") {
      if (req.aliases?.length) {
        throw new TypeError("network-scoped alias is supported only for containers in user defined networks");
      }
      if (req.ip) throw new TypeError("user specified IP address is supported on user defined networks only");
      return;
    }
    this.ensureBuiltins();
    const net = this.store.getNetwork(req.networkMode || "bridge");
    if (!net) throw new NotFoundError(`network ${req.networkMode} not found`);
    if (net.driver === "host" || net.driver === "null") {
      return this.register({ ...req, networkMode: net.driver === "host" ? "host" : "none" });
    }
    if (NetworkService.isDefaultBridge(net)) {
      if (req.aliases?.length) {
        throw new TypeError("network-scoped alias is supported only for containers in user defined networks");
      }
      if (req.ip) throw new TypeError("user specified IP address is supported on user defined networks only");
    }
    this.store.attach(req.containerId, net.id, req.containerName, { aliases: req.aliases, ip: req.ip });
  }

  /** Forgets a removed container: stops its networking if still up, drops its attachments. */
  async forget(containerId: string): Promise<void> {
    await this.stop(containerId);
    this.store.detachAll(containerId);
  }

  /**
   * Sets up a container's networking before its init is spawned. On failure nothing stays
   * behind (ports released, interfaces and rules removed).
   */
  async start(req: StartRequest): Promise<StartedNetwork> {
    const mode = parseNetworkMode(req.networkMode);
    const hostResolv = this.#readHostResolvConf();
    if (!req.dns?.length && this.config.dns.length) req = { ...req, dns: this.config.dns };
    if (mode.kind === "host") {
      await this.#writeEtc(
        req,
        buildHosts({
          hostname: req.hostname,
          domainname: req.domainname,
          addresses: [],
          extraHosts: req.extraHosts,
        }),
        buildResolvConf({
          host: hostResolv,
          mode: "host",
          dns: req.dns,
          dnsSearch: req.dnsSearch,
          dnsOptions: req.dnsOptions,
        }),
      );
      return { netns: "host", ports: [], endpoints: [], release() {} };
    }
    if (mode.kind === "container") {
      if (!req.joinNetns) throw new TypeError(`The namespace of container ${mode.ref} is needed to join it`);
      // The hosts and resolv.conf of the other container are what Docker shows; the
      // runtime bind-mounts those. Nothing to set up here.
      return { netns: req.joinNetns, ports: [], endpoints: [], release() {} };
    }
    if (mode.kind === "none") {
      // Only a loopback: the init makes that namespace itself (unshare + lo up), which is
      // cheaper than building and holding one here, on the path of every `run --network none`.
      await this.#writeEtc(req, this.#hosts(req, []), this.#resolvConf(req, [], hostResolv));
      return { netns: "none", ports: [], endpoints: [], release() {} };
    }
    // A previous run's teardown still under way finishes first.
    await this.#stopping.get(req.containerId)?.catch(() => {});
    const attachments = this.store.attachmentsOf(req.containerId);
    const publish = attachments.length ? req.publish ?? [] : [];
    // 1. Ports first: a taken port is an error before anything else exists.
    const publisher = publish.length ? await PortPublisher.bind(publish) : undefined;
    let nsFd = -1;
    const endpoints: EndpointRecord[] = [];
    try {
      // 2. A namespace of our own, complete before the init joins it.
      nsFd = createNetns();
      using inside = RouteNetlink.open({ netns: nsFd });
      inside.setLink("lo", { up: true });
      // 3. One interface per network, in connection order.
      for (const a of attachments) {
        const fd = nsFd;
        endpoints.push(
          await this.#withNetworkLock(
            a.networkId,
            () => this.#plug(req.containerId, a.networkId, fd, inside, endpoints.length === 0, req.dns ?? []),
          ),
        );
      }
      // 4. Ports: kernel DNAT where nftables is, the proxy where not (and as the holder).
      const first = endpoints[0];
      if (publisher && first) {
        const bound = publisher.bound;
        this.firewall?.addContainerPorts(
          req.containerId,
          bound.map((b) => ({ ...b, containerIp: first.ip })),
        );
        this.store.setPorts(req.containerId, bound.map((b) => ({ ...b })));
        publisher.startProxy(first.ip);
        this.#publishers.set(req.containerId, publisher);
      }
      // 5. Embedded DNS for user networks.
      for (const ep of endpoints) await this.#ensureDns(ep.networkId);
      // 6. /etc files.
      await this.#writeEtc(req, this.#hosts(req, endpoints), this.#resolvConf(req, endpoints, hostResolv));
      const fd = nsFd;
      let released = false;
      return {
        netns: netnsPath(fd),
        ports: publisher?.bound ?? [],
        endpoints,
        release() {
          if (released) return;
          released = true;
          libc.close(fd);
        },
      };
    } catch (e) {
      await publisher?.close();
      this.#publishers.delete(req.containerId);
      try {
        await this.stop(req.containerId);
      } catch { /* report the original failure */ }
      if (nsFd >= 0) libc.close(nsFd);
      throw e;
    }
  }

  #rt(): RouteNetlink {
    return RouteNetlink.open();
  }

  /** Allocates an endpoint and plugs it in, all in one transaction. */
  #plug(
    containerId: string,
    networkId: string,
    nsFd: number,
    inside: RouteNetlink,
    defaultRoute: boolean,
    dns: string[],
  ): EndpointRecord {
    // Lock order everywhere: the host-wide claims lock, then the database's write lock.
    return this.claims.withLock(() =>
      transaction(this.store.db, () => {
        const net = this.store.requireNetwork(networkId);
        const a = this.store.attachment(containerId, net.id);
        if (!a) throw new NotFoundError(`container ${containerId} is not connected to network ${net.name}`);
        const firstOnNetwork = this.store.endpointsOn(net.id).length === 0;
        // After a reboot /run is empty: claim again when the bridge comes up.
        if (firstOnNetwork) this.claims.claim(net.subnet!, this.root, net.id);
        const ifname = `eth${this.store.endpointsOf(containerId).length}`;
        const ep = this.store.allocateEndpoint(net.id, containerId, a.containerName, {
          ip: a.requestedIp,
          aliases: a.aliases,
          ifname,
          dns,
        });
        const hostVeth = hostVethName(containerId, net.id);
        this.store.setHostVeth(net.id, containerId, hostVeth);
        using rt = this.#rt();
        const spec = {
          bridge: net.bridge!,
          subnet: net.subnet!,
          gateway: net.gateway!,
          internal: net.internal,
        };
        ensureBridge(rt, spec, { localnet: this.firewall !== null, ipForward: this.config.ipForward });
        if (firstOnNetwork || !this.firewall?.owners().has(networkOwner(net.id))) {
          this.firewall?.addNetwork({ ...spec, id: net.id });
        }
        connectEndpoint(rt, inside, nsFd, { hostVeth, ifname, ip: ep.ip, mac: ep.mac, defaultRoute }, spec);
        return { ...ep, hostVeth };
      })
    );
  }

  /**
   * Runs `fn` with network `id` locked within this process: plugging into a bridge and
   * taking the bridge down never interleave. (Only the supervisor plugs and unplugs, so one
   * process per root is all there is to order.)
   */
  async #withNetworkLock<T>(id: string, fn: () => T | Promise<T>): Promise<T> {
    const prev = this.#netLocks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => release = r);
    const chained = prev.then(() => mine);
    this.#netLocks.set(id, chained);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#netLocks.get(id) === chained) this.#netLocks.delete(id);
    }
  }

  /**
   * Takes one endpoint down; the network's bridge and rules go with its last endpoint. Link
   * removal waits for RCU grace periods in the kernel (~20 ms for a veth, ~50 ms for a
   * bridge), so it runs off the event loop.
   */
  async #unplug(ep: EndpointRecord): Promise<void> {
    await this.#withNetworkLock(ep.networkId, async () => {
      {
        using rt = this.#rt();
        await rt.deleteLinkAsync(ep.hostVeth ?? hostVethName(ep.containerId, ep.networkId));
      }
      const last = this.claims.withLock(() =>
        transaction(this.store.db, () => {
          this.store.releaseEndpoint(ep.networkId, ep.containerId);
          return this.store.endpointsOn(ep.networkId).length === 0;
        })
      );
      if (last) await this.#teardownNetwork(ep.networkId);
    });
  }

  async #teardownNetwork(networkId: string): Promise<void> {
    const net = this.store.getNetwork(networkId);
    this.firewall?.removeNetwork(networkId);
    const dns = this.#dns.get(networkId);
    if (dns) {
      this.#dns.delete(networkId);
      await dns.close();
    }
    if (net?.bridge) {
      using rt = this.#rt();
      await rt.deleteLinkAsync(net.bridge);
    }
  }

  /**
   * Undoes `start` (safe to call when nothing is up). Calls for one container run one after
   * the other, and a `start` of it waits for them.
   */
  stop(containerId: string): Promise<void> {
    const prev = this.#stopping.get(containerId) ?? Promise.resolve();
    const p = prev.catch(() => {}).then(() => this.#stopNow(containerId));
    this.#stopping.set(containerId, p);
    p.catch(() => {}).finally(() => {
      if (this.#stopping.get(containerId) === p) this.#stopping.delete(containerId);
    });
    return p;
  }

  async #stopNow(containerId: string): Promise<void> {
    const publisher = this.#publishers.get(containerId);
    this.#publishers.delete(containerId);
    await publisher?.close();
    for (const ep of this.store.endpointsOf(containerId)) await this.#unplug(ep);
    transaction(this.store.db, () => {
      this.firewall?.removeContainer(containerId);
      this.store.removePorts(containerId);
      if (this.store.allEndpoints().length === 0) this.firewall?.removeTableIfUnused();
    });
  }

  /**
   * Connects a container to a network: always recorded; when `running` gives its
   * namespace (`/proc/<pid>/ns/net`), the interface is plugged in now.
   */
  async connect(
    containerId: string,
    containerName: string,
    networkRef: string,
    options: { aliases?: string[]; ip?: string; running?: string; dns?: string[] } = {},
  ): Promise<EndpointRecord | undefined> {
    this.ensureBuiltins();
    const net = this.store.requireNetwork(networkRef);
    if (net.driver !== "bridge") {
      throw new TypeError(`container cannot be connected to ${net.driver} network ${net.name}`);
    }
    if (NetworkService.isDefaultBridge(net) && (options.aliases?.length || options.ip)) {
      throw new TypeError("network-scoped alias and IP address are supported only on user defined networks");
    }
    this.store.attach(containerId, net.id, containerName, { aliases: options.aliases, ip: options.ip });
    if (!options.running) return undefined;
    const fd = libc.open(options.running, 0o2000000);
    try {
      using inside = RouteNetlink.open({ netns: fd });
      const first = this.store.endpointsOf(containerId).length === 0;
      const ep = await this.#withNetworkLock(
        net.id,
        () => this.#plug(containerId, net.id, fd, inside, first, options.dns ?? []),
      );
      await this.#ensureDns(net.id);
      return ep;
    } catch (e) {
      this.store.detach(containerId, net.id);
      throw e;
    } finally {
      libc.close(fd);
    }
  }

  /** Disconnects a container from a network (unplugging it when running). */
  async disconnect(containerId: string, networkRef: string, force = false): Promise<void> {
    const net = force ? this.store.getNetwork(networkRef) : this.store.requireNetwork(networkRef);
    if (!net) return;
    const a = this.store.attachment(containerId, net.id);
    const ep = this.store.endpoint(net.id, containerId);
    if (!a && !ep) {
      if (force) return;
      throw new NotFoundError(`container ${containerId} is not connected to network ${net.name}`);
    }
    if (ep) await this.#unplug(ep);
    this.store.detach(containerId, net.id);
  }

  /**
   * After a supervisor restart: `running` maps each live container id to its pid; every
   * container ctr still knows is in `known`. Releases what dead or removed containers hold,
   * removes stray rules and bridges, re-binds live containers' ports and DNS.
   */
  async recover(running: Map<string, number>, known: Set<string>): Promise<{ released: string[] }> {
    const released: string[] = [];
    for (const id of this.store.orphanedContainers((c) => running.has(c))) {
      released.push(id);
      await this.stop(id);
      if (!known.has(id)) this.store.detachAll(id);
    }
    transaction(this.store.db, () => {
      using rt = this.#rt();
      const live = new Set(this.store.allEndpoints().map((e) => e.networkId));
      for (const n of this.store.listNetworks()) {
        if (n.driver === "bridge" && !live.has(n.id)) {
          this.firewall?.removeNetwork(n.id);
          if (n.bridge) removeBridge(rt, n.bridge);
        }
      }
      const liveContainers = new Set(this.store.allEndpoints().map((e) => e.containerId));
      this.firewall?.prune((owner) =>
        [...live].some((id) => owner === networkOwner(id)) ||
        [...liveContainers].some((id) => owner === containerOwner(id))
      );
      if (!live.size) this.firewall?.removeTableIfUnused();
    });
    for (const [id] of running) {
      const ports = this.store.portsOf(id);
      const first = this.store.endpointsOf(id)[0];
      if (ports.length && first && !this.#publishers.has(id)) {
        try {
          const pub = await PortPublisher.bind(ports.map((p) => ({
            hostIp: p.hostIp === "0.0.0.0" ? "" : p.hostIp,
            hostPortStart: p.hostPort,
            hostPortEnd: p.hostPort,
            containerPort: p.containerPort,
            proto: p.proto,
          })));
          pub.startProxy(first.ip);
          this.#publishers.set(id, pub);
        } catch { /* the DNAT rules still carry the traffic; the port is just not held */ }
      }
      for (const ep of this.store.endpointsOf(id)) await this.#ensureDns(ep.networkId);
    }
    return { released };
  }

  /** Published ports of a running container, for `ctr port`. */
  ports(containerId: string): BoundPort[] {
    return this.store.portsOf(containerId).map((p) => ({
      containerPort: p.containerPort,
      proto: p.proto,
      hostIp: p.hostIp,
      hostPort: p.hostPort,
    }));
  }

  /** Docker's NetworkSettings for a container (addresses only while it runs). */
  settings(containerId: string, sandboxKey = ""): NetworkSettings {
    const ports: NetworkSettings["Ports"] = {};
    for (const p of this.store.portsOf(containerId)) {
      (ports[`${p.containerPort}/${p.proto}`] ??= []).push({
        HostIp: p.hostIp,
        HostPort: String(p.hostPort),
      });
    }
    const networks: Record<string, EndpointSettings> = {};
    const eps = new Map(this.store.endpointsOf(containerId).map((e) => [e.networkId, e]));
    for (const a of this.store.attachmentsOf(containerId)) {
      const n = this.store.getNetwork(a.networkId);
      if (!n) continue;
      const ep = eps.get(n.id);
      networks[n.name] = {
        Aliases: a.aliases.length ? a.aliases : null,
        NetworkID: n.id,
        EndpointID: ep ? `${n.id.slice(0, 32)}${containerId.slice(0, 32)}` : "",
        Gateway: ep ? n.gateway ?? "" : "",
        IPAddress: ep?.ip ?? "",
        IPPrefixLen: ep && n.subnet ? prefixLengthOf(n.subnet) : 0,
        MacAddress: ep?.mac ?? "",
        IPAMConfig: a.requestedIp ? { IPv4Address: a.requestedIp } : null,
      };
    }
    const def = Object.entries(networks).find(([name]) => name === "bridge")?.[1];
    return {
      Ports: ports,
      SandboxKey: sandboxKey,
      Networks: networks,
      IPAddress: def?.IPAddress ?? "",
      Gateway: def?.Gateway ?? "",
      IPPrefixLen: def?.IPPrefixLen ?? 0,
      MacAddress: def?.MacAddress ?? "",
    };
  }

  /** Names a query on network `networkId` may ask for, answered from live endpoints. */
  lookup(networkId: string, name: string): string[] | null {
    const net = this.store.getNetwork(networkId);
    if (!net) return null;
    const q = name.toLowerCase();
    const suffix = `.${net.name.toLowerCase()}`;
    const bare = q.endsWith(suffix) ? q.slice(0, -suffix.length) : q;
    const hits = this.store.endpointsOn(networkId).filter((e) =>
      e.containerName.toLowerCase() === bare ||
      e.aliases.some((a) => a.toLowerCase() === bare) ||
      (bare.length >= 12 && /^[0-9a-f]+$/.test(bare) && e.containerId.startsWith(bare))
    );
    return hits.length ? hits.map((e) => e.ip) : null;
  }

  #ensureDns(networkId: string): Promise<void> {
    if (this.#dns.has(networkId)) return Promise.resolve();
    // Concurrent starts on one network share one listen attempt.
    let starting = this.#dnsStarting.get(networkId);
    if (!starting) {
      starting = this.#startDns(networkId).finally(() => this.#dnsStarting.delete(networkId));
      this.#dnsStarting.set(networkId, starting);
    }
    return starting;
  }

  async #startDns(networkId: string): Promise<void> {
    const net = this.store.getNetwork(networkId);
    if (!net || NetworkService.isDefaultBridge(net) || !net.gateway) return;
    const hostServers = parseResolvConf(this.#readHostResolvConf()).nameservers;
    try {
      const server = await DnsServer.listen({
        address: net.gateway,
        port: this.#options.dnsPort ?? 53,
        lookup: (name) => this.lookup(networkId, name),
        upstreams: hostServers,
        upstreamsFor: (source) => {
          const ep = this.store.endpointsOn(networkId).find((e) => e.ip === source);
          return ep?.dns.length ? ep.dns : hostServers;
        },
      });
      if (this.#dns.has(networkId)) await server.close();
      else this.#dns.set(networkId, server);
    } catch (e) {
      // Without the resolver, containers still work by address; say why names fail.
      console.error(`ctr: embedded DNS for network ${net.name} could not listen on ${net.gateway}: ${e}`);
    }
  }

  #readHostResolvConf(): string {
    try {
      return Deno.readTextFileSync(this.#options.hostResolvConf ?? "/etc/resolv.conf");
    } catch {
      return "";
    }
  }

  #hosts(req: StartRequest, endpoints: EndpointRecord[]): string {
    // As Docker: only the hostname names the container's own addresses; other containers'
    // names come from the embedded DNS.
    const first = endpoints[0] && this.store.getNetwork(endpoints[0].networkId);
    return buildHosts({
      hostname: req.hostname,
      domainname: req.domainname,
      addresses: endpoints.map((e) => e.ip),
      extraHosts: req.extraHosts,
      hostGateway: first?.gateway,
    });
  }

  #resolvConf(req: StartRequest, endpoints: EndpointRecord[], hostResolv: string): string {
    const user = endpoints.map((e) => this.store.getNetwork(e.networkId)).find((n) =>
      n && !NetworkService.isDefaultBridge(n) && this.#dns.has(n.id)
    );
    return buildResolvConf({
      host: hostResolv,
      mode: user ? "embedded" : "direct",
      resolver: user?.gateway,
      dns: req.dns,
      dnsSearch: req.dnsSearch,
      dnsOptions: req.dnsOptions,
    });
  }

  async #writeEtc(req: StartRequest, hosts: string, resolv: string): Promise<void> {
    // Written in place (same inode): the files may already be bind-mounted into a container.
    if (req.hostsPath) await Deno.writeTextFile(req.hostsPath, hosts);
    if (req.resolvConfPath) await Deno.writeTextFile(req.resolvConfPath, resolv);
  }

  /** Stops the DNS servers and proxies of this process (containers and rules stay). */
  async close(): Promise<void> {
    // Teardowns under way finish first (the supervisor exits right after this).
    await Promise.allSettled([...this.#stopping.values()]);
    for (const p of this.#publishers.values()) await p.close();
    this.#publishers.clear();
    for (const d of this.#dns.values()) await d.close();
    this.#dns.clear();
    this.#firewall?.close();
    this.#firewall = undefined;
  }
}
