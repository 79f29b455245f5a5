/**
 * `RUN --mount` made real: each parsed {@linkcode RunMount} becomes a mount of the RUN
 * container (`MountSpec`), with BuildKit's meaning.
 *
 * - `bind` (read-only unless `rw`; writes are thrown away): a path of the build context
 *   (after `.dockerignore`), or of another stage or image (`from=`). A stage's or image's
 *   directory is mounted as an overlay of that directory in each of its layers — the same
 *   view the merged filesystem gives, whiteouts and opaque directories honoured — so no
 *   mount is ever made on the host; `rw` adds a throw-away upper dir.
 * - `cache`: a directory that persists across builds of the state root, keyed by `id`
 *   (default the target), created with `mode`/`uid`/`gid`. `sharing=shared` (default) lets
 *   builds use it at once, `locked` waits for exclusive use, `private` takes it when free
 *   and a throw-away directory when not. `builder prune` removes cache directories (never
 *   one in use: users hold a lock on it).
 * - `tmpfs`: a fresh tmpfs (`size` honoured).
 * - `secret`: a `--secret` of the build as a read-only file (mode 0400 unless `mode`) and/or
 *   an environment variable (`env=`); secrets never enter cache keys or layers.
 *
 * ```text
 * <root>/build/cache-mounts/
 * ├── <sha256 of id>/        the cache directory
 * └── <sha256 of id>.lock    flock: shared while used, exclusive for sharing=locked|private and prune
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { libc } from "../ffi/libc.ts";
import type { MountSpec } from "../runtime/init_spec.ts";
import type { HostTree } from "./context.ts";
import { planCopy } from "./copy_plan.ts";
import { EMPTY_LOWER, writeCopyItems } from "./copy_writer.ts";
import { cleanPath } from "./dockerignore.ts";
import type { RunMount } from "./run_mount.ts";

/** Where a `--secret` comes from. */
export type SecretSource = { file: string } | { env: string };

/** What the mounts of a RUN can draw on. */
export interface MountSources {
  /** The build context: its directory, its filtered tree, and whether `.dockerignore` hides anything. */
  context: { dir: string; tree: HostTree; filtered: boolean };
  /** Snapshot directories (topmost first) of the stage or image a `from=` names. */
  rootfs(from: string): Promise<string[]>;
  /** `<root>/build/cache-mounts`. */
  cacheRoot: string;
  /** `--secret` values by id. */
  secrets: ReadonlyMap<string, SecretSource>;
}

/** Mounts ready for the container, plus what to undo after it ran. */
export interface ResolvedMounts {
  mounts: MountSpec[];
  /** `KEY=value` entries for secrets with `env=`. */
  env: string[];
  /** Releases the cache locks (the caller removes the scratch directory). */
  release(): void;
}

/** Directory name of a cache mount id. */
export function cacheMountName(id: string): string {
  return createHash("sha256").update(id).digest("hex");
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return undefined;
    throw e;
  }
}

function isOpaque(path: string): boolean {
  for (const ns of ["trusted.overlay.opaque", "user.overlay.opaque"]) {
    try {
      const v = libc.lgetxattr(path, ns);
      if (v && v[0] === 0x79) return true;
    } catch { /* not supported: not opaque */ }
  }
  return false;
}

/**
 * The directories (topmost first) that make up `path` in the merged view of `lowerDirs`, or
 * the one file that `path` is. Throws when the path is missing or passes a symlink (which
 * could point anywhere on the host).
 *
 * @example
 * ```ts
 * await layerSubdirs(lowerDirs, "/out"); // { dirs: ["/snap/b/out", "/snap/a/out"] }
 * ```
 */
export async function layerSubdirs(
  lowerDirs: string[],
  path: string,
): Promise<{ dirs: string[] } | { file: string }> {
  const segs = cleanPath("/" + path).split("/").filter(Boolean);
  const dirs: string[] = [];
  layers: for (const layer of lowerDirs) {
    let cur = layer;
    for (let i = 0; i < segs.length; i++) {
      cur += "/" + segs[i];
      const info = await lstatOrUndefined(cur);
      if (!info) continue layers; // not in this layer; lower layers may have it
      if (info.isCharDevice && info.rdev === 0) break layers; // whited out: nothing below shows
      if (info.isSymlink) {
        throw new Error(
          `mount source "/${segs.slice(0, i + 1).join("/")}" is a symbolic link, which is not supported`,
        );
      }
      if (!info.isDirectory) {
        if (i === segs.length - 1 && dirs.length === 0) return { file: cur };
        break layers; // a file hides everything below it
      }
      if (isOpaque(cur)) {
        if (i === segs.length - 1) dirs.push(cur);
        break layers;
      }
    }
    dirs.push(cur);
  }
  if (dirs.length === 0) throw new Error(`mount source "/${segs.join("/")}" not found`);
  return { dirs };
}

/**
 * Resolves the mounts of a RUN. `scratch` is an empty directory the caller removes after
 * the run (throw-away copies and upper dirs go there).
 *
 * @example
 * ```ts
 * const r = await resolveRunMounts(step.mounts, sources, scratch);
 * try { await runStepContainer({ ..., mounts: r.mounts, env: r.env }); } finally { r.release(); }
 * ```
 */
