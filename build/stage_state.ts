/**
 * Evaluates one build stage instruction by instruction, as BuildKit's Dockerfile frontend
 * does: it keeps the stage's ARG/ENV scope, USER, WORKDIR, SHELL and image config, expands
 * variables in the instructions that expand them, runs the base image's ONBUILD triggers
 * first, and turns each instruction into a {@linkcode Step}:
 *
 * - `meta`: only the config changes (ENV, LABEL, CMD, …) — no layer;
 * - `run`: a command to run in a container (argv, env, user, workdir, mounts);
 * - `copy`: files to write into a new layer (COPY, ADD), no container needed;
 * - `workdir`: a directory to create (owned by the current USER) when missing.
 *
 * The builder executes layer steps and reports each layer's diff ID (or that the diff was
 * empty) with {@linkcode StageState.commitLayer}; {@linkcode StageState.imageConfig} then
 * gives the image config with `history` and `rootfs.diff_ids` filled as Docker fills them.
 *
 * Pure: no I/O.
 *
 * @module
 */
import type { ContainerConfig, History, ImageConfig, Platform } from "../image/oci.ts";
import { PROXY_ARGS } from "./build_args.ts";
import { cleanPath } from "./dockerignore.ts";
import {
  type AddInstruction,
  type CopyInstruction,
  dockerfileStages,
  type Instruction,
  type RunInstruction,
  type SourceContent,
  type Stage,
} from "./dockerfile/instructions.ts";
import { DockerfileParseError, parseDockerfile, parseHeredoc } from "./dockerfile/parser.ts";
import { type Env, ShellLexer } from "./dockerfile/shell_lexer.ts";
import { parseRunMount, type RunMount } from "./run_mount.ts";

/** PATH for stages whose image has none (BuildKit's default). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The `comment` BuildKit puts on the history entries it creates. */
export const HISTORY_COMMENT = "buildkit.dockerfile.v0";

interface StepBase {
  /** The instruction (or ONBUILD trigger) this step comes from. */
  instruction: Instruction;
  /** Whether it is an ONBUILD trigger of the base image. */
  trigger: boolean;
  /** Text for `history[].created_by`; also the heart of the cache key. */
  createdBy: string;
}

/** Only the image config changes. */
export interface MetaStep extends StepBase {
  kind: "meta";
}

/** A file provided to a RUN (a heredoc script with a shebang). */
export interface InlineFile {
  /** Absolute path in the container. */
  path: string;
  data: string;
  mode: number;
}

/** Run a command in a container on top of the current filesystem. */
export interface RunStep extends StepBase {
  kind: "run";
  argv: string[];
  /** `KEY=value` environment of the process. */
  env: string[];
  user: string;
  workdir: string;
  mounts: RunMount[];
  network: "default" | "none" | "host";
  files: InlineFile[];
}

/** Write files into a new layer. */
export interface CopyStep extends StepBase {
  kind: "copy";
  add: boolean;
  /** Expanded `--from` (stage name/index or image), undefined for the build context. */
  from?: string;
  sources: string[];
  contents: SourceContent[];
  /** Expanded destination, as written (relative to `workdir` unless absolute). */
  dest: string;
  workdir: string;
  chown?: string;
  chmod?: string;
  checksum?: string;
  unpack?: boolean;
  keepGitDir: boolean;
  exclude: string[];
  link: boolean;
}

/** Create the working directory if missing. */
export interface WorkdirStep extends StepBase {
  kind: "workdir";
  path: string;
  /** USER at that point (owner of created directories), "" for root. */
  user: string;
}

/** One evaluated instruction. */
export type Step = MetaStep | RunStep | CopyStep | WorkdirStep;

/** What a stage starts from. */
export interface StageBase {
  /** The base image's (or stage's) config; undefined for `scratch`. */
  config?: ImageConfig;
}

/** Options for {@linkcode StageState}. */
export interface StageStateOptions {
  stage: Stage;
  base: StageBase;
  /** Platform of the stage's result. */
  platform: Platform;
  /** Global scope: meta args and platform args. */
  globals: Env;
  /** `--build-arg` values. */
  buildArgs: ReadonlyMap<string, string>;
  escapeToken?: string;
  /** Timestamp for new history entries and `created` (RFC 3339). */
  created: string;
  file?: string;
}

function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

