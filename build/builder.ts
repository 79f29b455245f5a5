/**
 * The build driver: Dockerfile + context → an image in the local store.
 *
 * Stages the target needs are built wave by wave (stages of one wave in parallel). Each
 * stage is evaluated by {@linkcode StageState}; each layer step's cache key is looked up in
 * the {@linkcode BuildCache} and, on a miss, executed into a fresh layer directory —
 * COPY/ADD/WORKDIR write into it directly, RUN runs in a one-shot container with it as the
 * overlay upper dir (`run_container.ts`) — which then becomes a deterministic layer blob
 * and, moved into the snapshot store, the lower dir of the next step (no unpack of what was
 * just written). Base images missing locally (or all, with `pull: true`) are pulled.
 *
 * Reproducible by default: timestamps are clamped to `epoch` (SOURCE_DATE_EPOCH or 0),
 * history and config carry no host data, RUN containers have a fixed hostname, so the same
 * inputs give the same digest.
 *
 * RUN's network: `RUN --network=none|host` as written; `default` means what the build asks
 * for (`--network`, default `host` — BuildKit's standalone default, and what gives a RUN
 * outbound access without a per-build bridge).
 *
 * Nothing is left behind: every mount lives in a container's own mount namespace, the
 * scratch and layer directories of a build sit under one temp directory removed at the end
 * (and swept by the next build if the process died), and the whole build holds the GC
 * lease so a concurrent prune never deletes a blob between its write and its record.
 *
 * ```text
 * <root>/build/
 * ├── tmp/<random>/        layer and scratch dirs of a running build (removed after)
 * ├── tmp/<random>.lock    flock held by that build; an unlocked directory is stale
 * └── cache-mounts/        RUN --mount=type=cache directories (run_mounts.ts)
 * ```
 *
 * @module
 */
import type { Compression } from "../image/compression.ts";
import { ImageStore, type LoadedImage } from "../image/image_store.ts";
import {
  type Descriptor,
  formatPlatform,
  hostPlatform,
  type ImageConfig,
  type Manifest,
  MediaType,
  parsePlatform,
  type Platform,
} from "../image/oci.ts";
import { chainIds, SnapshotStore } from "../image/snapshots.ts";
import { digestOf } from "../image/digest.ts";
import { pinContent, withLease } from "../image/gc.ts";
import { NotFoundError } from "../errors.ts";
import { globalScope, platformArgs } from "./build_args.ts";
import { BUILD_CACHE_HOLDER, BuildCache } from "./build_cache.ts";
import { baseCacheKey, contentDigest, stepCacheKey } from "./cache_key.ts";
import type { BuildContext, HostTree } from "./context.ts";
import { type CopyItem, planCopy, type SourceTree } from "./copy_plan.ts";
import { type LowerView, overlayLowerView, writeCopyItems, writeInlineFiles } from "./copy_writer.ts";
import { type DockerfileStages, parseDockerfileStages } from "./dockerfile/instructions.ts";
import { DockerfileParseError } from "./dockerfile/parser.ts";
import { cleanPath, isIgnored, parseDockerignore } from "./dockerignore.ts";
import { createLayerDir, missingPaths, normalizeLayerDir, removeMountStubs } from "./layer_dir.ts";
import type { AddSources } from "./add_sources.ts";
import type { SecretSource } from "./run_mounts.ts";
import type { InitProcess } from "../runtime/init_process.ts";
import { resolveStageRef, type StageGraph, stageGraph } from "./stage_graph.ts";
import { type CopyStep, type RunStep, StageState, type Step, type WorkdirStep } from "./stage_state.ts";
import { needsAccountFiles, type Owner, resolveOwner } from "./user_spec.ts";

/** Progress events for the printer (`progress.ts`). Ids number the vertices of the build. */
export type BuildEvent =
  /** A vertex starts: `[stage n/N] INSTRUCTION`, `exporting to image`, … */
  | { type: "step"; id: number; label: string }
  /** The vertex's result came from the cache. */
  | { type: "cached"; id: number }
  /** Output of a RUN (stdout and stderr interleaved as they come). */
  | { type: "output"; id: number; chunk: Uint8Array }
  /** A status line of a vertex (`writing image sha256:… done`). */
  | { type: "status"; id: number; text: string }
  | { type: "done"; id: number; ms: number }
  | { type: "error"; id: number; message: string }
  | { type: "warning"; message: string };

