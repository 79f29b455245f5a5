/**
 * The supervisor of one state root: a long-lived process that owns the containers' lifecycle
 * (see `lifecycle.ts`), answers the CLI over `<root>/run/ctr.sock` (see `protocol.ts`), and
 * keeps one warm init — already PID 1 of a fresh pid namespace, waiting for its spec — so a
 * `ctr run` does not pay for a Deno start-up on its critical path.
 *
 * It is started by the monitor (`monitor.ts`), talks to it over stdin/stdout (one command per
 * line; nothing else may be printed on stdout), logs to stderr, and writes its pid to
 * `<root>/supervisor.pid`. On start-up it reconciles the database with reality: containers
 * still running are adopted, those that ended meanwhile get the exit code the monitor
 * recorded.
 *
 * @module
 */
import { ContainerNetworking } from "./network/attach.ts";
import { networkSchema } from "./network/store.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { libc } from "../ffi/libc.ts";
import { O } from "../ffi/constants.ts";
import { ImageStore } from "../image/image_store.ts";
import { SnapshotStore } from "../image/snapshots.ts";
import { AttachClient } from "./attach.ts";
import type { CreateRequest } from "./container_config.ts";
import { parseSince } from "./container_logs.ts";
import { type Container, containerPaths, containerSchema, ContainerStore } from "./container_store.ts";
import { inspectContainer } from "./inspect.ts";
import { ContainerStartError, InitProcess } from "./init_process.ts";
import { ContainerManager, type ExecRequest, type WaitCondition } from "./lifecycle.ts";
import { type ExitRecord, exitsDir } from "./monitor.ts";
import { networkIo, processTable, systemCpuNs } from "./process_table.ts";
import { ConnReader, Frame, reachableSocketPath, socketPath, type WireError, writeAll } from "./protocol.ts";
import { VolumeStore } from "./volume_store.ts";
import {
  currentBootId,
  everythingWentDown,
  type FoundContainer,
  recordBootId,
  recordedBootId,
  shouldStartAtBoot,
} from "./restart_on_boot.ts";

function wireError(e: unknown): WireError {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ContainerStartError) return { kind: "Start", message, code: e.code };
  if (e instanceof NotFoundError) return { kind: "NotFound", message };
  if (e instanceof ConflictError) return { kind: "Conflict", message };
  if (e instanceof TypeError || e instanceof RangeError) return { kind: "Usage", message };
  return { kind: "Internal", message };
}

type Request = Record<string, unknown> & { op: string };

/**
 * One state root's supervisor.
 *
 * @example
 * ```ts
 * await Supervisor.run("/var/lib/ctr");
 * ```
 */
export class Supervisor {
  readonly root: string;
  readonly images: ImageStore;
  readonly store: ContainerStore;
  readonly volumes: VolumeStore;
  readonly manager: ContainerManager;
  readonly network: ContainerNetworking;
  #warm: InitProcess[] = [];
  #warmTarget = 2;
  #warmExec?: InitProcess;
  #shuttingDown = false;
  #listener?: Deno.Listener;
  #monitorPid = 0;
  #encoder = new TextEncoder();

  private constructor(root: string) {
    this.root = root;
    this.images = ImageStore.open(root, [containerSchema, networkSchema]);
    this.store = new ContainerStore(this.images.db);
    this.volumes = new VolumeStore(root, this.images.db);
    this.network = new ContainerNetworking(root, this.images.db);
    this.manager = new ContainerManager({
      root,
      images: this.images,
      snapshots: SnapshotStore.open(root, this.images),
      store: this.store,
      volumes: this.volumes,
      tellMonitor: (line) => this.#tellMonitor(line),
      takeInit: () => this.#takeInit(),
      takeExecHelper: () => this.#takeExecHelper(),
      network: this.network,
    });
  }

  /** Starts the supervisor of `root` and serves until asked to shut down. */
  static async run(root: string): Promise<void> {
    const s = new Supervisor(root);
    await s.#serve();
  }

