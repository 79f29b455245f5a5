/**
 * `ctr build` and `ctr builder prune` behind their flags: where the context and the
 * Dockerfile come from, `--secret` and `--build-arg` values, pulling through the
 * distribution client, progress display, and the image ID for `-q` / `--iidfile`.
 *
 * The context argument is, as with `docker build`:
 * - a directory;
 * - `-`: standard input holding either a tar archive (plain, gzip or zstd) of the context,
 *   with the Dockerfile inside it (`-f` names it relative to the archive), or a Dockerfile
 *   alone (an empty context).
 * `-f -` reads the Dockerfile from standard input with a directory context.
 *
 * @module
 */
import type { ImageStore } from "../image/image_store.ts";
import { parseReference } from "../image/reference.ts";
import { parseBuildArgs } from "./build_args.ts";
import {
  BuildError,
  type BuildEvent,
  buildImage,
  type BuildResult,
  buildTempDir,
  type ImagePuller,
} from "./builder.ts";
import { loadContext } from "./context.ts";
import { BuildProgress } from "./progress.ts";
import type { SecretSource } from "./run_mounts.ts";

/** Flags of `ctr build`, already parsed. */
export interface BuildCommandOptions {
  root: string;
  /** CONTEXT argument: a directory or `-`. */
  context: string;
  file?: string;
  tags: string[];
  buildArgs: string[];
  labels: string[];
  secrets: string[];
  target?: string;
  noCache: boolean;
  pull: boolean;
  platform?: string;
  network?: string;
  progress: "auto" | "plain" | "tty" | "quiet";
  quiet: boolean;
  iidfile?: string;
  compression?: string;
  /** Standard input (for `-`). */
  stdin: ReadableStream<Uint8Array>;
  /** Where progress goes (stderr). */
  writeProgress: (text: string) => void;
  /** Whether that is a terminal. */
  progressIsTerminal: boolean;
  /** Its width, when a terminal. */
  progressColumns?: number;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Cancels the build (RUN containers are killed, temp files removed). */
  signal?: AbortSignal;
}