/** Pulls an image into the store (the distribution client, wired by the caller). */
export type ImagePuller = (
  store: ImageStore,
  reference: string,
  options: { platform?: Platform; onStatus: (text: string) => void },
) => Promise<void>;

/** What to build. */
export interface BuildRequest {
  /** State root. */
  root: string;
  context: BuildContext;
  dockerfile: { text: string; name: string };
  buildArgs: ReadonlyMap<string, string>;
  target?: string;
  tags?: string[];
  labels?: Record<string, string>;
  noCache?: boolean;
  /** Pull every base image even when present (`--pull`). */
  pull?: boolean;
  /** How images are pulled; without it a missing image is an error. */
  puller?: ImagePuller;
  /** `--platform` (default: the host's). */
  platform?: string;
  /** Network of RUNs whose instruction does not say (default `host`). */
  network?: "host" | "none";
  /** `--secret` values by id. */
  secrets?: ReadonlyMap<string, SecretSource>;
  compression?: Compression;
  /** Seconds since the epoch that every timestamp is clamped to (default 0). */
  epoch?: number;
  onEvent?: (e: BuildEvent) => void;
  /** Aborts the build (RUN containers are killed). */
  signal?: AbortSignal;
}

/** The built image. */
export interface BuildResult {
  /** Manifest digest. */
  digest: string;
  /** Config digest (the image ID). */
  configDigest: string;
  /** Full names tagged. */
  tags: string[];
}

/**
 * A build failed in a step: `file:line: instruction: problem`. `exitCode` is the RUN's
 * exit code when that is the cause.
 */
export class BuildError extends Error {
  override name = "BuildError";
  readonly exitCode?: number;
  constructor(message: string, exitCode?: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

interface StageResult {
  config: ImageConfig | undefined;
  layers: Descriptor[];
  key: string;
  /** Lower dirs of the result (topmost first), prepared on demand. */
  lowerDirs?: string[];
}

type Layer = { diffId: string; descriptor: Descriptor } | null;

/** What a COPY/ADD copies, and the digest of it for the cache key. */
interface CopyInputs {
  content: string;
  items: CopyItem[];
  /** Local archives ADD extracts. */
  archives: CopyItem[];
  tree: SourceTree & { hostPath(path: string): string };
  owner?: Owner;
  fetched?: AddSources;
}

const LAYER_STEP = /^(RUN|COPY|ADD|WORKDIR)$/;

async function sweepStaleBuilds(tmpRoot: string): Promise<void> {
  for await (const e of Deno.readDir(tmpRoot)) {
    if (!e.name.endsWith(".lock")) continue;
    const lockPath = `${tmpRoot}/${e.name}`;
    let lock: Deno.FsFile | undefined;
    try {
      lock = await Deno.open(lockPath, { write: true });
      if (!(await lock.tryLock(true))) continue; // a running build
      await Deno.remove(lockPath.slice(0, -5), { recursive: true }).catch(() => {});
      await Deno.remove(lockPath).catch(() => {});
    } catch {
      /* gone meanwhile */
    } finally {
      lock?.close();
    }
  }
}

/**
 * A private temp directory under `<root>/build/tmp`, locked while in use; `release()`
 * removes it. Directories whose process died are swept by the next call.
 *
 * @example
 * ```ts
 * const t = await buildTempDir(root);
 * try { … t.dir … } finally { await t.release(); }
 * ```
 */
export async function buildTempDir(root: string): Promise<{ dir: string; release(): Promise<void> }> {
  const tmpRoot = `${root}/build/tmp`;
  await Deno.mkdir(tmpRoot, { recursive: true, mode: 0o700 });
  await sweepStaleBuilds(tmpRoot);
  const dir = await Deno.makeTempDir({ dir: tmpRoot });
  const lock = await Deno.open(`${dir}.lock`, { write: true, create: true });
  await lock.lock(true);
  return {
    dir,
    async release() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(`${dir}.lock`).catch(() => {});
      lock.close();
    },
  };
}

/** Builds an image. See the module documentation. */
export async function buildImage(req: BuildRequest): Promise<BuildResult> {
  const file = req.dockerfile.name;
  const df: DockerfileStages = parseDockerfileStages(req.dockerfile.text, { file });
  for (const w of df.warnings) req.onEvent?.({ type: "warning", message: `${file}:${w.line}: ${w.message}` });
  const buildPlatform = hostPlatform();
  const targetPlatform: Platform = req.platform ? parsePlatform(req.platform) : buildPlatform;
  const globals = globalScope(
    df.metaArgs,
    req.buildArgs,
    platformArgs(targetPlatform, buildPlatform),
    df.escapeToken,
  );
  const graph: StageGraph = stageGraph(df, {
    target: req.target,
    globals,
    buildArgs: req.buildArgs,
    file,
    escapeToken: df.escapeToken,
  });
  const { distributionSchema } = await import("../image/distribution/origins.ts");
  const images = ImageStore.open(req.root, [distributionSchema]);
  try {
    return await withLease(req.root, () => new Build(req, df, graph, images, globals, targetPlatform).run());
  } finally {
    images.close();
  }
}

/** One build in progress. */
class Build {
  readonly req: BuildRequest;
  readonly df: DockerfileStages;
  readonly graph: StageGraph;
  readonly images: ImageStore;
  readonly snapshots: SnapshotStore;
  readonly cache: BuildCache;
  readonly globals: Map<string, string>;
  readonly platform: Platform;
  readonly file: string;
  readonly epoch: number;
  readonly created: string;
  readonly results = new Map<number, StageResult>();
  readonly #pulls = new Map<string, Promise<LoadedImage>>();
  tmp = "";
  stepId = 0;
  /** Aborted when the build fails or the caller aborts: running RUN containers are killed. */
  readonly abort = new AbortController();
  /** An init spawned ahead for the next RUN (its start-up overlaps the step before). */
  #spareInit?: Promise<InitProcess>;

