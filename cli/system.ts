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

/** Docker's y/N question on stdout; true for y or yes. */
async function confirm(question: string): Promise<boolean> {
  await Deno.stdout.write(new TextEncoder().encode(`${question} [y/N] `));
  const buf = new Uint8Array(256);
  const n = await Deno.stdin.read(buf).catch(() => null);
  const answer = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}

const dfSpec: CommandSpec = {
  name: "df",
  usage: "[OPTIONS]",
  description: "Show disk usage of the state root by images, containers, volumes, build cache and more",
  flags: [
    { name: "verbose", short: "v", type: "bool", description: "Show detailed information on space usage" },
    {
      name: "format",
      type: "string",
      value: "string",
      description: "Format output: table, json, or a Go template ({{.Type}}, {{.Size}}, {{.SizeBytes}}…)",
    },
  ],
  maxArgs: 0,
  async run({ flags }) {
    const [{ collectDiskUsage }, fmt, { familiarName, parseReference }] = await Promise.all([
      import("../runtime/disk_usage.ts"),
      import("./format.ts"),
      import("../image/reference.ts"),
    ]);
    const usage = await collectDiskUsage(rootDir());
    const size = (n: number) => fmt.humanSize(n, 4);
    const pct = (part: number, whole: number) =>
      `${size(part)} (${whole ? Math.floor(part * 100 / whole) : 0}%)`;
    const rows = usage.rows.map((r) => ({
      Type: r.type,
      TotalCount: String(r.total),
      Active: String(r.active),
      Size: size(r.bytes),
      Reclaimable: pct(r.reclaimable, r.bytes),
      SizeBytes: r.bytes,
      ReclaimableBytes: r.reclaimable,
    }));
    const format = typeof flags.format === "string" ? flags.format : "";
    const short = (id: string) => id.replace(/^sha256:/, "").slice(0, 12);
    const images = usage.images.flatMap((i) => {
      const names = i.names.length ? i.names.map((n) => familiarName(parseReference(n))) : ["<none>:<none>"];
      return names.map((n) => {
        const at = n.lastIndexOf(":") > n.lastIndexOf("/") ? n.lastIndexOf(":") : -1;
        return {
          Repository: at === -1 ? n : n.slice(0, at),
          Tag: at === -1 ? "<none>" : n.slice(at + 1),
          ID: short(i.id),
          CreatedSince: fmt.timeAgo(i.created),
          Size: size(i.bytes),
          SharedSize: size(i.sharedBytes),
          UniqueSize: size(i.bytes - i.sharedBytes),
          Containers: String(i.containers),
        };
      });
    });
    const containers = usage.containers.map((c) => ({
      ID: short(c.id),
      Image: c.image,
      Command: JSON.stringify(c.command.length > 20 ? c.command.slice(0, 19) + "…" : c.command),
      LocalVolumes: String(c.volumes),
      Size: size(c.bytes),
      RunningFor: fmt.timeAgo(new Date(c.created).toISOString()),
      Status: c.status,
      Names: c.name,
    }));
    const volumes = usage.volumes.map((v) => ({ Name: v.name, Links: String(v.links), Size: size(v.bytes) }));
    const cache = usage.buildCache.map((b) => ({
      ID: b.id,
      CacheType: b.type,
      Size: size(b.bytes),
      LastUsedSince: b.lastUsed ? fmt.timeAgo(new Date(b.lastUsed).toISOString()) : "",
      Shared: String(b.shared),
    }));
    const other = usage.other.map((o) => ({ Path: o.path, Size: size(o.bytes) }));
    if (format === "json" && flags.verbose) {
      console.log(
        JSON.stringify({
          Images: images,
          Containers: containers,
          Volumes: volumes,
          BuildCache: cache,
          Other: other,
        }),
      );
      return;
    }
    if (format && format !== "table") {
      for (const line of fmt.formatRows(format, rows, DF_HEADERS)) console.log(line);
      return;
    }
    const table = (headers: string[], body: string[][]) => fmt.renderTable([headers, ...body]);
    if (!flags.verbose) {
      console.log(
        table(
          ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
          rows.map((r) => [r.Type, r.TotalCount, r.Active, r.Size, r.Reclaimable]),
        ),
      );
      return;
    }
    const sections = [
      "Images space usage:\n\n" + table(
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"],
        images.map((
          i,
        ) => [i.Repository, i.Tag, i.ID, i.CreatedSince, i.Size, i.SharedSize, i.UniqueSize, i.Containers]),
      ),
      "Containers space usage:\n\n" + table(
        ["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"],
        containers.map((
          c,
        ) => [c.ID, c.Image, c.Command, c.LocalVolumes, c.Size, c.RunningFor, c.Status, c.Names]),
      ),
      "Local Volumes space usage:\n\n" +
      table(["VOLUME NAME", "LINKS", "SIZE"], volumes.map((v) => [v.Name, v.Links, v.Size])),
      `Build cache usage: ${rows[3].Size}\n\n` + table(
        ["CACHE ID", "CACHE TYPE", "SIZE", "LAST USED", "SHARED"],
        cache.map((b) => [b.ID, b.CacheType, b.Size, b.LastUsedSince, b.Shared]),
      ),
      `Registry storage (ctr serve): ${rows[4].Size}`,
      `Other (ctr's own files) usage: ${rows[5].Size}\n\n` +
      table(["PATH", "SIZE"], other.map((o) => [o.Path, o.Size])),
      `Total: ${size(usage.totalBytes)} (${usage.totalBytes} bytes) in ${usage.root}`,
    ];
    console.log(sections.join("\n\n"));
  },
};

