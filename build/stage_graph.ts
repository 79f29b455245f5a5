/**
 * The stage graph of a multi-stage Dockerfile: which stage each stage builds on (`FROM
 * stage`), which it copies from (`COPY --from=stage|index|image`, `RUN --mount=from=…`),
 * which stages the target needs (the others are skipped), and in which waves the needed
 * stages can build in parallel.
 *
 * Names resolve to earlier stages only; anything else is an image reference. Pure: no I/O.
 *
 * @module
 */
import type { DockerfileStages, Stage } from "./dockerfile/instructions.ts";
import { DockerfileParseError } from "./dockerfile/parser.ts";
import { type Env, ShellLexer } from "./dockerfile/shell_lexer.ts";

/** What a stage refers to: an earlier stage or an image. */
export type StageRef = { stage: number } | { image: string };

/** One stage with its resolved base and dependencies. */
export interface StageNode {
  index: number;
  name?: string;
  /** The expanded base: a stage index, an image reference, or `scratch`. */
  base: StageRef | { scratch: true };
  /** The expanded `--platform` of FROM, if any. */
  platform?: string;
  /** Stages this stage needs (base and copy sources), sorted. */
  dependsOn: number[];
  /** Images used by `COPY --from` / `RUN --mount=from=` (not the base). */
  copyImages: string[];
}

/** The resolved graph. */
export interface StageGraph {
  nodes: StageNode[];
  /** The stage built as the result. */
  target: number;
  /** Stages the target needs (itself included), ascending. */
  needed: number[];
  /** Needed stages grouped in waves: each wave only depends on earlier waves. */
  waves: number[][];
}

/** Options for {@linkcode stageGraph}. */
export interface StageGraphOptions {
  /** `--target`: a stage name; default the last stage. */
  target?: string;
  /** Global scope (meta args + platform args), for expanding FROM lines. */
  globals: Env;
  /** Command-line build args (for stage ARGs used in `--from`). */
  buildArgs: ReadonlyMap<string, string>;
  file?: string;
  escapeToken?: string;
}

/** Resolves a `--from` / `from=` value against the stages before `current`. */
export function resolveStageRef(df: DockerfileStages, value: string, current: number): StageRef {
  if (/^\d+$/.test(value)) {
    const i = Number(value);
    if (i >= current) {
      throw new Error(`invalid from flag value ${value}: refers to current or future build stage`);
    }
    return { stage: i };
  }
  const lower = value.toLowerCase();
  const s = df.stages.find((st) => st.name === lower && st.index < current);
  return s ? { stage: s.index } : { image: value };
}

/** Mount `from=` values of a RUN (raw, unexpanded CSV fields). */
function mountFroms(mount: string): string[] {
  const out: string[] = [];
  for (const field of mount.split(",")) {
    const eq = field.indexOf("=");
    if (eq > 0 && field.slice(0, eq).trim().toLowerCase() === "from") out.push(field.slice(eq + 1).trim());
  }
  return out;
}

/**
 * Resolves bases and dependencies and prunes to what the target needs.
 *
 * @example
 * ```ts
 * const df = parseDockerfileStages("FROM busybox AS a\nFROM busybox AS b\nFROM a\nCOPY --from=b /x /x\n");
 * const g = stageGraph(df, { globals: new Map(), buildArgs: new Map() });
 * g.waves; // [[0, 1], [2]]
 * ```
 */
export function stageGraph(df: DockerfileStages, options: StageGraphOptions): StageGraph {
  const file = options.file ?? "Dockerfile";
  const lex = new ShellLexer({ escapeToken: options.escapeToken ?? df.escapeToken });
  const nodes: StageNode[] = df.stages.map((stage: Stage): StageNode => {
    const at = (line: number, e: unknown): never => {
      throw new DockerfileParseError(file, line, e instanceof Error ? e.message : String(e));
    };
    let image = "";
    let platform: string | undefined;
    try {
      image = lex.processWord(stage.from.image, options.globals);
      if (stage.from.platform) platform = lex.processWord(stage.from.platform, options.globals);
    } catch (e) {
      at(stage.from.line, e);
    }
    if (image === "") at(stage.from.line, `base name (${stage.from.image}) should not be blank`);
    const base = image.toLowerCase() === "scratch"
      ? { scratch: true as const }
      : resolveStageRef(df, image, stage.index);
    const deps = new Set<number>();
    const images = new Set<string>();
    if ("stage" in base) deps.add(base.stage);
    // Stage ARGs as declared so far, for `--from=$X` (ENV of the base is not known yet).
    const scope = new Map<string, string>();
    for (const inst of stage.instructions) {
      let froms: string[] = [];
      if (inst.kind === "ARG") {
        for (const a of inst.args) {
          if (options.buildArgs.has(a.key)) scope.set(a.key, options.buildArgs.get(a.key)!);
          else if (a.value !== undefined) scope.set(a.key, lex.processWord(a.value, scope));
          else if (options.globals.has(a.key)) scope.set(a.key, options.globals.get(a.key)!);
        }
      } else if (inst.kind === "COPY" && inst.from) froms = [inst.from];
      else if (inst.kind === "RUN") froms = inst.mounts.flatMap(mountFroms);
      for (const raw of froms) {
        let value: string;
        try {
          value = lex.processWord(raw, scope);
          const ref = resolveStageRef(df, value, stage.index);
          if ("stage" in ref) deps.add(ref.stage);
          else images.add(ref.image);
        } catch (e) {
          at(inst.line, e);
        }
      }
    }
    return {
      index: stage.index,
      name: stage.name,
      base,
      platform,
      dependsOn: [...deps].sort((a, b) => a - b),
      copyImages: [...images].sort(),
    };
  });

  let target = nodes.length - 1;
  if (options.target !== undefined && options.target !== "") {
    const t = df.stages.find((s) => s.name === options.target!.toLowerCase());
    if (!t) throw new DockerfileParseError(file, 0, `target stage "${options.target}" could not be found`);
    target = t.index;
  }
  const needed = new Set<number>();
  const visit = (i: number) => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of nodes[i].dependsOn) visit(d);
  };
  visit(target);
  const neededList = [...needed].sort((a, b) => a - b);
  // Deps always point backwards, so one pass in index order computes each stage's depth.
  const depth = new Map<number, number>();
  for (const i of neededList) {
    depth.set(i, Math.max(-1, ...nodes[i].dependsOn.map((d) => depth.get(d)!)) + 1);
  }
  const waves: number[][] = [];
  for (const i of neededList) (waves[depth.get(i)!] ??= []).push(i);
  return { nodes, target, needed: neededList, waves };
}