  constructor(
    req: BuildRequest,
    df: DockerfileStages,
    graph: StageGraph,
    images: ImageStore,
    globals: Map<string, string>,
    platform: Platform,
  ) {
    this.req = req;
    this.df = df;
    this.graph = graph;
    this.images = images;
    this.snapshots = SnapshotStore.open(req.root, images);
    this.cache = new BuildCache(images.db, images.content);
    this.globals = globals;
    this.platform = platform;
    this.file = req.dockerfile.name;
    this.epoch = req.epoch ?? 0;
    this.created = new Date(this.epoch * 1000).toISOString().replace(/\.000Z$/, "Z");
  }

  emit(e: BuildEvent): void {
    this.req.onEvent?.(e);
  }

  async run(): Promise<BuildResult> {
    const tmp = await buildTempDir(this.req.root);
    this.tmp = tmp.dir;
    try {
      await this.#resolveImages();
      const forward = () => this.abort.abort();
      this.req.signal?.addEventListener("abort", forward);
      try {
        for (const wave of this.graph.waves) {
          // Stages of a wave run together; the first failure stops the others' containers,
          // and only then is the temp directory removed under them.
          const settled = await Promise.allSettled(wave.map((i) =>
            this.buildStage(i).catch((e) => {
              this.abort.abort();
              throw e;
            })
          ));
          const failed = settled.find((r) => r.status === "rejected");
          if (failed) throw (failed as PromiseRejectedResult).reason;
        }
      } finally {
        this.req.signal?.removeEventListener("abort", forward);
      }
      return await this.#export();
    } finally {
      await this.#dropSpareInit();
      await tmp.release();
    }
  }

  /** Spawns an init for a RUN to come, unless one is waiting already. */
  #prespawnInit(): void {
    if (this.#spareInit || this.abort.signal.aborted) return;
    this.#spareInit = import("../runtime/init_process.ts").then((m) => m.InitProcess.spawn());
    this.#spareInit.catch(() => {});
  }

  /** The spare init, if any (a RUN then need not wait for one to start). */
  async #takeInit(): Promise<InitProcess | undefined> {
    const spare = this.#spareInit;
    this.#spareInit = undefined;
    return await spare?.catch(() => undefined);
  }