/** A failure of a build: the message and the exit code `ctr build` ends with. */
export class BuildCommandError extends Error {
  override name = "BuildCommandError";
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * Parses `--secret` values: `id=NAME[,src=FILE|,env=VAR]` (`source` for `src`; with
 * neither, the variable `NAME` when set, else the file `NAME`).
 *
 * @example
 * ```ts
 * parseSecrets(["id=npm,src=/home/me/.npmrc"], {}); // Map { "npm" => { file: "/home/me/.npmrc" } }
 * ```
 */
export function parseSecrets(
  values: string[],
  env: Record<string, string | undefined>,
): Map<string, SecretSource> {
  const out = new Map<string, SecretSource>();
  for (const v of values) {
    const fields = new Map<string, string>();
    for (const f of v.split(",")) {
      const eq = f.indexOf("=");
      if (eq < 1) throw new TypeError(`Invalid secret ${JSON.stringify(v)}: expected key=value pairs`);
      fields.set(f.slice(0, eq).trim().toLowerCase(), f.slice(eq + 1));
    }
    const id = fields.get("id");
    if (!id) throw new TypeError(`Invalid secret ${JSON.stringify(v)}: id is required`);
    const type = fields.get("type") ?? "file";
    if (type !== "file" && type !== "env") throw new TypeError(`Invalid secret type ${JSON.stringify(type)}`);
    const src = fields.get("src") ?? fields.get("source");
    const envName = fields.get("env");
    if (src !== undefined && type === "file") out.set(id, { file: src });
    else if (envName !== undefined || type === "env") out.set(id, { env: envName ?? src ?? id });
    else out.set(id, env[id] !== undefined ? { env: id } : { file: id });
  }
  return out;
}

/** The distribution client as an {@linkcode ImagePuller} (loaded only when a pull happens). */
function distributionPuller(root: string): ImagePuller {
  return async (store: ImageStore, reference: string, options) => {
    const [{ pullImage }, { loadRegistryConfig }, { certsDirs }, { snapshotUnpacker }] = await Promise.all([
      import("../image/distribution/pull.ts"),
      import("../image/distribution/config.ts"),
      import("../image/distribution/tls.ts"),
      import("../image/distribution/unpacker.ts"),
    ]);
    await pullImage(store, reference, {
      config: await loadRegistryConfig(root),
      certsDirs: certsDirs(root),
      platform: options.platform,
      unpack: await snapshotUnpacker(root, store),
      progress: {
        update(id, status, detail) {
          if (!detail) options.onStatus(`${id}: ${status}`);
        },
        message(text) {
          options.onStatus(text);
        },
        close() {},
      },
    });
  };
}

/** Reads `stream` fully. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    chunks.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function isTarHeader(b: Uint8Array): boolean {
  if (b.length < 512) return false;
  const field = new TextDecoder().decode(b.subarray(148, 156)).replace(/[\0 ]+$/, "").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i];
  return sum === parseInt(field, 8);
}

/**
 * Standard input as a context: a tar archive (extracted into `dir`, safely) or a
 * Dockerfile (returned; the context stays empty).
 */
async function stdinContext(
  stdin: ReadableStream<Uint8Array>,
  dir: string,
): Promise<{ dockerfile?: string }> {
  const [{ decompressStream }, { unpackTar }] = await Promise.all([
    import("../image/compression.ts"),
    import("../image/unpack.ts"),
  ]);
  const { stream } = await decompressStream(stdin);
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < 512) {
    const r = await reader.read();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    have += r.value.length;
  }
  const first = new Uint8Array(have);
  let o = 0;
  for (const c of head) {
    first.set(c, o);
    o += c.length;
  }
  const rest = (async function* () {
    yield first;
    if (done) return;
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  })();
  if (isTarHeader(first)) {
    await unpackTar(rest, dir, { devices: "skip", onWarning: () => {} });
    return {};
  }
  const chunks: Uint8Array[] = [];
  for await (const c of rest) chunks.push(c);
  return { dockerfile: new TextDecoder().decode(await readAll(ReadableStream.from(chunks))) };
}

