/**
 * The container lifecycle, as the supervisor runs it: create, start (handing the spec to a
 * warm init), output to the log and to attached clients, exit recording (exit code, OOM,
 * times), restart policies, stop/kill/pause, exec, remove — and adoption of containers that
 * were started by a previous supervisor.
 *
 * State machine (Docker's): created → running ⇄ paused; running → exited | restarting →
 * running; any → removing → (gone). Operations on one container are serialised by a
 * per-container lock; an exit is recorded without the lock (stop waits for it while holding
 * the lock).
 *
 * @module
 */
import type { ContainerNetworking } from "./network/attach.ts";
import type { StartedNetwork } from "./network/service.ts";
import { libc } from "../ffi/libc.ts";
import { IOCTL, parseSignal } from "../ffi/constants.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import type { ImageStore, LoadedImage } from "../image/image_store.ts";
import type { SnapshotStore } from "../image/snapshots.ts";
import type { AttachClient } from "./attach.ts";
import { ContainerCgroup } from "./container_cgroup.ts";
import { stopwatch } from "./trace.ts";
import { type CreateRequest, mergeEnv, mergeImageConfig } from "./container_config.ts";
import { LogWriter, passes, readLogs } from "./container_logs.ts";
import { logRotation, mergeLogConfig, readDaemonLogOpts } from "./log_options.ts";
import { confinementFor, filterResolvConf, hostsFile, processSpec } from "./container_spec.ts";
import { buildInitSpec } from "./container_spec.ts";
import {
  type Container,
  containerPaths,
  type ContainerState,
  type ContainerStore,
  initialState,
} from "./container_store.ts";
import { copyMergedLayers } from "./copy_tree.ts";
import { ContainerStartError, InitProcess } from "./init_process.ts";
import type { InitSpec } from "./init_spec.ts";
import { generateName } from "./names.ts";
import { Frame } from "./protocol.ts";
import { randomHex, type VolumeStore } from "./volume_store.ts";
import { hostIdOf, usernsFor } from "./security/userns.ts";
import {
  chownedCopy,
  idmapLayers,
  type IdmappedLayers,
  mountOverlayOnHost,
  shiftOwners,
} from "./security/idmap_layers.ts";

/** A running (or starting) container's supervision state. */
interface Live {
  id: string;
  pid: number;
  cgroup: ContainerCgroup;
  log: LogWriter;
  clients: Set<AttachClient>;
  stdin?: WritableStreamDefaultWriter<Uint8Array>;
  ptyMaster?: number;
  /** All output read to the end. */
  streams: Promise<unknown>;
  /** Resolves once the exit has been recorded (and the container removed, with --rm). */
  exited: Promise<number>;
  resolveExited: (code: number) => void;
  /** Pending restart timer (restart policies). */
  restartTimer?: ReturnType<typeof setTimeout>;
  /** Exit already being handled. */
  ending: boolean;
}

/** Docker's wait conditions. */
export type WaitCondition = "not-running" | "next-exit" | "removed";

/** Options of an exec. */
export interface ExecRequest {
  cmd: string[];
  env: string[];
  user?: string;
  workdir?: string;
  tty: boolean;
  stdin: boolean;
  privileged?: boolean;
}

/** What the manager needs from its supervisor. */
export interface ManagerHost {
  root: string;
  images: ImageStore;
  snapshots: SnapshotStore;
  store: ContainerStore;
  volumes: VolumeStore;
  /** A message to the monitor (`hold <pid>`, `release <pid>`). */
  tellMonitor(line: string): void;
  /** A ready-to-use init, warm when possible. */
  takeInit(): InitProcess;
  /** A ready-to-use exec helper (an init outside every container, for a `spawn` spec), warm when possible. */
  takeExecHelper(): InitProcess;
  /** Container networking (runtime/network/attach.ts). */
  network: ContainerNetworking;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidStartTime(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  } catch {
    return 0;
  }
}

/**
 * Runs containers for one state root.
 *
 * @example
 * ```ts
 * const manager = new ContainerManager(host);
 * const c = await manager.create(request);
 * await manager.start(c.Id);
 * ```
 */
export class ContainerManager {
  #host: ManagerHost;
  #live = new Map<string, Live>();
  /** `wait --condition next-exit|removed`: who waits for which event of which container. */
  #waiters = new Map<string, Set<{ on: "exit" | "removed"; resolve: (code: number) => void }>>();
  #locks = new Map<string, Promise<unknown>>();

  constructor(host: ManagerHost) {
    this.#host = host;
  }

