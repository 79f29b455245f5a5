/**
 * Typed Dockerfile instructions from parsed nodes, grouped into build stages: flag
 * parsing and argument checks per instruction, with BuildKit's rules and messages
 * (`COPY requires at least two arguments…`, `unknown flag: chwon`, `SHELL requires the
 * arguments to be in JSON form`). Arguments stay unexpanded here: variables are expanded
 * when a stage is evaluated, because their values depend on the stage's ARG/ENV state.
 *
 * Pure: no I/O.
 *
 * @module
 */
import {
  chompHeredocContent,
  type DockerfileNode,
  DockerfileParseError,
  type Heredoc,
  type ParsedDockerfile,
  parseDockerfile,
  parseHeredoc,
  type ParseOptions,
} from "./parser.ts";

/** A key and its (unexpanded) value, from ENV or LABEL. */
export interface KeyValue {
  key: string;
  value: string;
}

/** One name declared by ARG, with its unexpanded default if any. */
export interface ArgDefinition {
  key: string;
  value?: string;
}

/** A heredoc used as a COPY/ADD source: an inline file. */
export interface SourceContent {
  /** The file name (the heredoc delimiter). */
  path: string;
  data: string;
  /** Whether variables in `data` are expanded (unquoted delimiter). */
  expand: boolean;
}