const DF_HEADERS: Record<string, string> = {
  Type: "TYPE",
  TotalCount: "TOTAL",
  Active: "ACTIVE",
  Size: "SIZE",
  Reclaimable: "RECLAIMABLE",
  SizeBytes: "SIZE (BYTES)",
  ReclaimableBytes: "RECLAIMABLE (BYTES)",
};

const pruneSpec: CommandSpec = {
  name: "prune",
  usage: "[OPTIONS]",
  description: "Remove unused data: stopped containers, unused networks, dangling images and build cache",
  flags: [
    {
      name: "all",
      short: "a",
      type: "bool",
      description: "Remove all unused images and build cache, not just dangling ones",
    },
    {
      name: "filter",
      type: "list",
      value: "filter",
      description: 'Provide filter values (e.g. "label=<key>=<value>", "until=24h")',
    },
    { name: "force", short: "f", type: "bool", description: "Do not prompt for confirmation" },
    {
      name: "volumes",
      type: "bool",
      description: "Prune anonymous volumes (with --all: every unused volume)",
    },
  ],
  maxArgs: 0,
  async run({ flags }) {
    const all = flags.all === true, volumes = flags.volumes === true;
    const filters = flags.filter as string[];
    const { parsePruneFilters } = await import("../runtime/prune_filter.ts");
    try {
      parsePruneFilters(filters);
    } catch (e) {
      const { UsageError } = await import("../errors.ts");
      throw new UsageError((e as Error).message, "system prune");
    }
    if (!flags.force) {
      const items = [
        "all stopped containers",
        "all networks not used by at least one container",
        ...(volumes ? [`all ${all ? "" : "anonymous "}volumes not used by at least one container`] : []),
        all ? "all images without at least one container associated to them" : "all dangling images",
        filters.length
          ? "(the build cache is kept when filters are given)"
          : all
          ? "all build cache"
          : "unused build cache",
      ];
      const ok = await confirm(
        `WARNING! This will remove:\n${
          items.map((i) => `  - ${i}`).join("\n")
        }\n\nAre you sure you want to continue?`,
      );
      if (!ok) return;
    }
    const [{ systemPrune }, { humanSize }] = await Promise.all([
      import("../runtime/system_prune.ts"),
      import("./format.ts"),
    ]);
    const r = await systemPrune(rootDir(), { all, volumes, filters });
    const section = (title: string, lines: string[]) => {
      if (lines.length) console.log(`${title}:\n${lines.join("\n")}\n`);
    };
    section("Deleted Containers", r.containers);
    section("Deleted Networks", r.networks);
    section("Deleted Volumes", r.volumes);
    section("Deleted Images", [
      ...r.images.untagged.map((u) => `untagged: ${u}`),
      ...r.images.deleted.map((d) => `deleted: ${d}`),
    ]);
    section("Deleted build cache objects", r.buildCache);
    console.log(`Total reclaimed space: ${humanSize(r.reclaimedBytes)}`);
  },
};

