/**
 * The build driver: Dockerfile + context → an image in the local store.
 *
 * Stages the target needs are built wave by wave (stages of one wave in parallel). Each
 * stage is evaluated by {@linkcode StageState}; each layer step's cache key is looked up
 * in the {@linkcode BuildCache} and, on a miss, executed — COPY/ADD/WORKDIR write straight
 * into a new layer directory, RUN runs in a one-shot container through a
 * {@linkcode RunExecutor} — and the layer directory becomes a deterministic layer blob.
 * Lower directories come from the snapshot store (layers unpacked once by chain ID).
 *
 * Reproducible by default: timestamps are clamped to `epoch` (SOURCE_DATE_EPOCH or 0),
 * history and config carry no host data, so the same inputs give the same digest.
 *
 * ```text
 * <root>/build/tmp/<random>/   layer dirs and overlay work dirs of a running build (removed after)
 * ```
 *
 * @module
 */
import { writeLayerBlob } from "../image/layer_writer.ts";
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
import { SnapshotStore } from "../image/snapshots.ts";
import { digestOf } from "../image/digest.ts";
import { NotFoundError } from "../errors.ts";
import { globalScope, platformArgs } from "./build_args.ts";
import { BuildCache } from "./build_cache.ts";
import { baseCacheKey, contentDigest, stepCacheKey } from "./cache_key.ts";
import { type BuildContext, type HostTree, scanTree } from "./context.ts";
import { planCopy } from "./copy_plan.ts";
import { overlayLowerView, writeCopyItems, writeInlineFiles } from "./copy_writer.ts";
import { type DockerfileStages, parseDockerfileStages } from "./dockerfile/instructions.ts";
import { DockerfileParseError } from "./dockerfile/parser.ts";
import { resolveStageRef, type StageGraph, stageGraph } from "./stage_graph.ts";
import { type CopyStep, type RunStep, StageState, type Step, type WorkdirStep } from "./stage_state.ts";
import { needsAccountFiles, type Owner, resolveOwner } from "./user_spec.ts";

/** Runs a RUN step in a container over `lowerDirs` with writes going to `upperDir`. */
export interface RunExecutor {
  run(
    step: RunStep,
    rootfs: { lowerDirs: string[]; upperDir: string; workDir: string },
    io: { onOutput: (chunk: Uint8Array) => void },
  ): Promise<{ exitCode: number }>;
}

/** Progress events for the printer. */
export type BuildEvent =
  | { type: "step"; id: number; stage: number; label: string }
  | { type: "cached"; id: number }
  | { type: "output"; id: number; chunk: Uint8Array }
  | { type: "done"; id: number; ms: number }
  | { type: "error"; id: number; message: string }
  | { type: "warning"; message: string };

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
  platform?: string;
  compression?: Compression;
  /** Seconds since the epoch that every timestamp is clamped to (default 0). */
  epoch?: number;
  runner?: RunExecutor;
  onEvent?: (e: BuildEvent) => void;
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

/** A build failed in a step; `exitCode` is the RUN's exit code when that is the cause. */
export class BuildError extends Error {
  override name = "BuildError";
  readonly exitCode?: number;
  constructor(message: string, exitCode?: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

interface StageResult {
  config: ImageConfig;
  layers: Descriptor[];
  key: string;
  /** Lower dirs of the result (topmost first), prepared on demand. */
  lowerDirs?: string[];
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
  const images = ImageStore.open(req.root);
  const snapshots = SnapshotStore.open(req.root, images);
  const cache = new BuildCache(images.db, images.content);
  const tmpRoot = `${req.root}/build/tmp`;
  await Deno.mkdir(tmpRoot, { recursive: true, mode: 0o700 });
  const tmp = await Deno.makeTempDir({ dir: tmpRoot });
  const epoch = req.epoch ?? 0;
  const created = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, "Z");
  const results = new Map<number, StageResult>();
  let stepId = 0;
  const totalSteps = (i: number) =>
    df.stages[i].instructions.filter((x) => /^(RUN|COPY|ADD|WORKDIR)$/.test(x.kind)).length;

  const prepare = async (res: { config: ImageConfig; layers: Descriptor[] }): Promise<string[]> => {
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
      config: res.config,
    } as unknown as LoadedImage;
    return (await snapshots.prepare(image)).lowerDirs;
  };

