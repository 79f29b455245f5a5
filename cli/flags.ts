/**
 * Command definitions and a Docker-compatible (pflag-style) argument parser.
 *
 * Every command is a {@linkcode CommandSpec}: its flags, usage line and handler. The same
 * definitions produce `--help` text, the `docs/` reference and shell completions, so the
 * help never drifts from what the parser accepts.
 *
 * Parsing follows Docker's CLI: `--name value`, `--name=value`, `-n value`, `-nvalue`,
 * grouped short booleans (`-it`), `--bool=false`, repeated list flags (`-e A -e B`), `--` to
 * end flags, and — for commands that run another program (`run`, `exec`, `create`) — flags
 * stop at the first positional argument so `ctr run img sh -c 'x'` leaves `-c` alone.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/** The value kinds a flag can take. */
export type FlagType = "bool" | "string" | "list" | "number";

/** One command-line flag. */
export interface FlagSpec {
  /** Long name without the leading `--`. */
  name: string;
  /** One-letter short form without the leading `-`. */
  short?: string;
  type: FlagType;
  description: string;
  /** Placeholder shown in help, e.g. `NAME`. Defaults to the type. */
  value?: string;
  /** Default value (shown in help); a bool flag with `default: true` is on unless `--x=false`. */
  default?: string | number | boolean;
  /** Not listed in help (accepted for compatibility). */
  hidden?: boolean;
}

/** Parsed flag values: bool → boolean, string → string, list → string[], number → number. */
export type FlagValues = Record<string, string | boolean | number | string[] | undefined>;

/** What a handler receives. */
export interface CommandContext {
  flags: FlagValues;
  args: string[];
  /** Full command path, e.g. `image ls`. */
  command: string;
}

/** One command or sub-command. */
export interface CommandSpec {
  /** Name as typed (`run`, or `ls` under the `image` group). */
  name: string;
  aliases?: string[];
  /** Usage after the command name, e.g. `[OPTIONS] IMAGE [COMMAND] [ARG...]`. */
  usage: string;
  description: string;
  flags?: FlagSpec[];
  /** Stop flag parsing at the first positional (commands that run another program). */
  stopAtPositional?: boolean;
  minArgs?: number;
  maxArgs?: number;
  /** Sub-commands (`image ls`, `volume create`). A group may also have its own handler. */
  subcommands?: CommandSpec[];
  hidden?: boolean;
  /** Returns the process exit code (0 when void). */
  run?: (ctx: CommandContext) => Promise<number | void> | number | void;
}

const helpFlag: FlagSpec = { name: "help", type: "bool", description: "Print usage", hidden: true };

/**
 * Parses `argv` against a command's flags.
 *
 * @example
 * ```ts
 * const spec = { name: "run", usage: "IMAGE", description: "", stopAtPositional: true,
 *   flags: [{ name: "rm", type: "bool", description: "" }] } as const;
 * parseFlags(spec, ["--rm", "busybox", "sh", "-c", "true"]);
 * // → { flags: { rm: true }, args: ["busybox", "sh", "-c", "true"] }
 * ```
 */
export function parseFlags(
  spec: CommandSpec,
  argv: string[],
  commandPath = spec.name,
): { flags: FlagValues; args: string[] } {
  const flags = [...(spec.flags ?? []), helpFlag];
  const byLong = new Map(flags.map((f) => [f.name, f]));
  const byShort = new Map(flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const values: FlagValues = {};
  for (const f of flags) {
    if (f.type === "list") values[f.name] = [];
    else if (f.type === "bool") values[f.name] = f.default === true;
    else if (f.default !== undefined) values[f.name] = f.default;
  }
  const args: string[] = [];

  const set = (f: FlagSpec, raw: string | undefined, shown: string) => {
    if (f.type === "bool") {
      if (raw === undefined || raw === "true" || raw === "1") values[f.name] = true;
      else if (raw === "false" || raw === "0") values[f.name] = false;
      else {throw new UsageError(
          `invalid argument "${raw}" for "${shown}" flag: expected true or false`,
          commandPath,
        );}
      return;
    }
    if (raw === undefined) throw new UsageError(`flag needs an argument: ${shown}`, commandPath);
    if (f.type === "number") {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) {
        throw new UsageError(`invalid argument "${raw}" for "${shown}" flag: not a number`, commandPath);
      }
      values[f.name] = n;
    } else if (f.type === "list") {
      (values[f.name] as string[]).push(raw);
    } else {
      values[f.name] = raw;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--") && a.length > 2) {
      const eq = a.indexOf("=");
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      const f = byLong.get(name);
      if (!f) throw new UsageError(`unknown flag: --${name}`, commandPath);
      if (eq !== -1) set(f, a.slice(eq + 1), `--${name}`);
      else if (f.type === "bool") set(f, undefined, `--${name}`);
      else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`, commandPath);
        set(f, argv[++i], `--${name}`);
      }
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      // A group of short flags: booleans may be combined; a value flag takes the rest of
      // the word or the next argument.
      for (let j = 1; j < a.length; j++) {
        const c = a[j];
        const f = byShort.get(c);
        if (!f) throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`, commandPath);
        if (f.type === "bool") {
          if (a[j + 1] === "=") {
            set(f, a.slice(j + 2), `-${c}`);
            break;
          }
          set(f, undefined, `-${c}`);
          continue;
        }
        let rest = a.slice(j + 1);
        if (rest.startsWith("=")) rest = rest.slice(1);
        if (rest !== "") set(f, rest, `-${c}`);
        else {
          if (i + 1 >= argv.length) {
            throw new UsageError(`flag needs an argument: '${c}' in -${c}`, commandPath);
          }
          set(f, argv[++i], `-${c}`);
        }
        break;
      }
      continue;
    }
    args.push(a);
    if (spec.stopAtPositional) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }
  return { flags: values, args };
}