const infoSpec: CommandSpec = {
  name: "info",
  usage: "[OPTIONS]",
  description: "Display system-wide information",
  flags: [{
    name: "format",
    short: "f",
    type: "string",
    value: "string",
    description: "Format output: json, or a Go template ({{.ContainersRunning}}, {{.KernelVersion}}…)",
  }],
  maxArgs: 0,
  async run({ flags }) {
    const [{ systemInfo }, { formatTemplate }, { isDebug }] = await Promise.all([
      import("../runtime/system_info.ts"),
      import("./format.ts"),
      import("./global.ts"),
    ]);
    const info = await systemInfo(rootDir(), VERSION, isDebug());
    const format = typeof flags.format === "string" ? flags.format : "";
    if (format === "json") return void console.log(JSON.stringify(info));
    if (format) return void console.log(formatTemplate(format, info));
    const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)}GiB`;
    const lines = [
      "Client:",
      ` Version:    ${VERSION}`,
      ` Deno:       ${info.Deno}`,
      "",
      "Server:",
      ` Containers: ${info.Containers}`,
      `  Running: ${info.ContainersRunning}`,
      `  Paused: ${info.ContainersPaused}`,
      `  Stopped: ${info.ContainersStopped}`,
      ` Images: ${info.Images}`,
      ` Volumes: ${info.Volumes}`,
      ` Server Version: ${info.ServerVersion}`,
      ` Storage Driver: ${info.Driver}`,
      ...info.DriverStatus.map(([k, v]) => `  ${k}: ${v}`),
      ` Logging Driver: ${info.LoggingDriver}`,
      ` Cgroup Driver: ${info.CgroupDriver}`,
      ` Cgroup Version: ${info.CgroupVersion}`,
      " Plugins:",
      `  Volume: ${info.Plugins.Volume.join(" ")}`,
      `  Network: ${info.Plugins.Network.join(" ")}`,
      `  Log: ${info.Plugins.Log.join(" ")}`,
      " Security Options:",
      ...info.SecurityOptions.map((o) => `  ${o.replace(/^name=/, "").replace(/,/g, ", ")}`),
      ` Kernel Version: ${info.KernelVersion}`,
      ` Operating System: ${info.OperatingSystem}`,
      ` OSType: ${info.OSType}`,
      ` Architecture: ${info.Architecture}`,
      ` CPUs: ${info.NCPU}`,
      ` Total Memory: ${gib(info.MemTotal)}`,
      ` Name: ${info.Name}`,
      ` Root Dir: ${info.DockerRootDir}`,
      ` Debug Mode: ${info.Debug}`,
      ` Supervisor: ${info.Supervisor.Running ? `running (pid ${info.Supervisor.Pid})` : "not running"}`,
    ];
    console.log(lines.join("\n"));
  },
};

const systemGroup: CommandSpec = {
  name: "system",
  usage: "COMMAND",
  description: "Manage ctr's state",
  subcommands: [
    dfSpec,
    infoSpec,
    pruneSpec,
    {
      name: "service",
      usage: "",
      description:
        "Start ctr's supervisor for the state root unless it runs, and return once it serves\n(after a reboot it starts the containers whose restart policy says so; for a boot-time service unit, see README.md)",
      maxArgs: 0,
      async run() {
        const { request } = await import("../runtime/client.ts");
        const r = await request<{ pid: number }>(rootDir(), { op: "ping" });
        console.log(`ctr supervisor for ${rootDir()} is running (pid ${r.pid})`);
      },
    },
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
  infoSpec,
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
      description:
        "Format output: json, or a Go template ({{.Client.Version}}, {{.Server.Supervisor.Running}}…)",
    }],
    maxArgs: 0,
    async run({ flags }) {
      // `version` runs with read, env and the OS release only (see the launcher): no /proc.
      let kernel = "";
      try {
        kernel = Deno.osRelease();
      } catch { /* not granted */ }
      const info = {
        Client: {
          Version: VERSION,
          Deno: Deno.version.deno,
          V8: Deno.version.v8,
          TypeScript: Deno.version.typescript,
          Os: Deno.build.os,
          Arch: Deno.build.arch,
        },
        Server: {
          Version: VERSION,
          Root: rootDir(),
          KernelVersion: kernel,
          Os: Deno.build.os,
          Arch: Deno.build.arch,
        },
      };
      const format = typeof flags.format === "string" ? flags.format : "";
      if (format === "json") return void console.log(JSON.stringify(info));
      if (format) {
        const { formatTemplate } = await import("./format.ts");
        return void console.log(formatTemplate(format, info));
      }
      const c = info.Client, sv = info.Server;
      console.log([
        "Client:",
        ` Version:        ${c.Version}`,
        ` Deno:           ${c.Deno}`,
        ` V8:             ${c.V8}`,
        ` TypeScript:     ${c.TypeScript}`,
        ` OS/Arch:        ${c.Os}/${c.Arch}`,
        "",
        "Server:",
        ` Version:        ${sv.Version}`,
        ` Root:           ${sv.Root}`,
        ` Kernel:         ${sv.KernelVersion}`,
        ` OS/Arch:        ${sv.Os}/${sv.Arch}`,
        " (`ctr system info` tells more: containers, images, supervisor, cgroups)",
      ].join("\n"));
    },
  },
];

/** Heading for `ctr help`. */
export const title = "Other commands";