  async #dropSpareInit(): Promise<void> {
    const init = await this.#takeInit();
    if (init) await killInit(init);
  }

  /** Loads (pulling when missing or asked to) every image the needed stages use, in parallel. */
  async #resolveImages(): Promise<void> {
    // Each image with the first line that names it, for messages.
    const refs = new Map<string, number>();
    for (const i of this.graph.needed) {
      const n = this.graph.nodes[i];
      const stage = this.df.stages[i];
      if ("image" in n.base && !refs.has(n.base.image)) refs.set(n.base.image, stage.from.line);
      for (const img of n.copyImages) {
        if (refs.has(img)) continue;
        const inst = stage.instructions.find((x) => x.original.includes(img));
        refs.set(img, inst?.line ?? stage.from.line);
      }
    }
    await Promise.all([...refs].map(async ([ref, line]) => {
      try {
        await this.image(ref);
      } catch (e) {
        if (e instanceof BuildError) throw new DockerfileParseError(this.file, line, e.message);
        // A malformed name (`FROM BusyBox`) is the Dockerfile's fault: say where it is.
        if (e instanceof TypeError && e.message.startsWith("invalid reference format")) {
          throw new DockerfileParseError(this.file, line, `invalid image name "${ref}": ${e.message}`);
        }
        throw e;
      }
    }));
  }

  /** The image `ref`, pulled once per build when missing (or always with `pull`). */
  image(ref: string): Promise<LoadedImage> {
    let p = this.#pulls.get(ref);
    if (!p) {
      p = this.#loadOrPull(ref);
      this.#pulls.set(ref, p);
    }
    return p;
  }

  async #loadOrPull(ref: string): Promise<LoadedImage> {
    if (!this.req.pull) {
      try {
        return await this.images.load(ref);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    const puller = this.req.puller;
    if (!puller) {
      throw new BuildError(`failed to resolve source metadata for ${ref}: image not found locally`);
    }
    const id = ++this.stepId;
    const started = performance.now();
    this.emit({ type: "step", id, label: `[internal] load metadata for ${ref}` });
    try {
      await puller(this.images, ref, {
        platform: this.platform,
        onStatus: (text) => this.emit({ type: "status", id, text }),
      });
    } catch (e) {
      const message = `failed to resolve source metadata for ${ref}: ${(e as Error).message}`;
      this.emit({ type: "error", id, message });
      throw new BuildError(message);
    }
    this.emit({ type: "done", id, ms: performance.now() - started });
    return await this.images.load(ref);
  }

  /** Lower dirs of an image given by its config and layers (unpacking what is missing). */
  async prepare(res: { config: ImageConfig | undefined; layers: Descriptor[] }): Promise<string[]> {
    const image = {
      digest: "",
      configDigest: "",
      mediaType: MediaType.OCI_MANIFEST,
      size: 0,
      created: 0,
      names: [],
      manifest: {
        schemaVersion: 2,
        config: { mediaType: MediaType.OCI_CONFIG, digest: "", size: 0 },
        layers: res.layers,
      },
      config: res.config ?? { rootfs: { type: "layers", diff_ids: [] } },
    } as unknown as LoadedImage;
    return (await this.snapshots.prepare(image)).lowerDirs;
  }

  /** The root filesystem (lower dirs) of a stage or image a `--from`/`from=` names. */
  async rootfsOf(value: string, stageIndex: number): Promise<{ lowerDirs: string[]; key: string }> {
    const ref = resolveStageRef(this.df, value, stageIndex);
    if ("stage" in ref) {
      const res = this.results.get(ref.stage)!;
      res.lowerDirs ??= await this.prepare(res);
      return { lowerDirs: res.lowerDirs, key: res.key };
    }
    const img = await this.image(ref.image);
    return {
      lowerDirs: await this.prepare({ config: img.config, layers: img.manifest.layers }),
      key: img.configDigest,
    };
  }

  async buildStage(index: number): Promise<void> {
    const node = this.graph.nodes[index];
    const stage = this.df.stages[index];
    const total = 1 + stage.instructions.filter((x) => LAYER_STEP.test(x.kind)).length;
    const prefix = this.df.stages.length > 1 ? `${stage.name ?? `stage-${index}`} ` : "";
    const fromId = ++this.stepId;
    const fromStarted = performance.now();
    let base: StageResult;
    let fromLabel: string;
    if ("scratch" in node.base) {
      fromLabel = "scratch";
      base = { config: undefined, layers: [], key: baseCacheKey("scratch", formatPlatform(this.platform)) };
    } else if ("stage" in node.base) {
      const s = this.df.stages[node.base.stage];
      fromLabel = s.name ?? `stage-${s.index}`;
      base = { ...this.results.get(node.base.stage)! };
    } else {
      fromLabel = node.base.image;
      let img: LoadedImage;
      try {
        img = await this.image(node.base.image);
      } catch (e) {
        throw e instanceof BuildError ? new DockerfileParseError(this.file, stage.from.line, e.message) : e;
      }
      base = {
        config: img.config,
        layers: img.manifest.layers,
        key: baseCacheKey(img.configDigest, formatPlatform(this.platform)),
      };
    }
    this.emit({ type: "step", id: fromId, label: `[${prefix}1/${total}] FROM ${fromLabel}` });
    this.emit({ type: "done", id: fromId, ms: performance.now() - fromStarted });
    const state = new StageState({
      stage,
      base: { config: base.config },
      platform: this.platform,
      globals: this.globals,
      buildArgs: this.req.buildArgs,
      escapeToken: this.df.escapeToken,
      created: this.created,
      file: this.file,
    });
    const layers = [...base.layers];
    let key = base.key;
    let lowerDirs: string[] | undefined = base.lowerDirs;
    let n = 1;
    const lower = async () => (lowerDirs ??= await this.prepare({ config: state.image, layers }));
    for (const step of state.steps()) {
      if (step.kind === "meta") {
        key = stepCacheKey(key, step);
        continue;
      }
      if (this.abort.signal.aborted) throw new BuildError("the build was cancelled");
      const id = ++this.stepId;
      n++;
      this.emit({ type: "step", id, label: `[${prefix}${Math.min(n, total)}/${total}] ${stepLabel(step)}` });
      const started = performance.now();
      try {
        let inputs: CopyInputs | undefined;
        if (step.kind === "copy") {
          inputs = await this.copyInputs(step, index, lower);
          key = stepCacheKey(key, step, { content: inputs.content });
        } else if (step.kind === "run") {
          key = stepCacheKey(key, step, { mounts: await this.mountInputs(step, index) });
        } else {
          key = stepCacheKey(key, step);
        }
        let layer = this.req.noCache ? undefined : await this.cache.get(key);
        if (layer !== undefined) this.emit({ type: "cached", id });
        else {
          // A miss here means misses for the rest of the stage: start the next RUN's init now.
          // runRun hands the init on (runOneShot then owns it); one never handed on is killed here.
          const spare = { init: step.kind === "run" ? await this.#takeInit() : undefined };
          const at = stage.instructions.indexOf(step.instruction);
          if (stage.instructions.slice(at + 1).some((x) => x.kind === "RUN")) this.#prespawnInit();
          try {
            const lowers = await lower();
            layer = await this.#layerStep(state, lowers, (dir, view) => {
              if (step.kind === "copy") return this.runCopy(step, dir, view, inputs!);
              if (step.kind === "workdir") return this.runWorkdir(step, dir, view, lowers);
              return this.runRun(step, dir, view, index, id, lowers, spare);
            });
          } finally {
            if (spare.init) await killInit(spare.init);
          }
          this.cache.put(key, layer);
          if (layer) pinContent(this.images.db, BUILD_CACHE_HOLDER, [layer.descriptor.digest]);
          this.emit({ type: "done", id, ms: performance.now() - started });
        }
        state.commitLayer(step, layer?.diffId ?? null);
        if (layer) {
          layers.push(layer.descriptor);
          lowerDirs = undefined;
        }
      } catch (e) {
        const message = e instanceof DockerfileParseError || e instanceof BuildError
          ? e.message
          : `${this.file}:${step.instruction.line}: ${step.instruction.original.split("\n")[0]}: ${
            (e as Error).message
          }`;
        this.emit({ type: "error", id, message });
        if (e instanceof BuildError || e instanceof DockerfileParseError) throw e;
        throw new BuildError(message);
      }
    }
    const config = state.imageConfig(index === this.graph.target ? this.req.labels : {});
    this.results.set(index, { config, layers, key, lowerDirs });
  }

  /**
   * Runs a layer step in a fresh layer directory and commits it: the layer blob, then the
   * directory adopted as the snapshot of the new chain (so the next step need not unpack it).
   */
  async #layerStep(
    state: StageState,
    lowers: string[],
    fill: (dir: string, view: LowerView) => Promise<void>,
  ): Promise<Layer> {
    const view = overlayLowerView(lowers);
    const dir = await createLayerDir(this.tmp);
    try {
      await fill(dir, view);
      let empty = true;
      for await (const _ of Deno.readDir(dir)) {
        empty = false;
        break;
      }
      if (empty) return null;
      const { writeLayerBlob } = await import("../image/layer_writer.ts");
      const blob = await writeLayerBlob(this.images.content, dir, {
        sourceDateEpoch: this.epoch,
        compression: this.req.compression ?? "gzip",
      });
      const layer = { diffId: blob.diffId, descriptor: blob.descriptor };
      const diffIds = state.image.rootfs.diff_ids;
      const parent = diffIds.length ? chainIds(diffIds)[diffIds.length - 1] : undefined;
      try {
        const size = await normalizeLayerDir(dir, this.epoch, await view.lstat("/"));
        await this.snapshots.adopt(dir, { parent, diffId: blob.diffId, size });
      } catch {
        // Another filesystem (or a vanished parent): the next step unpacks the blob instead.
      }
      return layer;
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  /** Source tree, planned items and content digest of a COPY/ADD. */
  async copyInputs(step: CopyStep, stageIndex: number, lowers: () => Promise<string[]>): Promise<CopyInputs> {
    let tree: SourceTree & { digest(path: string): Promise<string>; hostPath(path: string): string } =
      this.req.context.tree;
    if (step.from !== undefined) {
      const { LayeredTree } = await import("./layered_tree.ts");
      tree = new LayeredTree((await this.rootfsOf(step.from, stageIndex)).lowerDirs);
    }
    const owner = step.chown ? await this.ownerFor(step.chown, await lowers()) : undefined;
    const git = step.add ? step.sources.find(isGitSource) : undefined;
    if (git) throw new Error(`ADD of a git repository is not supported: ${git}`);
    const remote = step.add ? step.sources.filter(isRemoteSource) : [];
    const local = step.sources.filter((s) => !remote.includes(s));
    let fetched: AddSources | undefined;
    if (remote.length) {
      const { fetchAddSources } = await import("./add_sources.ts");
      fetched = await fetchAddSources(remote, { dir: this.tmp, checksum: step.checksum });
    } else if (step.checksum) {
      throw new Error("checksum can't be specified for non-HTTP(S) sources");
    }
    let items: CopyItem[] = local.length
      ? planCopy(tree, local, fetched ? withSlash(step.dest, local.length + remote.length) : step.dest, {
        workdir: step.workdir,
        instruction: step.add ? "ADD" : "COPY",
      })
      : [];
    if (step.exclude.length) items = excludeItems(items, step.exclude);
    // ADD of a local archive extracts it instead of copying it (unless --unpack=false).
    const archives = step.add && step.unpack !== false && step.from === undefined
      ? await archiveItems(items, tree as HostTree)
      : [];
    const copied = items.filter((it) => !archives.includes(it));
    const digests = new Map<string, string>();
    for (const it of items) if (it.entry.type === "file") digests.set(it.from, await tree.digest(it.from));
    const content = [
      contentDigest(copied, (it) => digests.get(it.from)!, owner),
      contentDigest(archives, (it) => digests.get(it.from)!, owner),
      fetched?.digest ?? "",
      digestOf(JSON.stringify(step.contents)),
    ].join("|");
    return { content, items: copied, archives, tree, owner, fetched };
  }

  /** Cache-key inputs of a RUN's bind mounts: what the mounted source holds. */
  async mountInputs(step: RunStep, stageIndex: number): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const m of step.mounts) {
      if (m.type !== "bind") continue;
      const source = (m.source ?? "").replace(/^\/+/, "");
      if (m.from) {
        out[m.target] = `${(await this.rootfsOf(m.from, stageIndex)).key}:${source}`;
        continue;
      }
      const tree = this.req.context.tree;
      const items = planCopy(tree, [source || "."], "/", { workdir: "/" });
      const digests = new Map<string, string>();
      for (const it of items) if (it.entry.type === "file") digests.set(it.from, await tree.digest(it.from));
      out[m.target] = contentDigest(items, (it) => digests.get(it.from)!);
    }
    return out;
  }

  async ownerFor(spec: string, lowers: string[]): Promise<Owner> {
    if (!needsAccountFiles(spec)) return resolveOwner(spec, { passwd: "", group: "" });
    return resolveOwner(spec, {
      passwd: await readLower(lowers, "etc/passwd"),
      group: await readLower(lowers, "etc/group"),
    });
  }

  async runCopy(step: CopyStep, dir: string, view: LowerView, inputs: CopyInputs) {
    const opts = { owner: inputs.owner, chmod: step.chmod, lower: view, createdMtimeMs: this.epoch * 1000 };
    await writeCopyItems(dir, inputs.items, inputs.tree, opts);
    if (inputs.archives.length) {
      const { writeAddArchives } = await import("./add_sources.ts");
      const destDir = cleanPath(step.dest.startsWith("/") ? step.dest : `${step.workdir}/${step.dest}`);
      await writeAddArchives(
        dir,
        inputs.archives.map((it) => ({ host: inputs.tree.hostPath(it.from), to: destDir })),
        {
          view,
          owner: inputs.owner,
          tmp: this.tmp,
        },
      );
    }
    const destAbs = step.dest.startsWith("/") ? step.dest : `${step.workdir}/${step.dest}`;
    if (inputs.fetched) {
      const n = step.sources.length + step.contents.length;
      const intoDir = step.dest.endsWith("/") || n > 1 || (await view.lstat(destAbs))?.isDirectory === true;
      await writeInlineFiles(
        dir,
        inputs.fetched.files.map((f) => ({ path: f.name, data: f.data, mtimeMs: f.mtimeMs })),
        destAbs.replace(/\/+$/, "") || "/",
        intoDir,
        { ...opts, fileMode: 0o600 },
      );
    }
    if (step.contents.length) {
      const intoDir = step.dest.endsWith("/") || step.contents.length > 1 ||
        (await view.lstat(destAbs))?.isDirectory === true;
      await writeInlineFiles(dir, step.contents, destAbs.replace(/\/+$/, "") || "/", intoDir, opts);
    }
  }

  async runWorkdir(step: WorkdirStep, dir: string, view: LowerView, lowers: string[]) {
    if ((await view.lstat(step.path))?.isDirectory) return; // an existing directory stays untouched (case 04)
    // Created as the current USER, like BuildKit's mkdir -p with a user; parents that exist keep their metadata.
    const owner = step.user ? await this.ownerFor(step.user, lowers) : undefined;
    let cur = "";
    for (const s of step.path.split("/").filter(Boolean)) {
      cur += "/" + s;
      const host = dir + cur;
      const below = await view.lstat(cur);
      await Deno.mkdir(host);
      if (below?.isDirectory) {
        await Deno.chmod(host, (below.mode ?? 0o755) & 0o7777);
        await Deno.chown(host, below.uid ?? 0, below.gid ?? 0);
        if (below.mtime) await Deno.utime(host, below.mtime, below.mtime);
      } else {
        await Deno.chmod(host, 0o755);
        await Deno.chown(host, owner?.uid ?? 0, owner?.gid ?? 0);
      }
    }
  }

  async runRun(
    step: RunStep,
    dir: string,
    view: LowerView,
    stageIndex: number,
    id: number,
    lowers: string[],
    spare: { init?: InitProcess },
  ) {
    if (formatPlatform(this.platform) !== formatPlatform(hostPlatform())) {
      throw new Error(
        `RUN for platform ${
          formatPlatform(this.platform)
        } needs emulation, which ctr does not provide (the host is ${formatPlatform(hostPlatform())})`,
      );
    }
    if (this.abort.signal.aborted) throw new BuildError("the build was cancelled");
    const scratch = await Deno.makeTempDir({ dir: this.tmp, prefix: "run-" });
    try {
      // The runtime is loaded only when a RUN executes (a fully cached build never needs it).
      const [{ resolveRunMounts }, { runStepContainer }] = await Promise.all([
        import("./run_mounts.ts"),
        import("./run_container.ts"),
      ]);
      const resolved = await resolveRunMounts(step.mounts, {
        context: {
          dir: this.req.context.dir,
          tree: this.req.context.tree,
          filtered: this.req.context.ignore.length > 0,
        },
        rootfs: async (from) => (await this.rootfsOf(from, stageIndex)).lowerDirs,
        cacheRoot: `${this.req.root}/build/cache-mounts`,
        secrets: this.req.secrets ?? new Map(),
      }, scratch);
      const network = step.network === "default" ? this.req.network ?? "host" : step.network;
      const stubs = await missingPaths(view, [
        "/proc",
        "/dev",
        "/sys",
        "/etc/hosts",
        ...(network === "host" ? ["/etc/resolv.conf"] : []),
        ...resolved.mounts.map((m) => m.destination),
      ]);
      let r;
      const init = spare.init;
      spare.init = undefined;
      try {
        r = await runStepContainer({
          step,
          lowerDirs: lowers,
          upperDir: dir,
          scratch,
          mounts: resolved.mounts,
          env: resolved.env,
          network,
          onOutput: (chunk) => this.emit({ type: "output", id, chunk }),
          signal: this.abort.signal,
          init,
        });
      } finally {
        resolved.release();
      }
      await removeMountStubs(dir, stubs);
      if (r.exitCode !== 0) {
        const why = r.message ? `${r.message}: exit code: ${r.exitCode}` : `exit code: ${r.exitCode}`;
        throw new BuildError(
          `${this.file}:${step.instruction.line}: process "${
            step.argv.join(" ")
          }" did not complete successfully: ${why}`,
          r.exitCode,
        );
      }
    } finally {
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  }

  async #export(): Promise<BuildResult> {
    const id = ++this.stepId;
    const started = performance.now();
    this.emit({ type: "step", id, label: "exporting to image" });
    const res = this.results.get(this.graph.target)!;
    const configBytes = new TextEncoder().encode(JSON.stringify(res.config));
    const config = await this.images.content.put(configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: config.digest, size: config.size },
      layers: res.layers,
    };
    const m = await this.images.content.put(new TextEncoder().encode(JSON.stringify(manifest)));
    this.emit({ type: "status", id, text: `writing image ${config.digest} done` });
    await this.images.addImage(m.digest);
    const tags = (this.req.tags ?? []).map((t) => this.images.tag(t, m.digest));
    for (const t of tags) this.emit({ type: "status", id, text: `naming to ${t} done` });
    this.emit({ type: "done", id, ms: performance.now() - started });
    return { digest: m.digest, configDigest: config.digest, tags };
  }
}