  get #store(): ContainerStore {
    return this.#host.store;
  }

  /** Runs `fn` with container `id` locked against other lifecycle operations. */
  async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    this.#locks.set(id, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(id) === run) this.#locks.delete(id);
    }
  }

  /** Whether a container is under supervision (starting, running or paused). */
  isLive(id: string): boolean {
    return this.#live.has(id);
  }

  /** Host pids of the running containers (for memory accounting and teardown). */
  livePids(): number[] {
    return [...this.#live.values()].map((l) => l.pid).filter((p) => p > 0);
  }

  // ---------------------------------------------------------------- create

  #images = new Map<string, LoadedImage>();

  /** An image by reference; manifests and configs never change, so they are cached by digest. */
  async #loadImage(ref: string): Promise<LoadedImage> {
    try {
      const rec = this.#host.images.find(ref);
      let image = this.#images.get(rec.digest);
      if (!image) {
        image = await this.#host.images.load(rec.digest);
        if (this.#images.size > 64) this.#images.clear();
        this.#images.set(rec.digest, image);
      }
      return { ...image, names: rec.names };
    } catch (e) {
      if (e instanceof NotFoundError) throw new NotFoundError(`Unable to find image '${ref}' locally`);
      throw e;
    }
  }

  /** Deletes what removals left in the trash (after a crash). */
  sweepTrash(): void {
    try {
      for (const e of Deno.readDirSync(`${this.#host.root}/containers`)) {
        if (e.name.startsWith(".trash-")) {
          Deno.remove(`${this.#host.root}/containers/${e.name}`, { recursive: true }).catch(() => {});
        }
      }
    } catch { /* no containers yet */ }
  }

  /** `--userns=auto` blocks held by the containers of this root. */
  #usernsBlocksInUse(): Set<number> {
    const blocks = new Set<number>();
    for (const c of this.#store.list()) {
      const m = c.HostConfig.IdMappings;
      if (m && c.HostConfig.UsernsMode === "auto") blocks.add(m.Block);
    }
    return blocks;
  }

  /** Creates a container (state `created`): resolves the image, makes its directories and volumes. */
  async create(req: CreateRequest): Promise<Container> {
    const t = stopwatch("create");
    const image = await this.#loadImage(req.image);
    const id = randomHex(32);
    const config = mergeImageConfig(req, image.config, id.slice(0, 12));
    config.Image = req.image;
    const name = req.name || generateName((n) => this.#store.tryFind(n) !== undefined);
    // Every layer unpacked once and shared; the container holds its chain until rm.
    t.lap("image");
    const rootfs = await this.#host.snapshots.prepare(image, { holder: `container:${id}` });
    const lowerDirs = rootfs.lowerDirs;
    t.lap("snapshots");
    const hc = structuredClone(req.hostConfig);
    hc.LogConfig = mergeLogConfig(hc.LogConfig?.Config ?? {}, readDaemonLogOpts(this.#host.root));
    const userns = usernsFor(this.#host.root, hc.UsernsMode, this.#usernsBlocksInUse());
    if (userns) {
      hc.IdMappings = { UidMap: userns.maps.uidMap, GidMap: userns.maps.gidMap, Block: userns.block };
    }
    const anonymous: string[] = [];
    const volumeMap: Record<string, string> = {};
    for (const m of hc.Mounts) {
      if (m.Type !== "volume") continue;
      if (!m.Source) {
        const v = this.#host.volumes.create("", { anonymous: true });
        m.Source = v.Name;
        anonymous.push(v.Name);
      }
      volumeMap[m.Target] = m.Source;
    }
    for (const target of Object.keys(config.Volumes ?? {})) {
      if (hc.Mounts.some((m) => m.Target === target)) continue;
      const v = this.#host.volumes.create("", { anonymous: true });
      anonymous.push(v.Name);
      volumeMap[target] = v.Name;
    }
    const c: Container = {
      Id: id,
      Name: name,
      Created: Date.now(),
      ImageId: image.configDigest,
      ImageDigest: image.digest,
      Config: config,
      HostConfig: hc,
      LowerDirs: lowerDirs,
      AnonymousVolumes: anonymous,
      VolumeMap: volumeMap,
      State: initialState(),
    };
    const paths = containerPaths(this.#host.root, id);
    try {
      // A handful of tiny files: synchronous calls cost less than trips to the I/O threads.
      for (const d of [paths.upper, paths.work, paths.rootfs]) {
        Deno.mkdirSync(d, { recursive: true, mode: 0o700 });
      }
      Deno.chmodSync(paths.upper, 0o755);
      if (hc.IdMappings) {
        // The container's root owns its own layer (and the overlay's work dir), and may pass
        // through (not list) the directories above them, as Docker's remapped roots (0711).
        const uid = hostIdOf(hc.IdMappings.UidMap, 0)!, gid = hostIdOf(hc.IdMappings.GidMap, 0)!;
        for (const d of [paths.upper, paths.work]) Deno.chownSync(d, uid, gid);
        for (const d of [this.#host.root, `${this.#host.root}/containers`, paths.dir, paths.rootfs]) {
          const mode = Deno.statSync(d).mode! & 0o7777;
          if (!(mode & 0o001)) Deno.chmodSync(d, mode | 0o001);
        }
      }
      Deno.writeTextFileSync(paths.hostname, `${config.Hostname}\n`);
      const hostFile = (p: string) => {
        try {
          return Deno.readTextFileSync(p);
        } catch {
          return "";
        }
      };
      if (hc.NetworkMode === "host") {
        Deno.writeTextFileSync(paths.hosts, hostFile("/etc/hosts") || hostsFile(config.Hostname));
        Deno.writeTextFileSync(paths.resolvConf, hostFile("/etc/resolv.conf"));
      } else {
        Deno.writeTextFileSync(paths.hosts, hostsFile(config.Hostname));
        Deno.writeTextFileSync(paths.resolvConf, filterResolvConf(hostFile("/etc/resolv.conf")));
      }
      t.lap("files");
      this.#store.insert(c);
      try {
        this.#host.network.register(c, req.networking);
      } catch (e) {
        this.#store.delete(c.Id);
        throw e;
      }
      t.lap("db");
      t.done();
    } catch (e) {
      await Deno.remove(paths.dir, { recursive: true }).catch(() => {});
      this.#host.snapshots.removeRef(`container:${id}`);
      for (const v of anonymous) {
        try {
          this.#host.volumes.remove(v);
        } catch { /* best effort */ }
      }
      throw e;
    }
    return c;
  }

  // ---------------------------------------------------------------- start

  async #prepareVolumes(c: Container): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [target, name] of Object.entries(c.VolumeMap)) {
      const v = this.#host.volumes.create(name, { anonymous: c.AnonymousVolumes.includes(name) });
      const mount = c.HostConfig.Mounts.find((m) => m.Target === target);
      let empty = true;
      for await (const _ of Deno.readDir(v.Mountpoint)) {
        empty = false;
        break;
      }
      // Docker fills an empty volume with what the image has at the mount point.
      if (empty && !mount?.VolumeNoCopy) await copyMergedLayers(c.LowerDirs, target, v.Mountpoint);
      const ids = c.HostConfig.IdMappings;
      if (ids && empty) {
        // A fresh volume of a remapped container belongs to its root (what the image put
        // there, shifted), as Docker does; the directories above it let that root pass.
        shiftOwners(v.Mountpoint, { uidMap: ids.UidMap, gidMap: ids.GidMap });
        for (
          const d of [`${this.#host.root}/volumes`, v.Mountpoint.slice(0, v.Mountpoint.lastIndexOf("/"))]
        ) {
          const mode = Deno.statSync(d).mode! & 0o7777;
          if (!(mode & 0o001)) Deno.chmodSync(d, mode | 0o001);
        }
      }
      out.set(target, v.Mountpoint);
    }
    return out;
  }

  /**
   * Starts a created or exited container. `clients` are attached before the process starts
   * (so they see all of its output). Throws {@linkcode ContainerStartError} (125/126/127).
   */
  start(ref: string, clients: AttachClient[] = [], tty?: { rows: number; cols: number }): Promise<Container> {
    const c0 = this.#store.find(ref);
    return this.withLock(c0.Id, () => this.#start(c0.Id, clients, tty));
  }

  async #start(
    id: string,
    clients: AttachClient[],
    tty?: { rows: number; cols: number },
  ): Promise<Container> {
    const c = this.#store.find(id);
    if (c.State.Status === "running" || c.State.Status === "paused") {
      if (clients.length) throw new ConflictError(`Container ${c.Id} is already running`);
      return c; // Docker: starting a running container is a no-op
    }
    const live = this.#live.get(id);
    if (live?.restartTimer) {
      clearTimeout(live.restartTimer);
      this.#live.delete(id);
    }
    const t = stopwatch("start");
    const paths = containerPaths(this.#host.root, id);
    const cgroup = new ContainerCgroup(this.#host.root, id);
    let init: InitProcess | undefined;
    let ptyMaster = -1;
    let log: LogWriter | undefined;
    let net: StartedNetwork | undefined;
    let idmapped: IdmappedLayers | undefined;
    let hostRootfs: (() => void) | undefined;
    const cleanup = async () => {
      hostRootfs?.();
      idmapped?.release();
      net?.release();
      await this.#host.network.stop(id).catch(() => {});
      if (init) {
        try {
          init.kill("SIGKILL");
        } catch { /* gone */ }
        await init.status;
        this.#host.tellMonitor(`release ${init.pid}`);
      }
      if (ptyMaster >= 0) libc.close(ptyMaster);
      await cgroup.killAll().catch(() => {});
      await cgroup.destroy().catch(() => {});
      await log?.close();
    };
    try {
      const volumeSources = await this.#prepareVolumes(c);
      t.lap("volumes");
      await cgroup.create(c.HostConfig);
      t.lap("cgroup");
      const idMaps = c.HostConfig.IdMappings;
      if (idMaps) {
        // A user namespace: the network first (ctr-nsexec joins it before the user
        // namespace exists), then a cold init through ctr-nsexec (warm inits are on the host's ids).
        net = await this.#host.network.start(c, paths, (ref) => this.#runningRef(ref));
        init = await InitProcess.spawnInUserns({
          root: this.#host.root,
          maps: { uidMap: idMaps.UidMap, gidMap: idMaps.GidMap },
          netns: net.netns.startsWith("/") ? net.netns : undefined,
        });
        await init.ready;
      } else {
        init = this.#host.takeInit();
        try {
          await init.ready;
        } catch {
          init = InitProcess.spawn(); // a warm init that died is replaced by a cold one
          await init.ready;
        }
      }
      t.lap("init ready");
      await cgroup.join(init.pid);
      t.lap("join");
      this.#host.tellMonitor(`hold ${init.pid}`);
      log = await LogWriter.open(paths.log, logRotation(c.HostConfig.LogConfig));
      // Ports, interfaces, addresses and /etc files before the init joins the namespace.
      net ??= await this.#host.network.start(c, paths, (ref) => this.#runningRef(ref));
      t.lap("network");
      const spec: InitSpec = buildInitSpec(c, {
        paths,
        volumeSources,
        cgroupViews: cgroup.views,
        pidsMax: cgroup.pidsMax(c.HostConfig),
      });
      spec.network = net.netns;
      let lateWrites: { path: string; value: string } | undefined;
      if (idMaps) {
        spec.userns = { uidMap: idMaps.UidMap, gidMap: idMaps.GidMap };
        // ctr-nsexec already joined a network namespace made on the host: stay in it.
        if (net.netns.startsWith("/")) spec.network = "host";
        // The init has no rights on host files any more: pids.max is ours to write.
        lateWrites = spec.pidsMax;
        spec.pidsMax = undefined;
        if (spec.rootfs?.kind === "overlay") {
          const maps = spec.userns;
          try {
            if (Deno.env.get("CTR_USERNS_COPY")) throw new Error("idmapped mounts disabled");
            idmapped = idmapLayers(spec.rootfs.lowerDirs, `${paths.dir}/idmap`, init.pid);
            spec.rootfs.lowerDirs = idmapped.dirs;
          } catch {
            // No idmapped mounts here: a chowned copy of each layer, made once per map.
            const dirs: string[] = [];
            for (const d of spec.rootfs.lowerDirs) {
              dirs.push(await chownedCopy(d, `${this.#host.root}/userns`, maps));
            }
            spec.rootfs.lowerDirs = dirs;
          }
          const r = spec.rootfs;
          hostRootfs = mountOverlayOnHost(r.lowerDirs, r.upperDir, r.workDir, r.target);
          spec.rootfs = { kind: "dir", path: r.target };
        }
      }
      let resolveExited!: (code: number) => void;
      const exited = new Promise<number>((r) => resolveExited = r);
      const l: Live = {
        id,
        pid: init.pid,
        cgroup,
        log,
        clients: new Set(clients),
        streams: Promise.resolve(),
        exited,
        resolveExited,
        ending: false,
      };
      const pumps = [this.#pump(l, init.child.stdout, "stdout"), this.#pump(l, init.child.stderr, "stderr")];
      const keepStdin = c.Config.OpenStdin && !c.Config.Tty;
      t.lap("spec");
      await init.start(spec, {
        keepStdin,
        onPty: (master) => {
          // The container's own pty, created by its init in the container's devpts.
          ptyMaster = master;
          if (tty) setWindowSize(master, tty.rows, tty.cols);
          l.ptyMaster = master;
          pumps.push(this.#pumpPty(l, master));
          this.#host.tellMonitor(`holdpty ${init!.pid} ${master}`);
        },
      });
      l.streams = Promise.all(pumps);
      net.release(); // the init has joined the namespace
      if (lateWrites) Deno.writeTextFileSync(lateWrites.path, lateWrites.value);
      // The container's mount namespace holds the overlay and its layers now.
      hostRootfs?.();
      idmapped?.release();
      t.lap("init exec");
      if (keepStdin) l.stdin = init.child.stdin.getWriter();
      this.#live.set(id, l);
      const ended = init.status;
      const state: ContainerState = {
        ...c.State,
        Status: "running",
        Pid: init.pid,
        PidStartTime: pidStartTime(init.pid),
        ExitCode: 0,
        OOMKilled: false,
        Error: "",
        StartedAt: Date.now(),
        FinishedAt: c.State.FinishedAt,
        StoppedByUser: false,
      };
      this.#store.saveState(id, state);
      ended.then((s) => this.#onExit(id, s.code));
      for (const cl of clients) cl.send(Frame.STARTED, { id });
      t.lap("state");
      t.done();
      return { ...c, State: state };
    } catch (e) {
      await cleanup();
      const code = e instanceof ContainerStartError ? e.code : 125;
      const message = e instanceof Error ? e.message : String(e);
      const current = this.#store.get(id);
      if (current) {
        this.#store.saveState(id, {
          ...current.State,
          Status: current.State.StartedAt ? "exited" : "created",
          ExitCode: code,
          Error: message,
          Pid: 0,
        });
      }
      throw e;
    }
  }

  async #pump(l: Live, stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr"): Promise<void> {
    const type = name === "stdout" ? Frame.STDOUT : Frame.STDERR;
    try {
      for await (const chunk of stream) {
        l.log.write(name, chunk);
        for (const cl of l.clients) cl.send(type, chunk);
      }
    } catch { /* pipe closed */ }
    l.log.flushPartial(name);
  }

  async #pumpPty(l: Live, master: number): Promise<void> {
    for (;;) {
      const buf = new Uint8Array(16384);
      let n: number;
      try {
        n = await libc.readAsync(master, buf);
      } catch {
        break; // EIO: every slave end is closed
      }
      if (n <= 0) break;
      const chunk = buf.subarray(0, n);
      l.log.write("stdout", chunk);
      for (const cl of l.clients) cl.send(Frame.STDOUT, chunk);
    }
    l.log.flushPartial("stdout");
  }

  /** Pumps raw fds (a restarted supervisor reading through the monitor's copies). */
  async #pumpFd(l: Live, fd: number, name: "stdout" | "stderr"): Promise<void> {
    const type = name === "stdout" ? Frame.STDOUT : Frame.STDERR;
    for (;;) {
      const buf = new Uint8Array(65536);
      let n: number;
      try {
        n = await libc.readAsync(fd, buf);
      } catch {
        break;
      }
      if (n <= 0) break;
      const chunk = buf.subarray(0, n);
      l.log.write(name, chunk);
      for (const cl of l.clients) cl.send(type, chunk);
    }
    l.log.flushPartial(name);
    try {
      libc.close(fd);
    } catch { /* closed */ }
  }

  // ---------------------------------------------------------------- exit

  /** Records the exit of a container's PID 1 (from Deno's child status, or the monitor's report). */
  async #onExit(id: string, code: number): Promise<void> {
    const l = this.#live.get(id);
    if (!l || l.ending) return;
    l.ending = true;
    const t = stopwatch("exit");
    // Output written just before the exit is still in the pipes: read it to the end, but do
    // not wait forever on a pipe some escaped process still holds.
    await Promise.race([l.streams, sleep(2000)]);
    t.lap("streams");
    const oom = await l.cgroup.oomKilled();
    t.lap("oom");
    await l.cgroup.killAll().catch(() => {});
    t.lap("killAll");
    await l.cgroup.destroy().catch((e) => console.error(`ctr supervisor: ${e.message}`));
    t.lap("destroy");
    // Taken down in the background (links go slowly, waiting for RCU): the exit is reported
    // now; a restart or rm of this container waits for it.
    this.#host.network.stop(id).catch((e) => console.error(`ctr supervisor: ${e.message}`));
    await l.log.close();
    if (l.ptyMaster !== undefined) {
      try {
        libc.close(l.ptyMaster);
      } catch { /* closed */ }
    }
    await l.stdin?.close().catch(() => {});
    this.#host.tellMonitor(`release ${l.pid}`);
    const c = this.#store.get(id);
    this.#live.delete(id);
    if (!c) {
      l.resolveExited(code);
      this.#notify(id, "exit", code);
      return;
    }
    const now = Date.now();
    const state: ContainerState = {
      ...c.State,
      Status: "exited",
      Pid: 0,
      ExitCode: code,
      OOMKilled: oom,
      FinishedAt: now,
    };
    const policy = c.HostConfig.RestartPolicy;
    const restart = !c.State.StoppedByUser && !c.HostConfig.AutoRemove && (
      policy.Name === "always" || policy.Name === "unless-stopped" ||
      (policy.Name === "on-failure" && code !== 0 &&
        (policy.MaximumRetryCount === 0 || c.State.RestartCount < policy.MaximumRetryCount))
    );
    if (restart) {
      state.Status = "restarting";
      state.RestartCount = c.State.RestartCount + 1;
    }
    this.#store.saveState(id, state);
    t.lap("state");
    if (c.HostConfig.AutoRemove) {
      await this.#remove(c, true).catch((e) => console.error(`ctr supervisor: ${e.message}`));
    }
    t.lap("autoremove");
    t.done();
    for (const cl of l.clients) cl.finish(Frame.EXIT, { code });
    l.resolveExited(code);
    this.#notify(id, "exit", code);
    if (restart) {
      // Docker's back-off: 100 ms doubling per consecutive restart, reset after 10 s of running.
      const ranFor = now - c.State.StartedAt;
      const n = ranFor > 10_000 ? 0 : Math.min(state.RestartCount - 1, 10);
      const delay = Math.min(100 * 2 ** n, 60_000);
      const waiting: Live = { ...l, ending: true, pid: 0, clients: new Set() };
      waiting.restartTimer = setTimeout(() => {
        if (this.#live.get(id) !== waiting) return;
        this.#live.delete(id);
        this.withLock(id, async () => {
          const cur = this.#store.get(id);
          if (cur?.State.Status !== "restarting") return;
          await this.#start(id, []);
        }).catch((e) => console.error(`ctr supervisor: restarting ${id.slice(0, 12)}: ${e.message}`));
      }, delay);
      this.#live.set(id, waiting);
    }
  }

  /** Resolves the waiters of `event` (a removal ends every wait: there will be no exit). */
  #notify(id: string, event: "exit" | "removed", code: number): void {
    const set = this.#waiters.get(id);
    if (!set) return;
    for (const w of set) {
      if (w.on === event || event === "removed") {
        set.delete(w);
        w.resolve(code);
      }
    }
    if (!set.size) this.#waiters.delete(id);
  }

  /** Called with `exit <pid> <code>` from the monitor, for containers adopted after a restart. */
  adoptedExit(pid: number, code: number): boolean {
    for (const l of this.#live.values()) {
      if (l.pid === pid && !l.restartTimer) {
        this.#onExit(l.id, code);
        return true;
      }
    }
    return false;
  }

  /**
   * Takes over a container that a previous supervisor started and that still runs: its exit
   * will come from the monitor; its output through the monitor's pipe copies (see `attachHeld`).
   */
  async adopt(c: Container): Promise<void> {
    const paths = containerPaths(this.#host.root, c.Id);
    let resolveExited!: (code: number) => void;
    const exited = new Promise<number>((r) => resolveExited = r);
    this.#live.set(c.Id, {
      id: c.Id,
      pid: c.State.Pid,
      cgroup: new ContainerCgroup(this.#host.root, c.Id),
      log: await LogWriter.open(paths.log, logRotation(c.HostConfig.LogConfig)),
      clients: new Set(),
      streams: Promise.resolve(),
      exited,
      resolveExited,
      ending: false,
    });
  }

  /** Reads an adopted container's output through the monitor's held pipe ends. */
  attachHeld(pid: number, monitorPid: number, fds: number[]): void {
    const l = [...this.#live.values()].find((x) => x.pid === pid);
    if (!l) return;
    const pumps: Promise<void>[] = [];
    fds.forEach((n, i) => {
      try {
        const fd = libc.open(`/proc/${monitorPid}/fd/${n}`, 0o4000 /* O_NONBLOCK */ | 0o2000000);
        libc.fcntl(fd, 4, /* F_SETFL */ 0); // blocking reads, on a pool thread
        pumps.push(this.#pumpFd(l, fd, i === 0 ? "stdout" : "stderr"));
      } catch { /* gone */ }
    });
    l.streams = Promise.all(pumps);
  }

  /** Takes back an adopted `-t` container's pty master from the monitor's copy. */
  attachHeldPty(pid: number, monitorPid: number, fd: number): void {
    const l = [...this.#live.values()].find((x) => x.pid === pid);
    if (!l) return;
    try {
      const pidfd = libc.pidfdOpen(monitorPid);
      try {
        l.ptyMaster = libc.pidfdGetfd(pidfd, fd);
      } finally {
        libc.close(pidfd);
      }
    } catch {
      return;
    }
    l.streams = Promise.all([l.streams, this.#pumpPty(l, l.ptyMaster)]);
  }

  /** Records a container found dead at supervisor start-up. */
  async recordLostExit(c: Container, code: number | undefined, time: number): Promise<void> {
    const cg = new ContainerCgroup(this.#host.root, c.Id);
    const oom = await cg.oomKilled();
    await cg.killAll().catch(() => {});
    await cg.destroy().catch(() => {});
    this.#store.saveState(c.Id, {
      ...c.State,
      Status: "exited",
      Pid: 0,
      ExitCode: code ?? 255,
      OOMKilled: oom,
      FinishedAt: time,
      Error: code === undefined ? "The container's process ended while ctr's supervisor was down" : "",
    });
    if (c.HostConfig.AutoRemove) this.#remove(c, true).catch(() => {});
  }

  // ---------------------------------------------------------------- stop, kill, pause

  /** Stops a container: its stop signal, then SIGKILL after `timeout` seconds (-1: wait forever). */
  stop(ref: string, timeout?: number, signal?: string): Promise<void> {
    const c0 = this.#store.find(ref);
    return this.withLock(c0.Id, async () => {
      const c = this.#store.find(c0.Id);
      const l = this.#live.get(c.Id);
      if (l?.restartTimer) {
        clearTimeout(l.restartTimer);
        this.#live.delete(c.Id);
        this.#store.saveState(c.Id, { ...c.State, Status: "exited", StoppedByUser: true });
        return;
      }
      if (!l || (c.State.Status !== "running" && c.State.Status !== "paused")) return;
      this.#store.saveState(c.Id, { ...c.State, StoppedByUser: true });
      const sig = parseSignal(signal ?? c.Config.StopSignal ?? "SIGTERM");
      const secs = timeout ?? c.Config.StopTimeout ?? 10;
      try {
        libc.kill(l.pid, sig);
      } catch { /* already gone */ }
      if (c.State.Status === "paused") await l.cgroup.thaw().catch(() => {});
      const done = await Promise.race([
        l.exited.then(() => true),
        secs < 0 ? new Promise<boolean>(() => {}) : sleep(secs * 1000).then(() => false),
      ]);
      if (!done) {
        await l.cgroup.killAll().catch(() => {});
        try {
          libc.kill(l.pid, 9);
        } catch { /* gone */ }
        await l.exited;
      }
    });
  }

  /** Sends a signal to a running container's PID 1. */
  kill(ref: string, signal = "SIGKILL"): void {
    const c = this.#store.find(ref);
    const l = this.#live.get(c.Id);
    if (!l || l.restartTimer || (c.State.Status !== "running" && c.State.Status !== "paused")) {
      throw new ConflictError(`Cannot kill container: ${ref}: Container ${c.Id} is not running`);
    }
    const sig = parseSignal(signal);
    if (sig === 9) this.#store.saveState(c.Id, { ...c.State, StoppedByUser: true });
    libc.kill(l.pid, sig);
    if (sig === 9 && c.State.Status === "paused") l.cgroup.killAll().catch(() => {});
  }

  /** Stops (if running) and starts again. */
  async restart(ref: string, timeout?: number): Promise<void> {
    const c = this.#store.find(ref);
    await this.stop(c.Id, timeout);
    await this.start(c.Id);
  }

  /** Freezes every process of a running container. */
  pause(ref: string): Promise<void> {
    const c0 = this.#store.find(ref);
    return this.withLock(c0.Id, async () => {
      const c = this.#store.find(c0.Id);
      const l = this.#live.get(c.Id);
      if (c.State.Status === "paused") throw new ConflictError(`Container ${c.Id} is already paused`);
      if (!l || c.State.Status !== "running") throw new ConflictError(`Container ${c.Id} is not running`);
      await l.cgroup.freeze();
      this.#store.saveState(c.Id, { ...c.State, Status: "paused" });
    });
  }

  /** Thaws a paused container. */
  unpause(ref: string): Promise<void> {
    const c0 = this.#store.find(ref);
    return this.withLock(c0.Id, async () => {
      const c = this.#store.find(c0.Id);
      const l = this.#live.get(c.Id);
      if (!l || c.State.Status !== "paused") throw new ConflictError(`Container ${c.Id} is not paused`);
      await l.cgroup.thaw();
      this.#store.saveState(c.Id, { ...c.State, Status: "running" });
    });
  }

  /**
   * Waits for a container (Docker's wait conditions): `not-running` (default) returns at
   * once for a container that is not running, else at its exit (after any restart);
   * `next-exit` returns at its next exit, even one of a later start; `removed` when it has
   * been removed. The exit code it had then.
   */
  async wait(ref: string, condition: WaitCondition = "not-running"): Promise<number> {
    const c = this.#store.find(ref);
    if (condition !== "not-running") {
      return await new Promise<number>((resolve) => {
        let set = this.#waiters.get(c.Id);
        if (!set) this.#waiters.set(c.Id, set = new Set());
        set.add({ on: condition === "removed" ? "removed" : "exit", resolve });
      });
    }
    for (;;) {
      const l = this.#live.get(c.Id);
      if (!l) return this.#store.get(c.Id)?.State.ExitCode ?? c.State.ExitCode;
      const code = await l.exited;
      const cur = this.#store.get(c.Id);
      if (!cur || cur.State.Status !== "restarting") return code;
      await sleep(50);
    }
  }

  // ---------------------------------------------------------------- remove

  /** Removes a container (`force` kills a running one first; `volumes` also removes its anonymous volumes). */
  remove(ref: string, options: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const c0 = this.#store.find(ref);
    return this.withLock(c0.Id, async () => {
      const c = this.#store.find(c0.Id);
      const l = this.#live.get(c.Id);
      if (l?.restartTimer) {
        clearTimeout(l.restartTimer);
        this.#live.delete(c.Id);
      } else if (l) {
        if (!options.force) {
          const what = c.State.Status === "paused" ? "paused" : "running";
          throw new ConflictError(
            `You cannot remove a ${what} container ${c.Id}. ${
              what === "paused" ? "Unpause and then stop" : "Stop"
            } the container before attempting removal or force remove`,
          );
        }
        this.#store.saveState(c.Id, { ...c.State, StoppedByUser: true });
        await l.cgroup.killAll().catch(() => {});
        try {
          libc.kill(l.pid, 9);
        } catch { /* gone */ }
        await l.exited;
        if (!this.#store.get(c.Id)) return; // --rm got there first
      }
      await this.#remove(this.#store.find(c.Id), options.volumes ?? false);
    });
  }

  async #remove(c: Container, volumes: boolean): Promise<void> {
    this.#store.saveState(c.Id, { ...c.State, Status: "removing" });
    const paths = containerPaths(this.#host.root, c.Id);
    await new ContainerCgroup(this.#host.root, c.Id).destroy().catch(() => {});
    await this.#host.network.forget(c.Id);
    // Out of the way at once (a rename), deleted in the background: the container is gone for
    // every observer now, and a crash leaves only a trash entry that the next start sweeps.
    const trash = `${this.#host.root}/containers/.trash-${c.Id}`;
    try {
      Deno.renameSync(paths.dir, trash);
      Deno.remove(trash, { recursive: true }).catch((e) => console.error(`ctr supervisor: ${e.message}`));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    this.#store.delete(c.Id);
    this.#notify(c.Id, "removed", c.State.ExitCode);
    this.#host.snapshots.removeRef(`container:${c.Id}`);
    if (volumes) {
      for (const v of c.AnonymousVolumes) {
        if (this.volumeUsers(v).length) continue;
        try {
          this.#host.volumes.remove(v);
        } catch { /* gone */ }
      }
    }
  }

  /** Names of the containers using volume `name`. */
  volumeUsers(name: string): string[] {
    return this.#store.list().filter((c) => Object.values(c.VolumeMap).includes(name)).map((c) => c.Name);
  }

  // ---------------------------------------------------------------- attach, logs, exec

  /** Attaches a client to a running container's output (and stdin). */
  attach(ref: string, client: AttachClient): Container {
    const c = this.#store.find(ref);
    const l = this.#live.get(c.Id);
    if (!l || l.restartTimer || c.State.Status !== "running") {
      throw new ConflictError(`You cannot attach to a stopped container, start it first`);
    }
    l.clients.add(client);
    client.gone.then(() => l.clients.delete(client));
    return c;
  }

  /** Input from an attached client. */
  async input(id: string, type: number, payload: Uint8Array): Promise<void> {
    const l = this.#live.get(id);
    if (!l) return;
    if (type === Frame.STDIN) {
      if (l.ptyMaster !== undefined) {
        await libc.writeAsync(l.ptyMaster, payload as Uint8Array<ArrayBuffer>).catch(() => {});
      } else await l.stdin?.write(payload).catch(() => {});
    } else if (type === Frame.STDIN_EOF) {
      if (l.ptyMaster === undefined) await l.stdin?.close().catch(() => {});
    } else if (type === Frame.RESIZE && l.ptyMaster !== undefined) {
      const { rows, cols } = JSON.parse(new TextDecoder().decode(payload));
      setWindowSize(l.ptyMaster, rows, cols);
    } else if (type === Frame.SIGNAL) {
      const { signal } = JSON.parse(new TextDecoder().decode(payload));
      try {
        libc.kill(l.pid, signal);
      } catch { /* gone */ }
    }
  }

  /** Log entries for `logs`, then (with `follow`) live ones until the container stops. */
  async logs(
    ref: string,
    client: AttachClient,
    options: { follow: boolean; since?: number; until?: number; tail?: number; timestamps: boolean },
  ): Promise<void> {
    const c = this.#store.find(ref);
    const paths = containerPaths(this.#host.root, c.Id);
    const l = this.#live.get(c.Id);
    const send = (e: { log: string; stream: string; time: string }) => {
      const text = options.timestamps ? `${e.time} ${e.log}` : e.log;
      client.send(e.stream === "stderr" ? Frame.STDERR : Frame.STDOUT, new TextEncoder().encode(text));
    };
    if (!options.follow || !l || l.restartTimer) {
      for (const e of await readLogs(paths.log, options)) send(e);
      await client.finish(Frame.EXIT, { code: 0 });
      return;
    }
    const live: { log: string; stream: string; time: string }[] = [];
    let handover = true;
    const unsubscribe = l.log.subscribe(({ entry }) => {
      if (!passes(entry, options)) return;
      if (handover) live.push(entry);
      else send(entry);
    });
    const end = l.log.position;
    await l.log.flushed();
    const endFile = l.log.rotated - end.generation; // rotations since the offset was taken
    for (const e of await readLogs(paths.log, { ...options, endOffset: end.offset, endFile })) send(e);
    handover = false;
    for (const e of live) send(e);
    await Promise.race([l.exited, client.gone]);
    unsubscribe();
    await client.finish(Frame.EXIT, { code: 0 });
  }

  /** Runs a process in a running container; resolves with its exit code. */
  async exec(
    ref: string,
    req: ExecRequest,
    client: AttachClient | undefined,
    options: {
      tty?: { rows: number; cols: number };
      input?: AsyncIterable<{ type: number; payload: Uint8Array }>;
    } = {},
  ): Promise<number> {
    const tty = options.tty;
    const c = this.#store.find(ref);
    const l = this.#live.get(c.Id);
    if (c.State.Status === "paused") {
      throw new ConflictError(`Container ${c.Id} is paused, unpause the container before exec`);
    }
    if (!l || l.restartTimer || c.State.Status !== "running") {
      throw new ConflictError(`Container ${c.Name} is not running`);
    }
    if (req.workdir && !req.workdir.startsWith("/")) {
      throw new TypeError(
        `the working directory '${req.workdir}' is invalid, it needs to be an absolute path`,
      );
    }
    // A warm exec helper joins the container's namespaces itself and spawns the process;
    // a user namespace cannot be entered by a threaded process, so that takes a cold init
    // through ctr-nsexec, spawned straight into the container's pid namespace.
    const t = stopwatch("exec");
    const helper = !c.HostConfig.IdMappings;
    let init = helper ? this.#host.takeExecHelper() : InitProcess.spawn({
      joinPid: l.pid,
      joinUserns: { root: this.#host.root },
    });
    let master = -1;
    try {
      try {
        await init.ready;
      } catch (e) {
        if (!helper) throw e;
        init = InitProcess.spawn({ execHelper: true }); // the warm one died: a cold one
        await init.ready;
      }
      t.lap("helper ready");
      await l.cgroup.join(init.pid);
      t.lap("cgroup");
      const base = processSpec(c);
      const spec: InitSpec = {
        mode: "join",
        joinPid: l.pid,
        spawn: helper,
        process: {
          ...base,
          args: req.cmd,
          env: mergeEnv(c.Config.Env, req.env),
          cwd: req.workdir || c.Config.WorkingDir || "/",
          user: req.user ?? c.Config.User,
          terminal: req.tty,
          stdin: req.stdin && !req.tty,
          rlimits: [],
          init: false,
        },
        // exec --privileged: every capability, the container's other settings.
        confinement: confinementFor(c.HostConfig, { allCapabilities: req.privileged }).plan,
      };
      const idMaps = c.HostConfig.IdMappings;
      if (idMaps) spec.userns = { uidMap: idMaps.UidMap, gidMap: idMaps.GidMap };
      const pumps: Promise<unknown>[] = [];
      const forward = async (stream: ReadableStream<Uint8Array>, type: number) => {
        for await (const chunk of stream) client?.send(type, chunk);
      };
      pumps.push(forward(init.child.stdout, Frame.STDOUT).catch(() => {}));
      pumps.push(forward(init.child.stderr, Frame.STDERR).catch(() => {}));
      const pumpPty = async (fd: number) => {
        for (;;) {
          const buf = new Uint8Array(16384);
          let n: number;
          try {
            n = await libc.readAsync(fd, buf);
          } catch {
            break;
          }
          if (n <= 0) break;
          client?.send(Frame.STDOUT, buf.subarray(0, n));
        }
      };
      await init.start(spec, {
        keepStdin: req.stdin && !req.tty,
        onPty: (fd) => {
          master = fd;
          if (tty) setWindowSize(fd, tty.rows, tty.cols);
          pumps.push(pumpPty(fd));
        },
      });
      t.lap("started");
      const pid = init.spawnedPid ?? init.pid;
      client?.send(Frame.STARTED, { id: String(pid) });
      const stdinWriter = req.stdin && !req.tty ? init.child.stdin.getWriter() : undefined;
      const execIo = { stdin: stdinWriter, master };
      if (options.input) this.#readExecInput(options.input, execIo, pid);
      const status = await init.status;
      t.lap("exited");
      await Promise.race([Promise.all(pumps), sleep(1000)]);
      t.lap("output");
      t.done();
      return status.code;
    } finally {
      if (master >= 0) {
        try {
          libc.close(master);
        } catch { /* closed */ }
      }
      try {
        init.kill("SIGKILL");
      } catch { /* gone */ }
    }
  }

  async #readExecInput(
    input: AsyncIterable<{ type: number; payload: Uint8Array }>,
    io: { stdin?: WritableStreamDefaultWriter<Uint8Array>; master: number },
    pid: number,
  ): Promise<void> {
    for await (const f of input) {
      if (f.type === Frame.STDIN) {
        if (io.master >= 0) {
          await libc.writeAsync(io.master, f.payload as Uint8Array<ArrayBuffer>).catch(() => {});
        } else await io.stdin?.write(f.payload).catch(() => {});
      } else if (f.type === Frame.STDIN_EOF) {
        await io.stdin?.close().catch(() => {});
      } else if (f.type === Frame.RESIZE && io.master >= 0) {
        const { rows, cols } = JSON.parse(new TextDecoder().decode(f.payload));
        setWindowSize(io.master, rows, cols);
      } else if (f.type === Frame.SIGNAL) {
        const { signal } = JSON.parse(new TextDecoder().decode(f.payload));
        try {
          libc.kill(pid, signal);
        } catch { /* gone */ }
      }
    }
  }

  /** A running container by name or id (for `--network container:NAME`). */
  #runningRef(ref: string): { id: string; pid: number } | undefined {
    const c = this.#store.tryFind(ref);
    const pid = c && this.pidOf(c.Id);
    return c && pid ? { id: c.Id, pid } : undefined;
  }

  /** The live pid of a running container (for top, stats, cp). */
  pidOf(id: string): number | undefined {
    const l = this.#live.get(id);
    return l && !l.restartTimer ? l.pid : undefined;
  }

  /** The cgroup of a live container. */
  cgroupOf(id: string): ContainerCgroup | undefined {
    const l = this.#live.get(id);
    return l && !l.restartTimer ? l.cgroup : undefined;
  }

  /** Kills every live container (supervisor teardown). */
  async killAll(): Promise<void> {
    const waits: Promise<number>[] = [];
    for (const l of this.#live.values()) {
      if (l.restartTimer) {
        clearTimeout(l.restartTimer);
        continue;
      }
      l.cgroup.killAll().catch(() => {});
      try {
        libc.kill(l.pid, 9);
      } catch { /* gone */ }
      waits.push(l.exited);
    }
    await Promise.race([Promise.all(waits), sleep(5000)]);
  }
}

/** TIOCSWINSZ on a pty master. */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const ws = new Uint8Array(8);
  const v = new DataView(ws.buffer);
  v.setUint16(0, rows, true);
  v.setUint16(2, cols, true);
  try {
    libc.ioctl(fd, IOCTL.TIOCSWINSZ, ws);
  } catch { /* closed */ }
}
