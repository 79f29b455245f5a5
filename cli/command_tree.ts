/**
 * Every command of ctr as one tree, loaded from the command table (`cli/table.ts`): the
 * single source that `ctr help`, the `docs/` reference and the shell completions are
 * generated from.
 *
 * A command reachable under two names (`ctr images` and `ctr image ls`, `ctr run` and
 * `ctr container run`) is one node per path; the second and later paths carry `sameAs`,
 * the path of the first, so the reference can say "same as" instead of repeating it.
 *
 * @module
 */
import type { CommandSpec, FlagSpec } from "./flags.ts";
import { type CommandGroup, commandTable, type GroupLoader } from "./table.ts";

/** One command at one path. */
export interface CommandNode {
  /** Words typed after `ctr`, e.g. `["image", "ls"]`. */
  path: string[];
  spec: CommandSpec;
  /** Visible sub-commands. */
  children: CommandNode[];
  /** The path this same command was first listed under, if it is listed twice. */
  sameAs?: string[];
}

/** A group of top-level commands, as `ctr help` lists them. */
export interface CommandTreeGroup {
  title: string;
  commands: CommandNode[];
}

/** Top-level commands whose groups come first, in this order, in help and docs. */
const GROUP_ORDER = ["run", "images", "build", "pull", "serve", "network", "volume", "trust", "system"];

/** The flags every command accepts (`--help`), shown in completions only. */
export const HELP_FLAG: FlagSpec = { name: "help", type: "bool", description: "Print usage" };

/**
 * The command groups in help order, each loaded once.
 *
 * @example
 * ```ts
 * for (const g of await loadCommandGroups()) console.log(g.title);
 * ```
 */
export async function loadCommandGroups(): Promise<CommandGroup[]> {
  const loaders: GroupLoader[] = [];
  for (const name of [...GROUP_ORDER, ...Object.keys(commandTable)]) {
    const l = commandTable[name];
    if (l && !loaders.includes(l)) loaders.push(l);
  }
  const groups = await Promise.all(loaders.map((l) => l()));
  // Groups whose commands are all hidden (or that hold none) are left out.
  return groups.filter((g) => g.commands.some((c) => !c.hidden));
}

/** Whether two specs are the same command (one object, or a copy renamed as an alias). */
function sameCommand(a: CommandSpec, b: CommandSpec): boolean {
  if (a === b) return true;
  return a.run !== undefined && a.run === b.run && a.flags === b.flags && a.usage === b.usage;
}

/**
 * The whole tree: visible commands under their groups, with `sameAs` set on repeats.
 *
 * @example
 * ```ts
 * const groups = await loadCommandTree();
 * const ls = findNode(groups, ["image", "ls"]);
 * ```
 */
export async function loadCommandTree(): Promise<CommandTreeGroup[]> {
  const seen: { spec: CommandSpec; path: string[] }[] = [];
  const visit = (spec: CommandSpec, path: string[]): CommandNode => {
    const first = seen.find((s) => sameCommand(s.spec, spec));
    if (!first) seen.push({ spec, path });
    const node: CommandNode = { path, spec, children: [], sameAs: first?.path };
    node.children = (spec.subcommands ?? []).filter((s) => !s.hidden).map((s) => visit(s, [...path, s.name]));
    return node;
  };
  const groups = await loadCommandGroups();
  return groups.map((g) => ({
    title: g.title,
    commands: g.commands.filter((c) => !c.hidden).map((c) => visit(c, [c.name])),
  }));
}

/**
 * Every node of the tree, depth first.
 *
 * @example
 * ```ts
 * const all = allNodes(await loadCommandTree()).map((n) => n.path.join(" "));
 * ```
 */
export function allNodes(groups: CommandTreeGroup[]): CommandNode[] {
  const out: CommandNode[] = [];
  const walk = (n: CommandNode) => {
    out.push(n);
    n.children.forEach(walk);
  };
  for (const g of groups) g.commands.forEach(walk);
  return out;
}

/** The node at `path` (names or aliases), if any. */
export function findNode(groups: CommandTreeGroup[], path: string[]): CommandNode | undefined {
  let level = groups.flatMap((g) => g.commands);
  let node: CommandNode | undefined;
  for (const word of path) {
    node = level.find((n) => n.spec.name === word || n.spec.aliases?.includes(word));
    if (!node) return undefined;
    level = node.children;
  }
  return node;
}

/** The flags a command shows (hidden ones left out). */
export function visibleFlags(spec: CommandSpec): FlagSpec[] {
  return (spec.flags ?? []).filter((f) => !f.hidden);
}

/**
 * What a positional argument names, for completion: existing objects (listed by asking
 * ctr), files, top-level commands (`ctr help`), fixed words (`bash|zsh|fish`), or nothing.
 */
export type ArgumentKind =
  | "image"
  | "container"
  | "network"
  | "volume"
  | "file"
  | "command"
  | "none"
  | { choices: string[] };

/**
 * The kinds of a command's positional arguments, read from its usage line: `IMAGE` →
 * image, `CONTAINER` → container, `PATH`/`FILE` → file. The last kind repeats when the
 * usage ends with `...`.
 *
 * @example
 * ```ts
 * argumentKinds({ usage: "[OPTIONS] CONTAINER [CONTAINER...]" } as CommandSpec);
 * // → { kinds: ["container", "container"], repeat: true }
 * ```
 */
export function argumentKinds(spec: CommandSpec): { kinds: ArgumentKind[]; repeat: boolean } {
  const usage = spec.usage.split("\n")[0];
  const words = usage.split(/\s+/).map((w) => w.replace(/^\[+/, "").replace(/\]+$/, ""))
    .filter((w) => w && w !== "OPTIONS" && w !== "|" && w !== "-");
  if (spec.subcommands?.length && !spec.run) return { kinds: [], repeat: false };
  const kinds: ArgumentKind[] = [];
  let repeat = false;
  for (const w of words) {
    if (w === "COMMAND" && spec.subcommands?.length) continue;
    if (w.endsWith("...")) {
      repeat = true;
      if (w.replace(/\.\.\.$/, "") === words[words.indexOf(w) - 1]) continue;
    }
    kinds.push(kindOf(w.replace(/\.\.\.$/, "")));
  }
  return { kinds, repeat };
}

function kindOf(word: string): ArgumentKind {
  if (/^[a-z0-9-]+(\|[a-z0-9-]+)+$/.test(word)) return { choices: word.split("|") };
  if (/^(SOURCE_|TARGET_)?IMAGE\b|^NAME\[:TAG|^REPOSITORY/.test(word)) return "image";
  if (/^CONTAINER\b/.test(word)) return "container";
  if (/^NETWORK\b/.test(word)) return "network";
  if (/^VOLUME\b/.test(word)) return "volume";
  if (/PATH|FILE|file\|URL|DIR/.test(word)) return "file";
  return "none";
}