async function readDockerfile(candidates: string[]): Promise<{ path: string; text: string } | undefined> {
  for (const c of candidates) {
    try {
      return { path: c, text: await Deno.readTextFile(c) };
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return undefined;
}

/**
 * Runs `ctr build`. Progress goes to `writeProgress`; returns the result (the caller prints
 * the ID for `-q`). Throws {@linkcode BuildCommandError} for failures of the build (exit
 * code 1, or the RUN's exit code), `TypeError` for bad flag values.
 *
 * @example
 * ```ts
 * const r = await runBuildCommand({ root, context: ".", tags: ["app"], … });
 * ```
 */
export async function runBuildCommand(o: BuildCommandOptions): Promise<BuildResult> {
  for (const t of o.tags) {
    try {
      parseReference(t);
    } catch (e) {
      // parseReference's message already starts with "invalid reference format" and says why.
      throw new TypeError(`invalid argument "${t}" for "-t, --tag" flag: ${(e as Error).message}`);
    }
  }
  const labels: Record<string, string> = {};
  for (const l of o.labels) {
    const eq = l.indexOf("=");
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  const compression = o.compression ?? "gzip";
  if (compression !== "gzip" && compression !== "zstd") {
    throw new TypeError(`invalid --compression "${compression}": expected gzip or zstd`);
  }
  if (o.network !== undefined && !["default", "host", "none"].includes(o.network)) {
    throw new TypeError(`invalid --network "${o.network}": expected default, host or none`);
  }
  const buildArgs = parseBuildArgs(o.buildArgs, o.env);
  const secrets = parseSecrets(o.secrets, o.env);
  for (const [id, s] of secrets) {
    if ("file" in s) {
      try {
        await Deno.stat(s.file);
      } catch {
        throw new TypeError(`failed to read secret ${id}: no such file: ${s.file}`);
      }
    }
  }
  const resolveHost = (p: string) => (p.startsWith("/") ? p : `${o.cwd}/${p}`);
  const tmp = await buildTempDir(o.root);
  try {
    let contextDir: string;
    let dockerfile: { path?: string; text: string; name: string } | undefined;
    if (o.context === "-") {
      if (o.file === "-") {
        throw new TypeError("invalid argument: can't use stdin for both build context and dockerfile");
      }
      contextDir = `${tmp.dir}/context`;
      await Deno.mkdir(contextDir);
      const got = await stdinContext(o.stdin, contextDir);
      if (got.dockerfile !== undefined) dockerfile = { text: got.dockerfile, name: "Dockerfile" };
    } else {
      contextDir = resolveHost(o.context);
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(contextDir);
      } catch {
        throw new TypeError(`unable to prepare context: path "${o.context}" not found`);
      }
      if (!info.isDirectory) {
        throw new TypeError(`unable to prepare context: path "${o.context}" is not a directory`);
      }
    }
    if (!dockerfile && o.file === "-") {
      dockerfile = { text: new TextDecoder().decode(await readAll(o.stdin)), name: "Dockerfile" };
    }
    if (!dockerfile) {
      const name = o.file ?? "Dockerfile";
      const candidates = o.file === undefined
        ? [`${contextDir}/Dockerfile`, `${contextDir}/dockerfile`]
        : o.context === "-" || o.file.startsWith("/")
        ? [o.context === "-" ? `${contextDir}/${o.file}` : o.file]
        : [resolveHost(o.file), `${contextDir}/${o.file}`];
      const found = await readDockerfile(candidates);
      if (!found) {
        throw new BuildCommandError(`failed to read dockerfile: open ${name}: no such file or directory`, 1);
      }
      dockerfile = { path: found.path, text: found.text, name: name.slice(name.lastIndexOf("/") + 1) };
    }
    const context = await loadContext(contextDir, dockerfile.path);
    const mode = o.quiet || o.progress === "quiet"
      ? undefined
      : o.progress === "auto"
      ? (o.progressIsTerminal ? "tty" : "plain")
      : o.progress;
    const printer = mode
      ? new BuildProgress({ mode, write: o.writeProgress, columns: o.progressColumns })
      : undefined;
    const onEvent = printer ? (e: BuildEvent) => printer.handle(e) : undefined;
    const epochText = o.env.SOURCE_DATE_EPOCH;
    let epoch: number | undefined;
    if (epochText !== undefined && epochText !== "") {
      if (!/^\d+$/.test(epochText)) {
        throw new TypeError(`invalid SOURCE_DATE_EPOCH: ${JSON.stringify(epochText)}`);
      }
      epoch = Number(epochText);
    }
    try {
      const result = await buildImage({
        root: o.root,
        context,
        dockerfile: { text: dockerfile.text, name: dockerfile.name },
        buildArgs,
        target: o.target,
        tags: o.tags,
        labels,
        noCache: o.noCache,
        pull: o.pull,
        puller: distributionPuller(o.root),
        platform: o.platform,
        network: o.network === "none" ? "none" : "host",
        secrets,
        compression,
        epoch,
        onEvent,
        signal: o.signal,
      });
      printer?.close();
      if (o.iidfile) await Deno.writeTextFile(resolveHost(o.iidfile), result.configDigest);
      return result;
    } catch (e) {
      printer?.close();
      if (o.signal?.aborted) throw new BuildCommandError("the build was cancelled", 130);
      if (e instanceof BuildError) throw new BuildCommandError(e.message, e.exitCode ?? 1);
      if (e instanceof SyntaxError || (e as Error).name === "DockerfileParseError") {
        throw new BuildCommandError((e as Error).message, 1);
      }
      throw e;
    }
  } finally {
    await tmp.release();
  }
}