  #tellMonitor(line: string): void {
    try {
      Deno.stdout.writeSync(this.#encoder.encode(line + "\n"));
    } catch { /* no monitor (tests) */ }
  }

  #takeInit(): InitProcess {
    // The oldest warm init that is ready; a second one covers back-to-back starts while the
    // first is being replaced.
    const init = this.#warm.shift() ?? InitProcess.spawn();
    try {
      libc.setNice(init.pid, 0); // back to normal priority for the real work
    } catch { /* gone: its start reports why */ }
    // Refill once the current start is under way, so the new Deno process does not compete
    // with the one being handed its spec.
    setTimeout(() => this.#fillWarm(), 100);
    return init;
  }

  /**
   * The warm exec helper, made after the first exec (a root that never execs does not pay
   * for an idle process) and replaced after each one.
   */
  #takeExecHelper(): InitProcess {
    const helper = this.#warmExec ?? InitProcess.spawn({ execHelper: true });
    this.#warmExec = undefined;
    setTimeout(() => {
      if (this.#warmExec || this.#shuttingDown) return;
      try {
        const next = InitProcess.spawn({ execHelper: true });
        try {
          libc.setNice(next.pid, 10);
        } catch { /* gone */ }
        next.ready.catch(() => {
          if (this.#warmExec === next) this.#warmExec = undefined;
        });
        this.#warmExec = next;
      } catch (e) {
        console.error(`ctr supervisor: cannot spawn a warm exec helper: ${(e as Error).message}`);
      }
    }, 100);
    return helper;
  }

  #fillWarm(): void {
    while (this.#warm.length < this.#warmTarget) {
      try {
        const init = InitProcess.spawn();
        // Warming up is background work: it must not slow down a start in flight.
        try {
          libc.setNice(init.pid, 10);
        } catch { /* gone */ }
        init.ready.catch(() => {
          this.#warm = this.#warm.filter((w) => w !== init);
        });
        this.#warm.push(init);
      } catch (e) {
        console.error(`ctr supervisor: cannot spawn a warm init: ${(e as Error).message}`);
        return;
      }
    }
  }

