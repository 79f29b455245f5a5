import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { allNodes, argumentKinds, findNode, loadCommandTree, visibleFlags } from "./command_tree.ts";
import { type CommandSpec, formatHelp } from "./flags.ts";
import { commandTable } from "./table.ts";
import { findCommand } from "./system.ts";

const tree = await loadCommandTree();
const nodes = allNodes(tree);

Deno.test("every command has a one-line description and every flag a description", () => {
  const problems: string[] = [];
  for (const n of nodes) {
    const first = n.spec.description.split("\n")[0];
    const where = `ctr ${n.path.join(" ")}`;
    if (!first.trim()) problems.push(`${where}: no description`);
    else if (first.length > 90) problems.push(`${where}: first description line over 90 characters`);
    else if (/\.$/.test(first)) problems.push(`${where}: description ends with a period`);
    if (!n.spec.usage && n.spec.usage !== "") problems.push(`${where}: no usage`);
    for (const f of n.spec.flags ?? []) {
      if (!f.description.trim()) problems.push(`${where} --${f.name}: no description`);
    }
  }
  assertEquals(problems, []);
});

Deno.test("every top-level command name of the table is a command of its group", async () => {
  for (const [name, load] of Object.entries(commandTable)) {
    const group = await load();
    assert(
      group.commands.some((c) => c.name === name || c.aliases?.includes(name)),
      `'${name}' is in cli/table.ts but not among the commands of its group`,
    );
  }
});

Deno.test("help of every command lists its usage, sub-commands and visible flags", async () => {
  for (const n of nodes) {
    const path = n.path.join(" ");
    const help = formatHelp(n.spec, path);
    assertStringIncludes(help, `Usage:  ctr ${path}`);
    for (const c of n.children) assertStringIncludes(help, `  ${c.spec.name} `);
    for (const f of visibleFlags(n.spec)) assertStringIncludes(help, `--${f.name}`);
    // `ctr help PATH…` finds the same command.
    assertEquals(await findCommand(n.path), n.spec, `ctr help ${path}`);
  }
});

Deno.test("commands listed twice point at their first listing", () => {
  assertEquals(findNode(tree, ["image", "ls"])?.sameAs, ["images"]);
  assertEquals(findNode(tree, ["image", "list"])?.path, ["image", "ls"]);
  assertEquals(findNode(tree, ["container", "run"])?.sameAs, ["run"]);
  assertEquals(findNode(tree, ["run"])?.sameAs, undefined);
});

Deno.test("argument kinds come from the usage line", () => {
  const kinds = (usage: string, extra: Partial<CommandSpec> = {}) =>
    argumentKinds({ name: "x", description: "x", usage, run: () => {}, ...extra });
  const table: [string, ReturnType<typeof kinds>][] = [
    ["[OPTIONS] IMAGE [COMMAND] [ARG...]", { kinds: ["image", "none", "none"], repeat: true }],
    ["CONTAINER [CONTAINER...]", { kinds: ["container"], repeat: true }],
    ["[OPTIONS] NETWORK CONTAINER", { kinds: ["network", "container"], repeat: false }],
    ["SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", { kinds: ["image", "image"], repeat: false }],
    ["[OPTIONS] [REPOSITORY[:TAG]]", { kinds: ["image"], repeat: false }],
    ["[OPTIONS] VOLUME [VOLUME...]", { kinds: ["volume"], repeat: true }],
    ["[OPTIONS] PATH | -", { kinds: ["file"], repeat: false }],
    ["bash|zsh|fish", { kinds: [{ choices: ["bash", "zsh", "fish"] }], repeat: false }],
    ["[OPTIONS]", { kinds: [], repeat: false }],
  ];
  for (const [usage, want] of table) assertEquals(kinds(usage), want, usage);
  assertEquals(
    kinds("COMMAND", { run: undefined, subcommands: [{ name: "a", usage: "", description: "a" }] }),
    {
      kinds: [],
      repeat: false,
    },
  );
});