/** Go's `%q` for a string slice: `["a" "b"]`. */
function goQuoteList(list: string[] | null | undefined): string {
  return "[" + (list ?? []).map((s) => JSON.stringify(s)).join(" ") + "]";
}

/** Adds or replaces `key` in a `K=V` list, keeping its position. */
function setEnv(list: string[], key: string, value: string): string[] {
  const out = [...list];
  const i = out.findIndex((e) => e.split("=", 1)[0] === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

const PORT_RE = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i;

/**
 * Expands EXPOSE specs to `port/proto` keys (`80`, `80/udp`, `8000-8002/tcp`).
 *
 * @example
 * ```ts
 * exposedPorts(["80", "53/udp", "8000-8001"]); // ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]
 * ```
 */
export function exposedPorts(specs: string[]): string[] {
  const out: string[] = [];
  for (const spec of specs) {
    // `ip:hostPort:containerPort` forms are accepted by Docker but only the last part counts.
    const last = spec.slice(spec.lastIndexOf(":") + 1);
    const m = PORT_RE.exec(last);
    if (!m) throw new Error(`invalid containerPort: ${spec}`);
    const from = Number(m[1]);
    const to = m[2] ? Number(m[2]) : from;
    if (from > 65535 || to > 65535 || to < from) throw new Error(`invalid containerPort: ${spec}`);
    const proto = (m[3] ?? "tcp").toLowerCase();
    for (let p = from; p <= to; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

const SIGNALS = new Set(
  "ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ"
    .split(" "),
);

/** Validates a STOPSIGNAL value (name with or without `SIG`, `RTMIN+n`, or a number). */
export function validateSignal(s: string): void {
  if (/^\d+$/.test(s) && Number(s) > 0 && Number(s) < 65) return;
  const name = s.toUpperCase().replace(/^SIG/, "");
  if (SIGNALS.has(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name)) return;
  throw new Error(`Invalid signal: ${s}`);
}

/** An evaluated stage. See the module documentation. */
export class StageState {
  readonly #opt: StageStateOptions;
  readonly #lex: ShellLexer;
  readonly #rawLex: ShellLexer;
  /** The image config being built. */
  readonly image: ImageConfig;
  /** Environment seen by expansions and RUN: image ENV plus declared ARGs, in order. */
  readonly #env = new Map<string, string>();
  /** ARGs declared in this stage, with their values. */
  readonly #args: { key: string; value?: string }[] = [];
  #cmdSet = false;
  readonly #queue: { inst: Instruction; trigger: boolean }[];

  constructor(options: StageStateOptions) {
    this.#opt = options;
    const escapeToken = options.escapeToken ?? "\\";
    this.#lex = new ShellLexer({ escapeToken });
    this.#rawLex = new ShellLexer({ escapeToken: "\\", skipProcessQuotes: true });
    const base = options.base.config;
    const config: ContainerConfig = clone(base?.config) ?? {
      Env: [`PATH=${DEFAULT_PATH}`],
      WorkingDir: "/",
    };
    this.image = {
      architecture: options.platform.architecture,
      os: options.platform.os,
      ...(options.platform.variant ? { variant: options.platform.variant } : {}),
      ...(base?.author ? { author: base.author } : {}),
      config,
      rootfs: { type: "layers", diff_ids: [...(base?.rootfs.diff_ids ?? [])] },
      history: clone(base?.history) ?? [],
    };
    for (const e of config.Env ?? []) {
      const eq = e.indexOf("=");
      this.#env.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? "" : e.slice(eq + 1));
    }
    // The base image's ONBUILD triggers run first; the new image does not inherit them.
    const triggers = (config.OnBuild ?? []).flatMap((expr) => this.#parseTrigger(expr));
    if (config.OnBuild) config.OnBuild = undefined;
    this.#queue = [
      ...triggers.map((inst) => ({ inst, trigger: true })),
      ...options.stage.instructions.map((inst) => ({ inst, trigger: false })),
    ];
  }

  #parseTrigger(expr: string): Instruction[] {
    try {
      const df = dockerfileStages(parseDockerfile(`FROM scratch\n${expr}\n`), { file: "ONBUILD" });
      return df.stages[0].instructions;
    } catch (e) {
      throw new DockerfileParseError(
        this.#opt.file ?? "Dockerfile",
        this.#opt.stage.from.line,
        `invalid ONBUILD trigger ${JSON.stringify(expr)} in the base image: ${
          (e as DockerfileParseError).problem
        }`,
      );
    }
  }

  /** The working directory now. */
  get workdir(): string {
    return this.image.config?.WorkingDir || "/";
  }

  /** The USER now ("" when unset). */
  get user(): string {
    return this.image.config?.User ?? "";
  }

  /** The expansion environment now (a copy). */
  env(): Map<string, string> {
    return new Map(this.#env);
  }

  /** Evaluates the remaining instructions one by one. */
  *steps(): Generator<Step> {
    while (this.#queue.length > 0) {
      const { inst, trigger } = this.#queue.shift()!;
      try {
        yield this.#step(inst, trigger);
      } catch (e) {
        if (e instanceof DockerfileParseError) throw e;
        throw new DockerfileParseError(this.#opt.file ?? "Dockerfile", inst.line, (e as Error).message);
      }
    }
  }

  #expand(word: string): string {
    return this.#lex.processWord(word, this.#env);
  }

  #history(createdBy: string, emptyLayer: boolean): void {
    const h: History = { created: this.#opt.created, created_by: createdBy, comment: HISTORY_COMMENT };
    if (emptyLayer) h.empty_layer = true;
    this.image.history!.push(h);
  }

  #meta(inst: Instruction, trigger: boolean, createdBy: string): MetaStep {
    this.#history(createdBy, true);
    return { kind: "meta", instruction: inst, trigger, createdBy };
  }

  #withShell(args: string[]): string[] {
    const shell = this.image.config?.Shell ?? ["/bin/sh", "-c"];
    return [...shell, args.join(" ")];
  }

  #step(inst: Instruction, trigger: boolean): Step {
    const cfg = this.image.config!;
    switch (inst.kind) {
      case "ENV": {
        // All pairs of one ENV see the environment from before the instruction.
        const pairs = inst.pairs.map((p) => [this.#expand(p.key), this.#expand(p.value)]);
        for (const [k, v] of pairs) {
          this.#env.set(k, v);
          cfg.Env = setEnv(cfg.Env ?? [], k, v);
        }
        return this.#meta(inst, trigger, "ENV " + pairs.map(([k, v]) => `${k}=${v}`).join(" "));
      }
      case "ARG": {
        const parts: string[] = [];
        for (const a of inst.args) {
          const key = this.#expand(a.key);
          let value: string | undefined;
          if (this.#opt.buildArgs.has(key)) value = this.#opt.buildArgs.get(key);
          else if (a.value !== undefined) value = this.#expand(a.value);
          else if (this.#opt.globals.has(key)) value = this.#opt.globals.get(key);
          if (value !== undefined) this.#env.set(key, value);
          this.#args.push({ key, value });
          parts.push(value === undefined ? key : `${key}=${value}`);
        }
        return this.#meta(inst, trigger, "ARG " + parts.join(" "));
      }
      case "LABEL": {
        const pairs = inst.pairs.map((p) => [this.#expand(p.key), this.#expand(p.value)]);
        cfg.Labels = { ...(cfg.Labels ?? {}) };
        for (const [k, v] of pairs) cfg.Labels[k] = v;
        return this.#meta(inst, trigger, "LABEL " + pairs.map(([k, v]) => `${k}=${v}`).join(" "));
      }
      case "MAINTAINER":
        this.image.author = inst.maintainer;
        return this.#meta(inst, trigger, "MAINTAINER " + inst.maintainer);
      case "EXPOSE": {
        const specs = inst.ports.flatMap((p) => this.#lex.processWords(p, this.#env));
        const ports = exposedPorts(specs);
        cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of ports) cfg.ExposedPorts[p] = {};
        return this.#meta(inst, trigger, "EXPOSE " + specs.join(" "));
      }
      case "VOLUME": {
        const paths = inst.paths.map((p) => this.#expand(p));
        if (paths.some((p) => p.trim() === "")) {
          throw new Error("VOLUME specified can not be an empty string");
        }
        cfg.Volumes = { ...(cfg.Volumes ?? {}) };
        for (const p of paths) cfg.Volumes[p] = {};
        return this.#meta(inst, trigger, `VOLUME [${paths.join(" ")}]`);
      }
      case "USER": {
        const user = this.#expand(inst.user);
        cfg.User = user;
        return this.#meta(inst, trigger, "USER " + user);
      }
      case "STOPSIGNAL": {
        const sig = this.#expand(inst.signal);
        validateSignal(sig);
        cfg.StopSignal = sig;
        return this.#meta(inst, trigger, "STOPSIGNAL " + sig);
      }
      case "CMD": {
        const cmd = inst.prependShell ? this.#withShell(inst.command) : [...inst.command];
        cfg.Cmd = cmd;
        this.#cmdSet = true;
        return this.#meta(inst, trigger, `CMD ${goQuoteList(cmd)}`);
      }
      case "ENTRYPOINT": {
        const ep = inst.prependShell ? this.#withShell(inst.command) : [...inst.command];
        cfg.Entrypoint = ep.length ? ep : null;
        // A new ENTRYPOINT drops the CMD inherited from the base image.
        if (!this.#cmdSet) cfg.Cmd = null;
        return this.#meta(inst, trigger, `ENTRYPOINT ${goQuoteList(ep)}`);
      }
      case "SHELL":
        cfg.Shell = [...inst.shell];
        return this.#meta(inst, trigger, `SHELL [${inst.shell.join(" ")}]`);
      case "HEALTHCHECK": {
        const h = inst.health;
        cfg.Healthcheck = { Test: [...h.test] };
        if (h.interval) cfg.Healthcheck.Interval = h.interval;
        if (h.timeout) cfg.Healthcheck.Timeout = h.timeout;
        if (h.startPeriod) cfg.Healthcheck.StartPeriod = h.startPeriod;
        if (h.startInterval) cfg.Healthcheck.StartInterval = h.startInterval;
        if (h.retries) cfg.Healthcheck.Retries = h.retries;
        return this.#meta(inst, trigger, `HEALTHCHECK ${goQuoteList(h.test)}`);
      }
      case "ONBUILD":
        cfg.OnBuild = [...(cfg.OnBuild ?? []), inst.expression];
        return this.#meta(inst, trigger, "ONBUILD " + inst.expression);
      case "WORKDIR": {
        const p = this.#expand(inst.path);
        const wd = cleanPath(p.startsWith("/") ? p : `/${this.workdir}/${p}`);
        cfg.WorkingDir = wd;
        const createdBy = "WORKDIR " + wd;
        if (wd === "/") return this.#meta(inst, trigger, createdBy);
        // The layer's history entry is added when the builder commits it.
        return { kind: "workdir", instruction: inst, trigger, createdBy, path: wd, user: this.user };
      }
      case "RUN":
        return this.#run(inst, trigger);
      case "COPY":
      case "ADD":
        return this.#copy(inst, trigger);
    }
  }

  /** RUN argv with heredocs handled as BuildKit does. */
  #runArgs(inst: RunInstruction): { argv: string[]; files: InlineFile[] } {
    let args = [...inst.command];
    const files: InlineFile[] = [];
    if (inst.heredocs.length > 0) {
      if (args.length !== 1 || !inst.prependShell) {
        throw new Error(`parsing produced an invalid run command: ${goQuoteList(args)}`);
      }
      const only = parseHeredoc(args[0]);
      const first = inst.heredocs[0];
      if (only) {
        const data = first.chomp ? first.content.replace(/^\t+/gm, "") : first.content;
        if (data.startsWith("#!")) {
          // A script with a shebang is written to a file and executed.
          const path = `/dev/pipes/${first.name}`;
          files.push({ path, data, mode: 0o755 });
          args = [path];
        } else {
          // The body runs in the shell, so heredocs work with shells that lack them.
          args = [data];
        }
      } else {
        let full = args[0];
        for (const h of inst.heredocs) full += "\n" + h.content + h.name;
        args = [full];
      }
    }
    return { argv: inst.prependShell ? this.#withShell(args) : args, files };
  }

  #run(inst: RunInstruction, trigger: boolean): RunStep {
    const { argv, files } = this.#runArgs(inst);
    const mounts = inst.mounts.map((m) => parseRunMount(this.#expand(m)));
    for (const m of mounts) {
      if (!m.target.startsWith("/")) m.target = cleanPath(`${this.workdir}/${m.target}`);
    }
    const network = inst.network ? this.#expand(inst.network) : "default";
    if (network !== "default" && network !== "none" && network !== "host") {
      throw new Error(`unsupported network mode ${JSON.stringify(network)}`);
    }
    const env = [...this.#env].map(([k, v]) => `${k}=${v}`);
    if (!this.#env.has("PATH")) env.push(`PATH=${DEFAULT_PATH}`);
    // Proxy args work without an ARG and stay out of history (and cache keys).
    for (const p of PROXY_ARGS) {
      if (this.#opt.buildArgs.has(p) && !this.#env.has(p)) env.push(`${p}=${this.#opt.buildArgs.get(p)}`);
    }
    const declared = new Map<string, string>();
    for (const a of this.#args) {
      if (PROXY_ARGS.includes(a.key)) continue;
      declared.set(a.key, this.#env.get(a.key) ?? a.value ?? "");
    }
    let text = argv.join(" ");
    if (declared.size > 0) {
      text = `|${declared.size} ${[...declared].map(([k, v]) => `${k}=${v}`).join(" ")} ${text}`;
    }
    return {
      kind: "run",
      instruction: inst,
      trigger,
      createdBy: `RUN ${text} # buildkit`,
      argv,
      env,
      user: this.user,
      workdir: this.workdir,
      mounts,
      network,
      files,
    };
  }

  #copy(inst: CopyInstruction | AddInstruction, trigger: boolean): CopyStep {
    const sources = inst.sources.map((s) => this.#expand(s));
    const dest = this.#expand(inst.dest);
    const contents = inst.contents.map((c) => ({
      ...c,
      data: c.expand ? this.#rawLex.processWord(c.data, this.#env) : c.data,
    }));
    const chown = inst.chown ? this.#expand(inst.chown) : undefined;
    const chmod = inst.chmod ? this.#expand(inst.chmod) : undefined;
    if (
      chmod !== undefined && !/^[0-7]{1,4}$/.test(chmod) &&
      !/^([ugoa]*[-+=][rwxXst]*)(,[ugoa]*[-+=][rwxXst]*)*$/.test(chmod)
    ) {
      throw new Error(`invalid chmod parameter: ${JSON.stringify(chmod)}`);
    }
    if (inst.kind === "COPY" && inst.parents) throw new Error("COPY --parents is not supported");
    const from = inst.kind === "COPY" && inst.from ? this.#expand(inst.from) : undefined;
    let text = inst.kind;
    if (chown) text += ` --chown=${chown}`;
    if (chmod) text += ` --chmod=${chmod}`;
    for (const s of sources) text += " " + s;
    for (const c of contents) text += " <<" + c.path;
    text += " " + dest;
    return {
      kind: "copy",
      instruction: inst,
      trigger,
      createdBy: `${text} # buildkit`,
      add: inst.kind === "ADD",
      from,
      sources,
      contents,
      dest,
      workdir: this.workdir,
      chown,
      chmod,
      checksum: inst.kind === "ADD" && inst.checksum ? this.#expand(inst.checksum) : undefined,
      unpack: inst.kind === "ADD" ? inst.unpack : undefined,
      keepGitDir: inst.kind === "ADD" ? inst.keepGitDir : false,
      exclude: inst.exclude.map((e) => this.#expand(e)),
      link: inst.link,
    };
  }

  /**
   * Records the result of a layer step: its layer's diff ID, or `null` when the step
   * changed nothing (then no layer is added and history marks it `empty_layer`, as
   * BuildKit's exporter does).
   */
  commitLayer(step: RunStep | CopyStep | WorkdirStep, diffId: string | null): void {
    if (diffId !== null) this.image.rootfs.diff_ids.push(diffId);
    this.#history(step.createdBy, diffId === null);
  }

  /**
   * The final image config (`created` set, empty fields dropped, extra labels applied).
   *
   * @example
   * ```ts
   * const config = state.imageConfig({ "org.opencontainers.image.source": "x" });
   * ```
   */
  imageConfig(extraLabels: Record<string, string> = {}): ImageConfig {
    const img = clone(this.image);
    img.created = this.#opt.created;
    const c = img.config!;
    if (Object.keys(extraLabels).length) c.Labels = { ...(c.Labels ?? {}), ...extraLabels };
    for (const k of Object.keys(c) as (keyof ContainerConfig)[]) {
      if (c[k] === undefined || c[k] === null) delete c[k];
    }
    return img;
  }
}