/** Finds the sub-command `argv[0]` names, if `spec` is a group. */
export function findSubcommand(spec: CommandSpec, name: string): CommandSpec | undefined {
  return spec.subcommands?.find((s) => s.name === name || s.aliases?.includes(name));
}

/**
 * Resolves the command (descending into groups), parses flags, checks the argument count
 * and runs the handler. Returns the exit code.
 *
 * @example
 * ```ts
 * const code = await dispatch(imageGroup, ["ls", "-q"], "image");
 * ```
 */
export async function dispatch(spec: CommandSpec, argv: string[], path = spec.name): Promise<number> {
  if (spec.subcommands?.length && argv.length > 0 && !argv[0].startsWith("-")) {
    const sub = findSubcommand(spec, argv[0]);
    if (sub) return dispatch(sub, argv.slice(1), `${path} ${sub.name}`);
    if (!spec.run) throw new UsageError(`unknown command: "${path} ${argv[0]}"`, path);
  }
  const { flags, args } = parseFlags(spec, argv, path);
  if (flags.help || (!spec.run && spec.subcommands?.length)) {
    console.log(formatHelp(spec, path));
    return 0;
  }
  if (spec.minArgs !== undefined && args.length < spec.minArgs) {
    throw new UsageError(
      `"${path}" requires ${spec.maxArgs === spec.minArgs ? "exactly" : "at least"} ${spec.minArgs} argument${
        spec.minArgs === 1 ? "" : "s"
      }`,
      path,
    );
  }
  if (spec.maxArgs !== undefined && args.length > spec.maxArgs) {
    throw new UsageError(
      spec.maxArgs === 0
        ? `"${path}" accepts no arguments`
        : `"${path}" requires at most ${spec.maxArgs} argument${spec.maxArgs === 1 ? "" : "s"}`,
      path,
    );
  }
  const result = await spec.run!({ flags, args, command: path });
  return typeof result === "number" ? result : 0;
}

/**
 * Renders `--help` for a command, Docker style.
 *
 * @example
 * ```ts
 * console.log(formatHelp(runSpec, "run"));
 * ```
 */
export function formatHelp(spec: CommandSpec, path = spec.name): string {
  const lines = [`Usage:  ctr ${path}${spec.usage ? " " + spec.usage : ""}`, "", spec.description];
  if (spec.aliases?.length) lines.push("", "Aliases:", `  ${[spec.name, ...spec.aliases].join(", ")}`);
  const subs = (spec.subcommands ?? []).filter((s) => !s.hidden);
  if (subs.length) {
    lines.push("", "Commands:");
    const w = Math.max(...subs.map((s) => s.name.length));
    for (const s of subs) lines.push(`  ${s.name.padEnd(w)}  ${s.description.split("\n")[0]}`);
  }
  const flags = (spec.flags ?? []).filter((f) => !f.hidden);
  if (flags.length) {
    lines.push("", "Options:");
    const left = flags.map((f) => {
      const v = f.type === "bool" ? "" : ` ${f.value ?? (f.type === "list" ? "list" : f.type)}`;
      return `${f.short ? `-${f.short}, ` : "    "}--${f.name}${v}`;
    });
    const w = Math.max(...left.map((l) => l.length));
    flags.forEach((f, i) => {
      const def = f.default !== undefined && f.default !== ""
        ? ` (default ${JSON.stringify(f.default)})`
        : "";
      lines.push(`  ${left[i].padEnd(w)}   ${f.description}${def}`);
    });
  }
  if (subs.length) lines.push("", `Run 'ctr ${path} COMMAND --help' for more information on a command.`);
  return lines.join("\n");
}