export async function resolveRunMounts(
  mounts: RunMount[],
  sources: MountSources,
  scratch: string,
): Promise<ResolvedMounts> {
  const out: MountSpec[] = [];
  const env: string[] = [];
  const locks: Deno.FsFile[] = [];
  const release = () => {
    for (const l of locks.splice(0)) l.close();
  };
  try {
    for (const [i, m] of mounts.entries()) {
      const ro = m.readonly ? ["ro"] : [];
      switch (m.type) {
        case "tmpfs": {
          const opts = ["nosuid", "nodev"];
          if (m.size) opts.push(`size=${m.size}`);
          out.push({ destination: m.target, type: "tmpfs", source: "tmpfs", options: opts });
          break;
        }
        case "secret": {
          const src = sources.secrets.get(m.id ?? "");
          if (!src) {
            if (m.required) {
              throw new Error(`secret ${m.id} not found (pass it with --secret id=${m.id},src=FILE)`);
            }
            break;
          }
          const value = "file" in src ? await Deno.readFile(src.file) : new TextEncoder().encode(
            Deno.env.get(src.env) ?? "",
          );
          if (m.env) env.push(`${m.env}=${new TextDecoder().decode(value)}`);
          if (m.target) {
            const host = `${scratch}/secret-${i}`;
            await Deno.writeFile(host, value, { mode: 0o600 });
            await Deno.chown(host, m.uid ?? 0, m.gid ?? 0);
            await Deno.chmod(host, m.mode ?? 0o400);
            out.push({ destination: m.target, type: "bind", source: host, options: ["rbind", "ro"] });
          }
          break;
        }
        case "cache": {
          if (m.from) throw new Error("cache mounts with from= are not supported");
          await Deno.mkdir(sources.cacheRoot, { recursive: true, mode: 0o700 });
          const name = cacheMountName(m.id ?? m.target);
          const lock = await Deno.open(`${sources.cacheRoot}/${name}.lock`, { write: true, create: true });
          locks.push(lock);
          let dir = `${sources.cacheRoot}/${name}`;
          if (m.sharing === "locked") await lock.lock(true);
          else if (m.sharing === "private") {
            if (!(await lock.tryLock(true))) dir = `${scratch}/cache-${i}`; // busy: a throw-away one
          } else await lock.lock(false);
          if (!(await lstatOrUndefined(dir))) {
            await Deno.mkdir(`${dir}.new`, { recursive: true });
            await Deno.chown(`${dir}.new`, m.uid ?? 0, m.gid ?? 0);
            await Deno.chmod(`${dir}.new`, m.mode ?? 0o755);
            await Deno.rename(`${dir}.new`, dir).catch(async () => {
              await Deno.remove(`${dir}.new`, { recursive: true }).catch(() => {}); // someone else made it
            });
          }
          out.push({ destination: m.target, type: "bind", source: dir, options: ["rbind", ...ro] });
          break;
        }
        case "bind":
          out.push(await bindMount(m, i, sources, scratch));
          break;
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  return { mounts: out, env, release };
}

async function bindMount(m: RunMount, i: number, sources: MountSources, scratch: string): Promise<MountSpec> {
  const ro = m.readonly ? ["ro"] : [];
  const source = cleanPath("/" + (m.source ?? "")).slice(1);
  if (m.from === undefined || m.from === "") {
    const { dir, tree, filtered } = sources.context;
    const entry = tree.get(source);
    if (!entry) throw new Error(`mount source "/${source}" not found in the build context`);
    if (!filtered && m.readonly && entry.type !== "symlink") {
      return {
        destination: m.target,
        type: "bind",
        source: source ? `${dir}/${source}` : dir,
        options: ["rbind", "ro"],
      };
    }
    // A private copy: ignored files stay hidden, and writes go nowhere.
    const copy = `${scratch}/bind-${i}`;
    if (entry.type === "dir") {
      await Deno.mkdir(copy);
      const items = planCopy(tree, [source || "."], "/", { workdir: "/" });
      await writeCopyItems(copy, items, tree, { lower: EMPTY_LOWER, createdMtimeMs: 0 });
    } else {
      await Deno.copyFile(tree.hostPath(source), copy);
    }
    return { destination: m.target, type: "bind", source: copy, options: ["rbind", ...ro] };
  }
  const layers = await layerSubdirs(await sources.rootfs(m.from), source);
  if ("file" in layers) {
    if (m.readonly) {
      return { destination: m.target, type: "bind", source: layers.file, options: ["rbind", "ro"] };
    }
    const copy = `${scratch}/bind-${i}`;
    await Deno.copyFile(layers.file, copy);
    return { destination: m.target, type: "bind", source: copy, options: ["rbind"] };
  }
  if (layers.dirs.length === 1 && m.readonly) {
    return { destination: m.target, type: "bind", source: layers.dirs[0], options: ["rbind", "ro"] };
  }
  const opts = [`lowerdir=${layers.dirs.join(":")}`];
  if (m.readonly) opts.unshift("ro");
  else {
    await Deno.mkdir(`${scratch}/bind-${i}-upper`);
    await Deno.mkdir(`${scratch}/bind-${i}-work`);
    opts.push(`upperdir=${scratch}/bind-${i}-upper`, `workdir=${scratch}/bind-${i}-work`);
  }
  return { destination: m.target, type: "overlay", source: "overlay", options: opts };
}
