/**
 * `ctr help`, `ctr completion`, `ctr version`, `ctr system …`: commands about ctr itself.
 *
 * @module
 */
import { type CommandSpec, findSubcommand, formatHelp } from "./flags.ts";
import { commandTable } from "./table.ts";
import { globalFlags, rootDir } from "./global.ts";
import { loadCommandGroups } from "./command_tree.ts";

/** ctr's version, kept equal to deno.json's. */
export const VERSION = "0.1.0";

/** `ctr help` without arguments: every command, by group. */
async function overview(): Promise<string> {
  const lines = ["Usage:  ctr [OPTIONS] COMMAND", "", "Build, ship and run OCI containers.", ""];
  const groups = await loadCommandGroups();
  for (const g of groups) {
    const cmds = g.commands.filter((c) => !c.hidden);
    if (!cmds.length) continue;
    lines.push(`${g.title}:`);
    const w = Math.max(...cmds.map((c) => c.name.length));
    for (const c of cmds) lines.push(`  ${c.name.padEnd(w)}  ${c.description.split("\n")[0]}`);
    lines.push("");
  }
  lines.push("Global Options:");
  for (const f of globalFlags) {
    const left = `${"short" in f ? `-${f.short}, ` : "    "}--${f.name}${"value" in f ? ` ${f.value}` : ""}`;
    lines.push(`  ${left.padEnd(18)} ${f.description}`);
  }
  lines.push("", "Run 'ctr COMMAND --help' for more information on a command.");
  return lines.join("\n");
}

/**
 * Finds the spec for a command path such as `["image", "ls"]`.
 *
 * @example
 * ```ts
 * const spec = await findCommand(["volume", "create"]);
 * ```
 */
export async function findCommand(path: string[]): Promise<CommandSpec | undefined> {
  const loader = commandTable[path[0]];
  if (!loader) return undefined;
  let spec = (await loader()).commands.find((c) => c.name === path[0] || c.aliases?.includes(path[0]));
  for (const p of path.slice(1)) spec = spec && findSubcommand(spec, p);
  return spec;
}

const systemGroup: CommandSpec = {
  name: "system",
  usage: "COMMAND",
  description: "Manage ctr's state",
  subcommands: [
    {
      name: "reset",
      usage: "[OPTIONS]",
      description:
        "Stop every container and ctr's supervisor for the state root, then remove all its state\n(images, containers, volumes, networks, build cache)",
      flags: [{ name: "force", short: "f", type: "bool", description: "Do not prompt for confirmation" }],
      maxArgs: 0,
      async run({ flags }) {
        const root = rootDir();
        if (!flags.force) {
          const answer = prompt(
            `WARNING! This stops all containers and removes all images, containers, volumes, networks and build cache in ${root}.\nAre you sure you want to continue? [y/N]`,
          );
          if (!answer || !/^y(es)?$/i.test(answer.trim())) return 0;
        }
        const { resetRoot } = await import("../runtime/teardown.ts");
        await resetRoot(root);
      },
    },
  ],
};

/** The commands of this group. */
export const commands: CommandSpec[] = [
  systemGroup,
  {
    name: "help",
    usage: "[COMMAND [SUBCOMMAND]]",
    description: "Show help for ctr or for one command",
    async run({ args }) {
      if (!args.length) {
        console.log(await overview());
        return 0;
      }
      const spec = await findCommand(args);
      if (!spec) {
        console.error(`ctr: unknown help topic: ${args.join(" ")}`);
        return 1;
      }
      console.log(formatHelp(spec, args.join(" ")));
    },
  },
  {
    name: "completion",
    usage: "bash|zsh|fish",
    description: "Print a shell completion script (bash, zsh or fish)",
    minArgs: 1,
    maxArgs: 1,
    async run({ args }) {
      const { SHELLS, completionScript } = await import("./completion_scripts.ts");
      const { loadCommandTree } = await import("./command_tree.ts");
      const shell = args[0] as typeof SHELLS[number];
      if (!SHELLS.includes(shell)) {
        const { UsageError } = await import("../errors.ts");
        throw new UsageError(`unsupported shell "${args[0]}": expected bash, zsh or fish`, "completion");
      }
      await Deno.stdout.write(new TextEncoder().encode(completionScript(shell, await loadCommandTree())));
    },
  },
  {
    name: "version",
    usage: "[OPTIONS]",
    description: "Show the ctr version information",
    flags: [{
      name: "format",
      short: "f",
      type: "string",
      value: "string",
      description: "Format output: json",
    }],
    maxArgs: 0,
    run({ flags }) {
      const info = {
        Version: VERSION,
        Deno: Deno.version.deno,
        V8: Deno.version.v8,
        TypeScript: Deno.version.typescript,
        Os: Deno.build.os,
        Arch: Deno.build.arch,
      };
      if (flags.format === "json") console.log(JSON.stringify(info));
      else for (const [k, v] of Object.entries(info)) console.log(`${(k + ":").padEnd(12)}${v}`);
    },
  },
];

/** Heading for `ctr help`. */
export const title = "Other commands";