/** Ends an init that never got a spec. */
async function killInit(init: InitProcess): Promise<void> {
  try {
    init.child.kill("SIGKILL");
  } catch { /* gone */ }
  await init.child.status.catch(() => {});
}

async function readLower(lowers: string[], rel: string): Promise<string> {
  const view = overlayLowerView(lowers);
  if (!(await view.lstat("/" + rel))) return "";
  for (const d of lowers) {
    try {
      return await Deno.readTextFile(`${d}/${rel}`);
    } catch { /* next layer */ }
  }
  return "";
}

function isRemoteSource(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** A git source as BuildKit recognises one (`git@…`, `git://…`, a URL ending in `.git` or with a `.git#ref`). */
function isGitSource(s: string): boolean {
  return /^git@|^git:\/\/|^ssh:\/\//i.test(s) || (isRemoteSource(s) && /\.git(#.*)?$/i.test(s));
}

function withSlash(dest: string, n: number): string {
  return n > 1 && !dest.endsWith("/") ? dest + "/" : dest;
}

/**
 * Drops the items `--exclude` patterns match (`.dockerignore` syntax), tried against the path
 * inside the copied directory and against the whole source path; a directory that matches
 * goes with everything in it.
 */
function excludeItems(items: CopyItem[], patterns: string[]): CopyItem[] {
  const rules = parseDockerignore(patterns.join("\n"));
  const roots = items.filter((it) => it.destRoot).map((it) => it.from);
  const dropped: string[] = [];
  return items.filter((it) => {
    if (it.destRoot) return true;
    if (dropped.some((d) => it.from.startsWith(d + "/"))) return false;
    const root = roots.find((r) => r === "" || it.from.startsWith(r + "/"));
    const inner = root === undefined
      ? it.from.slice(it.from.lastIndexOf("/") + 1)
      : it.from.slice(root ? root.length + 1 : 0);
    if (isIgnored(rules, inner) || isIgnored(rules, it.from)) {
      if (it.entry.type === "dir") dropped.push(it.from);
      return false;
    }
    return true;
  });
}

async function archiveItems(items: CopyItem[], tree: HostTree): Promise<CopyItem[]> {
  if (!items.some((it) => it.entry.type === "file")) return [];
  const { isArchive } = await import("./add_sources.ts");
  // Only a source file named by the instruction is extracted, not archives inside a copied directory.
  const dirs = items.filter((it) => it.destRoot).map((it) => it.from);
  const inDir = (p: string) => dirs.some((d) => d === "" || p.startsWith(d + "/"));
  const out: CopyItem[] = [];
  for (const it of items) {
    if (it.entry.type === "file" && !inDir(it.from) && await isArchive(tree.hostPath(it.from))) out.push(it);
  }
  return out;
}

/** The vertex name of a step, as BuildKit shows it: the instruction as written, on one line. */
function stepLabel(step: Step): string {
  const t = step.instruction.original.split("\n")[0].replace(/\s+/g, " ").trim();
  return t.length > 100 ? t.slice(0, 97) + "..." : t;
}