  const buildStage = async (index: number): Promise<void> => {
    const node = graph.nodes[index];
    const stage = df.stages[index];
    let base: StageResult;
    if ("scratch" in node.base) {
      base = {
        config: undefined as unknown as ImageConfig,
        layers: [],
        key: baseCacheKey("scratch", formatPlatform(targetPlatform)),
      };
    } else if ("stage" in node.base) {
      base = results.get(node.base.stage)!;
    } else {
      let img: LoadedImage;
      try {
        img = await images.load(node.base.image);
      } catch (e) {
        if (e instanceof NotFoundError) {
          throw new DockerfileParseError(
            file,
            stage.from.line,
            `base image ${node.base.image} not found locally (pull it first)`,
          );
        }
        throw e;
      }
      base = {
        config: img.config,
        layers: img.manifest.layers,
        key: baseCacheKey(img.configDigest, formatPlatform(targetPlatform)),
      };
    }
    const state = new StageState({
      stage,
      base: { config: base.config },
      platform: targetPlatform,
      globals,
      buildArgs: req.buildArgs,
      escapeToken: df.escapeToken,
      created,
      file,
    });
    const layers = [...base.layers];
    let key = base.key;
    let lowerDirs: string[] | undefined = base.lowerDirs;
    let n = 0;
    const total = totalSteps(index);
    const lower = async () => (lowerDirs ??= await prepare({ config: state.image, layers }));
    for (const step of state.steps()) {
      if (step.kind === "meta") {
        key = stepCacheKey(key, step);
        continue;
      }
      const id = ++stepId;
      n++;
      const label = `${stage.name ?? `stage-${index}`} ${Math.min(n, total)}/${total}`;
      req.onEvent?.({ type: "step", id, stage: index, label: `[${label}] ${stepLabel(step)}` });
      const started = performance.now();
      const cleanups: (() => Promise<void>)[] = [];
      const inputs: CopyInputs | undefined = step.kind === "copy"
        ? await copyInputs(step, index, lower, cleanups)
        : undefined;
      key = stepCacheKey(key, step, inputs?.key ?? {});
      const hit = req.noCache ? undefined : await cache.get(key);
      let layer: { diffId: string; descriptor: Descriptor } | null;
      if (hit !== undefined) {
        layer = hit;
        for (const c of cleanups) await c();
        req.onEvent?.({ type: "cached", id });
      } else {
        const dir = await Deno.makeTempDir({ dir: tmp, prefix: "layer-" });
        try {
          if (step.kind === "copy") await runCopy(step, dir, await lower(), inputs!);
          else if (step.kind === "workdir") await runWorkdir(step, dir, await lower());
          else await runRun(step, dir, await lower(), id);
          layer = await commitDir(dir);
        } finally {
          for (const c of cleanups) await c();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
        cache.put(key, layer);
        req.onEvent?.({ type: "done", id, ms: performance.now() - started });
      }
      state.commitLayer(step, layer?.diffId ?? null);
      if (layer) {
        layers.push(layer.descriptor);
        lowerDirs = undefined;
      }
    }
    const config = state.imageConfig(index === graph.target ? req.labels : {});
    results.set(index, { config, layers, key, lowerDirs });
  };

  const commitDir = async (dir: string): Promise<{ diffId: string; descriptor: Descriptor } | null> => {
    for await (const _ of Deno.readDir(dir)) {
      const blob = await writeLayerBlob(images.content, dir, {
        sourceDateEpoch: epoch,
        compression: req.compression ?? "gzip",
      });
      return { diffId: blob.diffId, descriptor: blob.descriptor };
    }
    return null; // an empty diff makes no layer
  };

  /** Source tree and content digest of a COPY/ADD. */
  const copyInputs = async (
    step: CopyStep,
    stageIndex: number,
    lowers: () => Promise<string[]>,
    cleanups: (() => Promise<void>)[],
  ) => {
    let tree: HostTree = req.context.tree;
    if (step.from !== undefined) {
      const ref = resolveStageRef(df, step.from, stageIndex);
      let res: StageResult;
      if ("image" in ref) {
        const img = await images.load(ref.image);
        res = { config: img.config, layers: img.manifest.layers, key: "" };
      } else {
        res = results.get(ref.stage)!;
      }
      tree = await mountedTree(res, cleanups);
    }
    const owner = step.chown ? await ownerFor(step.chown, await lowers()) : undefined;
    const items = step.sources.length
      ? planCopy(tree, step.sources, step.dest, {
        workdir: step.workdir,
        instruction: step.add ? "ADD" : "COPY",
      })
      : [];
    const digests = new Map<string, string>();
    for (const it of items) if (it.entry.type === "file") digests.set(it.from, await tree.digest(it.from));
    const content = contentDigest(items, (it) => digests.get(it.from)!, owner) + "|" +
      digestOf(JSON.stringify(step.contents));
    return { key: { content }, items, tree, owner };
  };

  const ownerFor = async (spec: string, lowers: string[]): Promise<Owner> => {
    if (!needsAccountFiles(spec)) return resolveOwner(spec, { passwd: "", group: "" });
    return resolveOwner(spec, {
      passwd: await readLower(lowers, "etc/passwd"),
      group: await readLower(lowers, "etc/group"),
    });
  };

  /** The merged filesystem of a finished stage as a tree (owners as they are). */
  const mountedTree = async (res: StageResult, cleanups: (() => Promise<void>)[]): Promise<HostTree> => {
    const lowers = res.lowerDirs ??= await prepare(res);
    if (lowers.length === 1) return await scanTree(lowers[0]);
    const mnt = await Deno.makeTempDir({ dir: tmp, prefix: "from-" });
    const out = await new Deno.Command("mount", {
      args: ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${lowers.join(":")}`, mnt],
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new BuildError(
        `Cannot mount the stage filesystem: ${new TextDecoder().decode(out.stderr).trim()}`,
      );
    }
    cleanups.push(async () => {
      await new Deno.Command("umount", { args: ["-l", mnt] }).output();
      await Deno.remove(mnt, { recursive: true }).catch(() => {});
    });
    return await scanTree(mnt);
  };

  type CopyInputs = Awaited<ReturnType<typeof copyInputs>>;
  const runCopy = async (step: CopyStep, dir: string, lowers: string[], inputs: CopyInputs) => {
    const view = overlayLowerView(lowers);
    const opts = { owner: inputs.owner, chmod: step.chmod, lower: view, createdMtimeMs: epoch * 1000 };
    await writeCopyItems(dir, inputs.items, inputs.tree, opts);
    if (step.contents.length) {
      const destAbs = step.dest.startsWith("/") ? step.dest : `${step.workdir}/${step.dest}`;
      const intoDir = step.dest.endsWith("/") || step.contents.length > 1 ||
        (await view.lstat(destAbs))?.isDirectory === true;
      await writeInlineFiles(dir, step.contents, destAbs.replace(/\/+$/, "") || "/", intoDir, opts);
    }
  };

  const runWorkdir = async (step: WorkdirStep, dir: string, lowers: string[]) => {
    const view = overlayLowerView(lowers);
    if ((await view.lstat(step.path))?.isDirectory) return; // an existing directory stays untouched (case 04)
    // Created as the current USER, like BuildKit's mkdir -p with a user; parents that exist keep their metadata.
    const owner = step.user ? await ownerFor(step.user, lowers) : undefined;
    const segs = step.path.split("/").filter(Boolean);
    let cur = "";
    for (const s of segs) {
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
  };

  const readLower = async (lowers: string[], rel: string): Promise<string> => {
    const view = overlayLowerView(lowers);
    if (!(await view.lstat("/" + rel))) return "";
    for (const d of lowers) {
      try {
        return await Deno.readTextFile(`${d}/${rel}`);
      } catch { /* next layer */ }
    }
    return "";
  };

  const runRun = async (step: RunStep, dir: string, lowers: string[], id: number) => {
    if (!req.runner) {
      throw new BuildError("RUN needs the container runtime, which is not available in this build of ctr");
    }
    const work = await Deno.makeTempDir({ dir: tmp, prefix: "work-" });
    try {
      const r = await req.runner.run(step, { lowerDirs: lowers, upperDir: dir, workDir: work }, {
        onOutput: (chunk) => req.onEvent?.({ type: "output", id, chunk }),
      });
      if (r.exitCode !== 0) {
        throw new BuildError(
          `process "${step.argv.join(" ")}" did not complete successfully: exit code: ${r.exitCode}`,
          r.exitCode,
        );
      }
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  };

  try {
    for (const wave of graph.waves) await Promise.all(wave.map((i) => buildStage(i)));
    const res = results.get(graph.target)!;
    const configBytes = new TextEncoder().encode(JSON.stringify(res.config));
    const config = await images.content.put(configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: config.digest, size: config.size },
      layers: res.layers,
    };
    const m = await images.content.put(new TextEncoder().encode(JSON.stringify(manifest)));
    await images.addImage(m.digest);
    const tags = (req.tags ?? []).map((t) => images.tag(t, m.digest));
    return { digest: m.digest, configDigest: config.digest, tags };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    images.close();
  }
}

function stepLabel(step: Step): string {
  const t = step.createdBy.replace(/ # buildkit$/, "");
  return t.length > 80 ? t.slice(0, 77) + "..." : t;
}