  async #reconcile(): Promise<void> {
    const exits = new Map<number, ExitRecord>();
    try {
      for (const e of Deno.readDirSync(exitsDir(this.root))) {
        if (!/^\d+$/.test(e.name)) continue;
        try {
          const rec = JSON.parse(Deno.readTextFileSync(`${exitsDir(this.root)}/${e.name}`)) as ExitRecord;
          exits.set(rec.pid, rec);
        } catch { /* torn */ }
      }
    } catch { /* none */ }
    // Networking first: what dead containers held is released before any of them restarts.
    const all = this.store.list();
    const running = new Map(
      all.filter((c) =>
        (c.State.Status === "running" || c.State.Status === "paused") && c.State.Pid > 0 &&
        this.#alive(c.State.Pid, c.State.PidStartTime)
      ).map((c) => [c.Id, c.State.Pid]),
    );
    await this.network.recover(running, new Set(all.map((c) => c.Id)))
      .catch((e) => console.error(`ctr supervisor: network recovery: ${e.message}`));
    const found: FoundContainer[] = all.map((c) => {
      const s = c.State;
      const wasRunning = s.Status === "running" || s.Status === "paused" || s.Status === "restarting";
      return {
        container: c,
        wasRunning,
        alive: wasRunning && s.Status !== "restarting" && s.Pid > 0 && this.#alive(s.Pid, s.PidStartTime),
        recordedExit: wasRunning ? exits.get(s.Pid)?.code : undefined,
      };
    });
    const bootId = currentBootId();
    const previousBoot = recordedBootId(this.root);
    const rebooted = previousBoot !== undefined && bootId !== "" && previousBoot !== bootId;
    const situation = { rebooted, fresh: everythingWentDown(found, rebooted) };
    if (situation.fresh) {
      console.error(
        `ctr supervisor: ${
          rebooted ? "the host rebooted" : "every process of this root was gone"
        }: applying restart policies`,
      );
    }
    const toStart: Container[] = [];
    for (const f of found) {
      const c = f.container;
      if (f.alive) {
        await this.manager.adopt(c);
        continue;
      }
      if (f.wasRunning) {
        const rec = exits.get(c.State.Pid);
        await this.manager.recordLostExit(c, rec?.code, rec?.time ?? Date.now());
      }
      if (shouldStartAtBoot(f, situation)) toStart.push(c);
    }
    if (bootId) recordBootId(this.root, bootId);
    for (const c of toStart) {
      this.manager.start(c.Id).catch((e) => console.error(`ctr supervisor: restart ${c.Name}: ${e.message}`));
    }
    for (const pid of exits.keys()) {
      try {
        Deno.removeSync(`${exitsDir(this.root)}/${pid}`);
      } catch { /* gone */ }
    }
  }

  #alive(pid: number, startTime: number): boolean {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return fields[0] !== "Z" && Number(fields[19]) === startTime;
    } catch {
      return false;
    }
  }

  async #readMonitor(): Promise<void> {
    let buf = "";
    try {
      for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) !== -1) {
          const [cmd, ...rest] = buf.slice(0, nl).trim().split(" ");
          buf = buf.slice(nl + 1);
          if (cmd === "exit") {
            const pid = Number(rest[0]);
            if (this.manager.adoptedExit(pid, Number(rest[1]))) {
              try {
                Deno.removeSync(`${exitsDir(this.root)}/${pid}`);
              } catch { /* gone */ }
            }
          } else if (cmd === "held") {
            this.manager.attachHeld(Number(rest[0]), this.#monitorPid, rest.slice(1).map(Number));
          } else if (cmd === "heldpty") {
            this.manager.attachHeldPty(Number(rest[0]), this.#monitorPid, Number(rest[1]));
          } else if (cmd === "shutdown") {
            await this.#shutdown(false);
          }
        }
      }
    } catch { /* stdin closed */ }
  }

  async #serve(): Promise<void> {
    Deno.mkdirSync(`${this.root}/run`, { recursive: true });
    // Two supervisors of one root would both adopt its containers: the second one leaves.
    const lock = libc.open(`${this.root}/run/supervisor.lock`, O.RDWR | O.CREAT | O.CLOEXEC, 0o600);
    if (!libc.tryLock(lock)) {
      console.error("ctr supervisor: another supervisor runs for this root");
      Deno.exit(0);
    }
    try {
      this.#monitorPid = Number(Deno.readTextFileSync(`${this.root}/run/monitor.pid`).trim());
    } catch { /* started without a monitor */ }
    await this.#reconcile();
    this.manager.sweepTrash();
    const path = socketPath(this.root);
    try {
      Deno.removeSync(path);
    } catch { /* none */ }
    this.#listener = Deno.listen({ transport: "unix", path: reachableSocketPath(path) });
    Deno.writeTextFileSync(`${this.root}/supervisor.pid`, String(Deno.pid));
    this.#readMonitor();
    this.#tellMonitor("ready");
    this.#fillWarm();
    for await (const conn of this.#listener) this.#handle(conn);
  }

  async #shutdown(killContainers: boolean): Promise<never> {
    this.#tellMonitor("stop");
    if (killContainers) await this.manager.killAll();
    await this.network.close();
    this.#shuttingDown = true;
    for (const w of [...this.#warm, ...(this.#warmExec ? [this.#warmExec] : [])]) {
      await w.discard().catch(() => {});
    }
    try {
      this.#listener?.close();
    } catch { /* closed */ }
    try {
      Deno.removeSync(`${this.root}/supervisor.pid`);
    } catch { /* gone */ }
    Deno.exit(0);
  }

  async #handle(conn: Deno.Conn): Promise<void> {
    const reader = new ConnReader(conn);
    let req: Request | null;
    try {
      req = await reader.readJson<Request>();
    } catch {
      conn.close();
      return;
    }
    if (!req) {
      conn.close();
      return;
    }
    const reply = async (body: object) => {
      await writeAll(conn, this.#encoder.encode(JSON.stringify(body) + "\n"));
    };
    try {
      const streaming = await this.#dispatch(req, conn, reader, reply);
      if (!streaming) conn.close();
    } catch (e) {
      if (wireError(e).kind === "Internal") {
        console.error(`ctr supervisor: ${req.op}: ${(e as Error)?.stack ?? e}`);
      }
      try {
        await reply({ ok: false, error: wireError(e) });
      } catch { /* client gone */ }
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  /** Handles one request; returns true when the connection now streams (and is closed later). */
  async #dispatch(
    req: Request,
    conn: Deno.Conn,
    reader: ConnReader,
    reply: (body: object) => Promise<void>,
  ): Promise<boolean> {
    const m = this.manager;
    const ref = String(req.ref ?? "");
    switch (req.op) {
      case "ping":
        await reply({ ok: true, pid: Deno.pid });
        return false;
      case "create": {
        const c = await m.create(req.request as CreateRequest);
        await reply({ ok: true, id: c.Id });
        return false;
      }
      case "run":
      case "start": {
        const attach = req.attach as { stdin: boolean; stdout: boolean; stderr: boolean } | undefined;
        const tty = req.tty as { rows: number; cols: number } | undefined;
        let c: Container;
        if (req.op === "run") c = await m.create(req.request as CreateRequest);
        else c = this.store.find(ref);
        if (!attach) {
          try {
            await m.start(c.Id, [], tty);
          } catch (e) {
            if (req.op === "run" && c.HostConfig.AutoRemove) {
              await m.remove(c.Id, { force: true, volumes: true });
            }
            throw e;
          }
          await reply({ ok: true, id: c.Id });
          return false;
        }
        await reply({ ok: true, id: c.Id, tty: c.Config.Tty });
        const client = new AttachClient(conn, { stdout: attach.stdout, stderr: attach.stderr });
        this.#pumpInput(c.Id, reader, attach.stdin, client);
        try {
          await m.start(c.Id, [client], tty);
        } catch (e) {
          if (req.op === "run" && c.HostConfig.AutoRemove) {
            await m.remove(c.Id, { force: true, volumes: true }).catch(() => {});
          }
          const err = wireError(e);
          await client.finish(Frame.ERROR, { code: err.code ?? 125, message: err.message });
        }
        return true;
      }
      case "attach": {
        const client = new AttachClient(conn, { stdout: req.stdout !== false, stderr: req.stderr !== false });
        const c = m.attach(ref, client);
        await reply({ ok: true, id: c.Id, tty: c.Config.Tty });
        this.#pumpInput(c.Id, reader, req.stdin === true, client);
        return true;
      }
      case "stop":
        await m.stop(ref, req.timeout as number | undefined, req.signal as string | undefined);
        await reply({ ok: true });
        return false;
      case "kill":
        m.kill(ref, (req.signal as string | undefined) ?? "SIGKILL");
        await reply({ ok: true });
        return false;
      case "restart":
        await m.restart(ref, req.timeout as number | undefined);
        await reply({ ok: true });
        return false;
      case "rm":
        await m.remove(ref, { force: req.force === true, volumes: req.volumes === true });
        await reply({ ok: true });
        return false;
      case "pause":
        await m.pause(ref);
        await reply({ ok: true });
        return false;
      case "unpause":
        await m.unpause(ref);
        await reply({ ok: true });
        return false;
      case "wait": {
        const condition = String(req.condition ?? "") || "not-running";
        if (!["not-running", "next-exit", "removed"].includes(condition)) {
          throw new TypeError(`invalid condition: "${condition}"`);
        }
        const code = await m.wait(ref, condition as WaitCondition);
        await reply({ ok: true, StatusCode: code });
        return false;
      }
      case "list":
        await reply({
          ok: true,
          now: Date.now(),
          containers: this.store.list().map((c) => ({ ...c, Ports: this.network.psPorts(c) })),
        });
        return false;
      case "find": {
        const c = this.store.find(ref);
        await reply({
          ok: true,
          container: c,
          pid: m.pidOf(c.Id) ?? 0,
          paths: containerPaths(this.root, c.Id),
        });
        return false;
      }
      case "inspect": {
        const c = this.store.find(ref);
        const vols = new Map(Object.entries(c.VolumeMap).map(([t, n]) => [t, this.volumes.dataPath(n)]));
        const doc = inspectContainer(c, containerPaths(this.root, c.Id), vols);
        doc.NetworkSettings = this.network.settings(c, m.pidOf(c.Id) ?? 0);
        await reply({ ok: true, container: doc });
        return false;
      }
      case "port": {
        const c = this.store.find(ref);
        await reply({
          ok: true,
          running: m.pidOf(c.Id) !== undefined,
          ports: this.network.service.ports(c.Id),
        });
        return false;
      }
      case "network.connect":
      case "network.disconnect": {
        const c = this.store.find(String(req.container ?? ""));
        await m.withLock(c.Id, async () => {
          const pid = m.pidOf(c.Id);
          if (req.op === "network.disconnect") {
            await this.network.service.disconnect(c.Id, String(req.network ?? ""), req.force === true);
          } else {
            await this.network.connect(c, String(req.network ?? ""), {
              aliases: (req.aliases as string[] | undefined) ?? [],
              ip: (req.ip as string | undefined) || undefined,
              pid,
            });
          }
        });
        await reply({ ok: true });
        return false;
      }
      case "rename": {
        const c = this.store.find(ref);
        const name = String(req.name ?? "").replace(/^\//, "");
        if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) {
          throw new TypeError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
        }
        if (name === c.Name) {
          throw new ConflictError(`Renaming a container with the same name as its current name`);
        }
        this.store.rename(c.Id, name);
        this.network.service.store.renameContainer(c.Id, name); // its DNS name follows
        await reply({ ok: true });
        return false;
      }
      case "logs": {
        const c = this.store.find(ref);
        // Bad times are refused before the stream starts, so the CLI fails with the message.
        const now = Date.now();
        const since = req.since ? parseSince(String(req.since), now) : undefined;
        const until = req.until ? parseSince(String(req.until), now, "until") : undefined;
        await reply({ ok: true, tty: c.Config.Tty });
        const client = new AttachClient(conn, { stdout: req.stdout !== false, stderr: req.stderr !== false });
        (async () => {
          for await (const _ of reader.frames()) { /* the client only closes */ }
          client.close();
        })();
        await m.logs(c.Id, client, {
          follow: req.follow === true,
          since,
          until,
          tail: typeof req.tail === "number" && req.tail >= 0 ? req.tail : undefined,
          timestamps: req.timestamps === true,
        });
        return true;
      }
      case "exec": {
        const r = req.exec as ExecRequest & { detach?: boolean };
        const tty = req.tty as { rows: number; cols: number } | undefined;
        if (r.detach) {
          const c = this.store.find(ref);
          if (m.pidOf(c.Id) === undefined) throw new ConflictError(`Container ${c.Name} is not running`);
          m.exec(ref, { ...r, stdin: false, tty: false }, undefined).catch((e) =>
            console.error(`ctr supervisor: exec -d: ${e.message}`)
          );
          await reply({ ok: true });
          return false;
        }
        const c = this.store.find(ref);
        if (c.State.Status === "paused") {
          throw new ConflictError(`Container ${c.Id} is paused, unpause the container before exec`);
        }
        if (m.pidOf(c.Id) === undefined) throw new ConflictError(`Container ${c.Name} is not running`);
        await reply({ ok: true });
        const client = new AttachClient(conn, { stdout: true, stderr: true });
        try {
          const code = await m.exec(ref, r, client, { tty, input: reader.frames() });
          await client.finish(Frame.EXIT, { code });
        } catch (e) {
          const err = wireError(e);
          await client.finish(Frame.ERROR, { code: err.code ?? 125, message: err.message });
        }
        return true;
      }
      case "top": {
        const c = this.store.find(ref);
        const cg = m.cgroupOf(c.Id);
        if (!cg) throw new ConflictError(`Container ${c.Id} is not running`);
        await reply({ ok: true, ...processTable(await cg.pids()) });
        return false;
      }
      case "stats": {
        const ids = (req.refs as string[] | undefined)?.length
          ? (req.refs as string[]).map((r) => this.store.find(r))
          : this.store.list().filter((c) => c.State.Status === "running" || c.State.Status === "paused");
        const system = systemCpuNs();
        const samples = await Promise.all(ids.map(async (c) => {
          const cg = m.cgroupOf(c.Id);
          const pid = m.pidOf(c.Id);
          return {
            id: c.Id,
            name: c.Name,
            running: cg !== undefined,
            stats: await cg?.stats().catch(() => undefined),
            net: pid ? networkIo(pid) : { rx: 0, tx: 0 },
          };
        }));
        await reply({ ok: true, system, cpus: navigator.hardwareConcurrency, samples });
        return false;
      }
      case "prune": {
        const deleted: string[] = [];
        for (const c of this.store.list()) {
          if (c.State.Status !== "exited" && c.State.Status !== "created" && c.State.Status !== "dead") {
            continue;
          }
          if (m.isLive(c.Id)) continue;
          await m.remove(c.Id).then(() => deleted.push(c.Id)).catch(() => {});
        }
        await reply({ ok: true, deleted });
        return false;
      }
      case "volume.create": {
        const name = String(req.name ?? "");
        if (name && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) {
          throw new TypeError(
            `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`,
          );
        }
        const v = this.volumes.create(name, {
          labels: req.labels as Record<string, string>,
          driver: req.driver as string | undefined,
          opts: req.opts as Record<string, string>,
          anonymous: false,
        });
        await reply({ ok: true, volume: v });
        return false;
      }
      case "volume.list":
        await reply({
          ok: true,
          volumes: this.volumes.list().map((v) => ({ ...v, InUse: m.volumeUsers(v.Name).length > 0 })),
        });
        return false;
      case "volume.inspect":
        await reply({ ok: true, volume: this.volumes.find(String(req.name)) });
        return false;
      case "volume.rm": {
        const name = String(req.name);
        const users = m.volumeUsers(name);
        if (users.length && req.force !== true) this.volumes.remove(name, users);
        else if (!users.length) this.volumes.remove(name);
        else throw new ConflictError(`remove ${name}: volume is in use - [${users.join(", ")}]`);
        await reply({ ok: true });
        return false;
      }
      case "volume.prune": {
        const deleted: string[] = [];
        for (const v of this.volumes.list()) {
          if (!req.all && !v.Anonymous) continue;
          if (m.volumeUsers(v.Name).length) continue;
          this.volumes.remove(v.Name);
          deleted.push(v.Name);
        }
        await reply({ ok: true, deleted });
        return false;
      }
      case "processes":
        await reply({
          ok: true,
          supervisor: Deno.pid,
          monitor: this.#monitorPid,
          warm: [...this.#warm, ...(this.#warmExec ? [this.#warmExec] : [])].map((w) => w.pid),
          containers: m.livePids(),
        });
        return false;
      case "shutdown":
        await reply({ ok: true });
        conn.close();
        await this.#shutdown(req.killContainers === true);
        return true;
      default:
        throw new TypeError(`Unknown operation: ${req.op}`);
    }
  }

  /** Client input (stdin, resize, signals) for an attached container, until the client goes. */
  #pumpInput(id: string, reader: ConnReader, stdin: boolean, client: AttachClient): void {
    (async () => {
      for await (const f of reader.frames()) {
        if (!stdin && (f.type === Frame.STDIN || f.type === Frame.STDIN_EOF)) continue;
        await this.manager.input(id, f.type, f.payload);
      }
      client.close();
    })();
  }
}