/** A healthcheck as in the image config; durations in nanoseconds. */
export interface HealthcheckSpec {
  test: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

interface Located {
  /** First line (1-based). */
  line: number;
  endLine: number;
  /** The instruction's text as written (continuations joined). */
  original: string;
}

/** FROM: starts a stage. */
export interface FromInstruction extends Located {
  kind: "FROM";
  image: string;
  /** Lower-case stage name after `AS`. */
  name?: string;
  platform?: string;
}

/** Command line of RUN/CMD/ENTRYPOINT: shell form (one string, run by SHELL) or exec form. */
interface CommandLine {
  command: string[];
  /** True for the shell form (the command is prefixed with the stage's SHELL). */
  prependShell: boolean;
  heredocs: Heredoc[];
}

/** RUN. */
export interface RunInstruction extends Located, CommandLine {
  kind: "RUN";
  /** Raw `--mount` values (expanded and parsed at evaluation). */
  mounts: string[];
  network?: string;
  security?: string;
}

/** CMD. */
export interface CmdInstruction extends Located, CommandLine {
  kind: "CMD";
}

/** ENTRYPOINT. */
export interface EntrypointInstruction extends Located, CommandLine {
  kind: "ENTRYPOINT";
}

/** LABEL. */
export interface LabelInstruction extends Located {
  kind: "LABEL";
  pairs: KeyValue[];
}

/** MAINTAINER (deprecated; sets the config's author). */
export interface MaintainerInstruction extends Located {
  kind: "MAINTAINER";
  maintainer: string;
}

/** EXPOSE. */
export interface ExposeInstruction extends Located {
  kind: "EXPOSE";
  ports: string[];
}

/** ENV. */
export interface EnvInstruction extends Located {
  kind: "ENV";
  pairs: KeyValue[];
}

interface SourcesAndDest {
  /** Source paths (unexpanded). */
  sources: string[];
  /** Heredoc sources. */
  contents: SourceContent[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
  /** Whether the JSON form was used. */
  json: boolean;
}

/** ADD. */
export interface AddInstruction extends Located, SourcesAndDest {
  kind: "ADD";
  checksum?: string;
  keepGitDir: boolean;
  /** `--unpack=true|false`; undefined: unpack local archives only. */
  unpack?: boolean;
}

/** COPY. */
export interface CopyInstruction extends Located, SourcesAndDest {
  kind: "COPY";
  /** `--from`: a stage name or index, or an image reference (unexpanded). */
  from?: string;
  parents: boolean;
}

/** VOLUME. */
export interface VolumeInstruction extends Located {
  kind: "VOLUME";
  paths: string[];
}

/** USER. */
export interface UserInstruction extends Located {
  kind: "USER";
  user: string;
}

/** WORKDIR. */
export interface WorkdirInstruction extends Located {
  kind: "WORKDIR";
  path: string;
}

/** ARG. */
export interface ArgInstruction extends Located {
  kind: "ARG";
  args: ArgDefinition[];
}

/** ONBUILD: a trigger stored in the image config, run by builds FROM this image. */
export interface OnbuildInstruction extends Located {
  kind: "ONBUILD";
  /** The trigger as stored in `config.OnBuild` (heredoc bodies appended). */
  expression: string;
  trigger: Instruction;
}

/** STOPSIGNAL. */
export interface StopSignalInstruction extends Located {
  kind: "STOPSIGNAL";
  signal: string;
}

/** HEALTHCHECK. */
export interface HealthcheckInstruction extends Located {
  kind: "HEALTHCHECK";
  health: HealthcheckSpec;
}

/** SHELL. */
export interface ShellInstruction extends Located {
  kind: "SHELL";
  shell: string[];
}

/** Any instruction inside a stage. */
export type Instruction =
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | ShellInstruction;

/** A build stage: its FROM and the instructions after it. */
export interface Stage {
  /** 0-based position in the Dockerfile. */
  index: number;
  from: FromInstruction;
  /** Lower-case name after `AS`, if any. */
  name?: string;
  instructions: Instruction[];
}

/** A Dockerfile interpreted into stages. */
export interface DockerfileStages {
  /** ARGs before the first FROM (visible to FROM lines only). */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  escapeToken: string;
  directives: Record<string, string>;
  warnings: { line: number; message: string }[];
}

/** All instruction keywords, upper case. */
export const INSTRUCTION_NAMES = [
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
] as const;

type FlagKind = "string" | "strings" | "bool";

/** Flag values after parsing: strings, lists, booleans; absent when not given. */
type FlagValues = Record<string, string | string[] | boolean | undefined>;

/** Parses `--name=value` words against the flags one instruction accepts. */
function parseFlags(words: string[], allowed: Record<string, FlagKind>): FlagValues {
  const values: FlagValues = {};
  for (const [name, kind] of Object.entries(allowed)) if (kind === "strings") values[name] = [];
  const used = new Set<string>();
  for (const word of words) {
    if (!word.startsWith("--")) throw new Error(`arg should start with -- : ${word}`);
    if (word === "--") break;
    const body = word.slice(2);
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = allowed[name];
    if (!kind) {
      const hint = suggest(name, Object.keys(allowed));
      throw new Error(`unknown flag: ${name}${hint ? ` (did you mean ${hint}?)` : ""}`);
    }
    if (used.has(name) && kind !== "strings") throw new Error(`duplicate flag specified: ${name}`);
    used.add(name);
    if (kind === "bool") {
      if (eq >= 0 && value === "") throw new Error(`missing a value on flag: ${name}`);
      const v = (value ?? "true").toLowerCase();
      if (v !== "true" && v !== "false") {
        throw new Error(`expecting boolean value for flag ${name}, not: ${value}`);
      }
      values[name] = v === "true";
    } else {
      if (value === undefined) throw new Error(`missing a value on flag: ${name}`);
      if (kind === "strings") (values[name] as string[]).push(value);
      else values[name] = value;
    }
  }
  return values;
}

/** Edit distance with adjacent transpositions (optimal string alignment), for hints. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

function suggest(word: string, candidates: readonly string[]): string | undefined {
  const prefixed = candidates.find((c) => word.length >= 3 && c.toLowerCase().startsWith(word.toLowerCase()));
  if (prefixed) return prefixed;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Parses a Go duration (`30s`, `1m30s`, `1.5h`, `250ms`) into nanoseconds.
 *
 * @example
 * ```ts
 * parseGoDuration("1m30s"); // 90_000_000_000
 * ```
 */
export function parseGoDuration(s: string): number {
  const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|0)$/.exec(s);
  if (!m) throw new Error(`time: invalid duration ${JSON.stringify(s)}`);
  if (m[2] === "0") return 0;
  let total = 0;
  for (const part of m[2].matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * DURATION_UNITS[part[2]];
  }
  return Math.round(m[1] === "-" ? -total : total);
}

function exactlyOne(node: DockerfileNode, name: string): string {
  if (node.args.length !== 1) throw new Error(`${name} requires exactly one argument`);
  return node.args[0];
}

function atLeastOne(node: DockerfileNode, name: string): void {
  if (node.args.length === 0) throw new Error(`${name} requires at least one argument`);
}

function keyValues(node: DockerfileNode, name: string): KeyValue[] {
  if (node.args.length === 0) throw new Error(`${name} requires at least one argument`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < node.args.length; i += 2) {
    if (node.args[i] === "") throw new Error(`${name} names can not be blank`);
    pairs.push({ key: node.args[i], value: node.args[i + 1] ?? "" });
  }
  return pairs;
}

function commandLine(node: DockerfileNode): CommandLine {
  // The shell form is one string handed to the shell; the exec form is kept as is.
  const command = node.json ? node.args : node.args.length ? [node.args.join(" ")] : [];
  return { command, prependShell: !node.json, heredocs: node.heredocs };
}

function sourcesAndDest(node: DockerfileNode, name: string, flags: FlagValues): SourcesAndDest {
  if (node.args.length < 2) {
    throw new Error(
      `${name} requires at least two arguments, but only one was provided. Destination could not be determined`,
    );
  }
  const dest = node.args[node.args.length - 1];
  if (!node.json && parseHeredoc(dest)) throw new Error(`${name} cannot accept a heredoc as a destination`);
  const docs = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const contents: SourceContent[] = [];
  for (const src of node.args.slice(0, -1)) {
    const h = node.json ? undefined : parseHeredoc(src);
    if (h) {
      const body = docs.get(h.name)?.content ?? "";
      contents.push({ path: h.name, data: h.chomp ? chompHeredocContent(body) : body, expand: h.expand });
    } else {
      sources.push(src);
    }
  }
  return {
    sources,
    contents,
    dest,
    chown: (flags.chown as string | undefined) || undefined,
    chmod: (flags.chmod as string | undefined) || undefined,
    link: flags.link === true,
    exclude: (flags.exclude as string[] | undefined) ?? [],
    json: node.json,
  };
}

function noFlags(node: DockerfileNode): void {
  parseFlags(node.flags, {});
}

function located(node: DockerfileNode): Located {
  return { line: node.startLine, endLine: node.endLine, original: node.original.trim() };
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function parseFrom(node: DockerfileNode): FromInstruction {
  const args = node.args;
  let name: string | undefined;
  if (args.length === 3 && args[1].toLowerCase() === "as") {
    name = args[2].toLowerCase();
    if (!STAGE_NAME.test(name)) {
      throw new Error(
        `invalid name for build stage: ${
          JSON.stringify(args[2])
        }, name can't start with a number or contain symbols`,
      );
    }
  } else if (args.length !== 1) {
    throw new Error("FROM requires either one or three arguments");
  }
  const flags = parseFlags(node.flags, { platform: "string" });
  return {
    kind: "FROM",
    ...located(node),
    image: args[0],
    name,
    platform: (flags.platform as string | undefined) || undefined,
  };
}

function parseHealthcheck(node: DockerfileNode): HealthcheckInstruction {
  if (node.args.length === 0) throw new Error("HEALTHCHECK requires at least one argument");
  const type = node.args[0].toUpperCase();
  const rest = node.args.slice(1);
  if (type === "NONE") {
    if (rest.length !== 0) throw new Error("HEALTHCHECK NONE takes no arguments");
    return { kind: "HEALTHCHECK", ...located(node), health: { test: ["NONE"] } };
  }
  const flags = parseFlags(node.flags, {
    interval: "string",
    timeout: "string",
    "start-period": "string",
    "start-interval": "string",
    retries: "string",
  });
  if (type !== "CMD") throw new Error(`Unknown type "${type}" in HEALTHCHECK (try CMD)`);
  const cmd = node.json ? rest : rest.length ? [rest.join(" ")] : [];
  if (cmd.length === 0) throw new Error("Missing command after HEALTHCHECK CMD");
  const health: HealthcheckSpec = { test: [node.json ? "CMD" : "CMD-SHELL", ...cmd] };
  const interval = (flag: string): number | undefined => {
    const v = flags[flag] as string | undefined;
    if (!v) return undefined;
    const ns = parseGoDuration(v);
    if (ns < 1e6) throw new Error(`Interval "${flag}" cannot be less than 1ms`);
    return ns;
  };
  const iv = interval("interval");
  if (iv !== undefined) health.interval = iv;
  const to = interval("timeout");
  if (to !== undefined) health.timeout = to;
  const sp = interval("start-period");
  if (sp !== undefined) health.startPeriod = sp;
  const si = interval("start-interval");
  if (si !== undefined) health.startInterval = si;
  const retries = flags.retries as string | undefined;
  if (retries) {
    if (!/^[-+]?\d+$/.test(retries)) {
      throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`);
    }
    const n = Number(retries);
    if (n < 1) throw new Error(`--retries must be at least 1 (not ${n})`);
    health.retries = n;
  }
  return { kind: "HEALTHCHECK", ...located(node), health };
}

function parseOnbuild(node: DockerfileNode): OnbuildInstruction {
  if (!node.sub || node.args.length === 0) throw new Error("ONBUILD requires at least one argument");
  noFlags(node);
  const trigger = node.sub.keyword.toUpperCase();
  if (trigger === "ONBUILD") throw new Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (trigger === "MAINTAINER" || trigger === "FROM") {
    throw new Error(`${trigger} isn't allowed as an ONBUILD trigger`);
  }
  let expression = node.original.replace(/^\s*ONBUILD\s*/i, "");
  for (const h of node.heredocs) expression += "\n" + h.content + h.name;
  const parsed = parseInstruction(node.sub);
  return { kind: "ONBUILD", ...located(node), expression, trigger: parsed as Instruction };
}

/**
 * Interprets one parsed node. Throws a plain `Error` with BuildKit's wording; callers add
 * the location.
 */
export function parseInstruction(node: DockerfileNode): Instruction | FromInstruction {
  const loc = located(node);
  switch (node.keyword) {
    case "from":
      return parseFrom(node);
    case "run": {
      const flags = parseFlags(node.flags, { mount: "strings", network: "string", security: "string" });
      return {
        kind: "RUN",
        ...loc,
        ...commandLine(node),
        mounts: flags.mount as string[],
        network: (flags.network as string | undefined) || undefined,
        security: (flags.security as string | undefined) || undefined,
      };
    }
    case "cmd":
      noFlags(node);
      return { kind: "CMD", ...loc, ...commandLine(node) };
    case "entrypoint":
      noFlags(node);
      return { kind: "ENTRYPOINT", ...loc, ...commandLine(node) };
    case "label":
      noFlags(node);
      return { kind: "LABEL", ...loc, pairs: keyValues(node, "LABEL") };
    case "maintainer":
      if (node.args.length !== 1) throw new Error("MAINTAINER requires exactly one argument");
      noFlags(node);
      return { kind: "MAINTAINER", ...loc, maintainer: node.args[0] };
    case "expose":
      atLeastOne(node, "EXPOSE");
      noFlags(node);
      return { kind: "EXPOSE", ...loc, ports: [...node.args] };
    case "env":
      noFlags(node);
      return { kind: "ENV", ...loc, pairs: keyValues(node, "ENV") };
    case "add": {
      if (node.args.length < 2) sourcesAndDest(node, "ADD", {});
      const flags = parseFlags(node.flags, {
        chown: "string",
        chmod: "string",
        link: "bool",
        "keep-git-dir": "bool",
        checksum: "string",
        exclude: "strings",
        unpack: "bool",
      });
      return {
        kind: "ADD",
        ...loc,
        ...sourcesAndDest(node, "ADD", flags),
        checksum: (flags.checksum as string | undefined) || undefined,
        keepGitDir: flags["keep-git-dir"] === true,
        unpack: flags.unpack as boolean | undefined,
      };
    }
    case "copy": {
      if (node.args.length < 2) sourcesAndDest(node, "COPY", {});
      const flags = parseFlags(node.flags, {
        chown: "string",
        chmod: "string",
        from: "string",
        link: "bool",
        parents: "bool",
        exclude: "strings",
      });
      return {
        kind: "COPY",
        ...loc,
        ...sourcesAndDest(node, "COPY", flags),
        from: (flags.from as string | undefined) || undefined,
        parents: flags.parents === true,
      };
    }
    case "volume": {
      atLeastOne(node, "VOLUME");
      noFlags(node);
      const paths = node.args.map((v) => v.trim());
      if (paths.some((p) => p === "")) throw new Error("VOLUME specified can not be an empty string");
      return { kind: "VOLUME", ...loc, paths };
    }
    case "user":
      noFlags(node);
      return { kind: "USER", ...loc, user: exactlyOne(node, "USER") };
    case "workdir":
      noFlags(node);
      return { kind: "WORKDIR", ...loc, path: exactlyOne(node, "WORKDIR") };
    case "arg": {
      atLeastOne(node, "ARG");
      noFlags(node);
      const args = node.args.map((word): ArgDefinition => {
        const eq = word.indexOf("=");
        if (eq < 0) return { key: word };
        if (eq === 0) throw new Error("ARG names can not be blank");
        return { key: word.slice(0, eq), value: word.slice(eq + 1) };
      });
      return { kind: "ARG", ...loc, args };
    }
    case "onbuild":
      return parseOnbuild(node);
    case "stopsignal":
      return { kind: "STOPSIGNAL", ...loc, signal: exactlyOne(node, "STOPSIGNAL") };
    case "healthcheck":
      return parseHealthcheck(node);
    case "shell": {
      noFlags(node);
      if (node.args.length === 0) throw new Error("SHELL requires at least one argument");
      if (!node.json) throw new Error("SHELL requires the arguments to be in JSON form");
      return { kind: "SHELL", ...loc, shell: [...node.args] };
    }
    default: {
      const hint = suggest(node.written, INSTRUCTION_NAMES);
      throw new Error(`unknown instruction: ${node.written}${hint ? ` (did you mean ${hint}?)` : ""}`);
    }
  }
}

/**
 * Interprets parsed nodes into meta ARGs and stages. Errors are
 * {@linkcode DockerfileParseError}s with the instruction's line.
 *
 * @example
 * ```ts
 * const df = dockerfileStages(parseDockerfile("ARG V=1\nFROM busybox:$V AS b\nRUN true\n"));
 * df.metaArgs.length; // 1
 * df.stages[0].name; // "b"
 * ```
 */
export function dockerfileStages(parsed: ParsedDockerfile, options: ParseOptions = {}): DockerfileStages {
  const file = options.file ?? "Dockerfile";
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  for (const node of parsed.nodes) {
    let inst: Instruction | FromInstruction;
    try {
      inst = parseInstruction(node);
    } catch (e) {
      throw new DockerfileParseError(file, node.startLine, (e as Error).message);
    }
    if (inst.kind === "FROM") {
      stages.push({ index: stages.length, from: inst, name: inst.name, instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (inst.kind === "ARG") {
        metaArgs.push(inst);
        continue;
      }
      throw new DockerfileParseError(file, node.startLine, "no build stage in current context");
    }
    stages[stages.length - 1].instructions.push(inst);
  }
  if (stages.length === 0) throw new DockerfileParseError(file, 0, "no build stage in current context");
  const seen = new Map<string, number>();
  for (const s of stages) {
    if (!s.name) continue;
    if (seen.has(s.name)) {
      throw new DockerfileParseError(
        file,
        s.from.line,
        `duplicate stage name ${JSON.stringify(s.name)}, stage names should be unique`,
      );
    }
    seen.set(s.name, s.index);
  }
  return {
    metaArgs,
    stages,
    escapeToken: parsed.escapeToken,
    directives: parsed.directives,
    warnings: parsed.warnings,
  };
}

/**
 * Parses Dockerfile text all the way to stages.
 *
 * @example
 * ```ts
 * const { stages } = parseDockerfileStages("FROM busybox\nCMD [\"sh\"]\n");
 * stages[0].instructions[0].kind; // "CMD"
 * ```
 */
export function parseDockerfileStages(text: string, options: ParseOptions = {}): DockerfileStages {
  return dockerfileStages(parseDockerfile(text, options), options);
}
