/**
 * `ctr network create|ls|inspect|rm|prune`, with Docker's flags and output. The work is done
 * by `runtime/network/manage.ts`, imported lazily. Failures print `ctr: …` and exit 1
 * (Docker's code for these commands); bad flags exit 125.
 *
 * @module
 */
import type { CommandContext, CommandSpec } from "./flags.ts";
import { ExitCodeError, UsageError } from "../errors.ts";
import { rootDir } from "./global.ts";
import type { NetworkService } from "../runtime/network/service.ts";

/** Opens the network service of the state root (no nftables until something needs it). */
async function openService(): Promise<{ svc: NetworkService; close(): Promise<void> }> {
  const [{ openDatabase }, { networkSchema }, { NetworkService }] = await Promise.all([
    import("../image/db.ts"),
    import("../runtime/network/store.ts"),
    import("../runtime/network/service.ts"),
  ]);
  const root = rootDir();
  const db = openDatabase(`${root}/ctr.db`, [networkSchema]);
  const svc = new NetworkService({ root, db });
  return {
    svc,
    async close() {
      await svc.close();
      db.close();
    },
  };
}

/** Runs a handler with the service open, turning failures into exit code 1. */
function withService(
  fn: (svc: NetworkService, ctx: CommandContext) => Promise<number | void> | number | void,
): (ctx: CommandContext) => Promise<number | void> {
  return async (ctx) => {
    let opened: Awaited<ReturnType<typeof openService>> | undefined;
    try {
      opened = await openService();
      return await fn(opened.svc, ctx);
    } catch (e) {
      if (e instanceof UsageError || e instanceof ExitCodeError) throw e;
      throw new ExitCodeError(1, e instanceof Error ? e.message : String(e), { cause: e });
    } finally {
      await opened?.close();
    }
  };
}

/** `key=value` list flags into a record (`--label`, `--opt`). */
function keyValues(values: string[], flag: string, command: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq === 0) throw new UsageError(`invalid argument "${v}" for "--${flag}" flag: empty key`, command);
    if (eq === -1) out[v] = "";
    else out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

const LS_HEADERS: Record<string, string> = {
  ID: "NETWORK ID",
  Name: "NAME",
  Driver: "DRIVER",
  Scope: "SCOPE",
  IPv6: "IPV6",
  Internal: "INTERNAL",
  Labels: "LABELS",
  CreatedAt: "CREATED AT",
};

const createSpec: CommandSpec = {
  name: "create",
  usage: "[OPTIONS] NETWORK",
  description: "Create a network",
  minArgs: 1,
  maxArgs: 1,
  flags: [
    {
      name: "driver",
      short: "d",
      type: "string",
      value: "string",
      default: "bridge",
      description: "Driver to manage the Network",
    },
    {
      name: "subnet",
      type: "list",
      value: "strings",
      description: "Subnet in CIDR format that represents a network segment",
    },
    { name: "gateway", type: "list", value: "strings", description: "IPv4 Gateway for the master subnet" },
    { name: "internal", type: "bool", description: "Restrict external access to the network" },
    { name: "label", type: "list", value: "list", description: "Set metadata on a network" },
    { name: "opt", short: "o", type: "list", value: "map", description: "Set driver specific options" },
    { name: "attachable", type: "bool", description: "Enable manual container attachment (always on)" },
  ],
  run: withService(async (svc, { flags, args, command }) => {
    const subnets = flags.subnet as string[], gateways = flags.gateway as string[];
    if (subnets.length > 1) throw new UsageError("ctr supports one --subnet per network", command);
    if (gateways.length > 1) throw new UsageError("ctr supports one --gateway per network", command);
    const { createNetwork } = await import("../runtime/network/manage.ts");
    const n = createNetwork(svc, {
      name: args[0],
      driver: flags.driver as string,
      subnet: subnets[0],
      gateway: gateways[0],
      internal: flags.internal as boolean,
      labels: keyValues(flags.label as string[], "label", command),
      options: keyValues(flags.opt as string[], "opt", command),
    });
    console.log(n.id);
  }),
};

const lsSpec: CommandSpec = {
  name: "ls",
  aliases: ["list"],
  usage: "[OPTIONS]",
  description: "List networks",
  maxArgs: 0,
  flags: [
    {
      name: "filter",
      short: "f",
      type: "list",
      value: "filter",
      description: 'Provide filter values (e.g. "driver=bridge")',
    },
    { name: "format", type: "string", value: "string", description: "Format output using a custom template" },
    { name: "no-trunc", type: "bool", description: "Do not truncate the output" },
    { name: "quiet", short: "q", type: "bool", description: "Only display network IDs" },
  ],
  run: withService(async (svc, { flags }) => {
    const [{ filterNetworks, summarizeNetwork }, { formatRows }] = await Promise.all([
      import("../runtime/network/manage.ts"),
      import("./format.ts"),
    ]);
    svc.ensureBuiltins();
    const nets = filterNetworks(svc, svc.store.listNetworks(), flags.filter as string[]);
    const rows = nets.map((n) => summarizeNetwork(n, flags["no-trunc"] as boolean));
    if (flags.quiet) {
      for (const r of rows) console.log(r.ID);
      return;
    }
    const format = (flags.format as string | undefined) ||
      "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
    const lines = formatRows(format, rows as unknown as Record<string, string>[], LS_HEADERS);
    if (lines.length) console.log(lines.join("\n"));
  }),
};

const inspectSpec: CommandSpec = {
  name: "inspect",
  usage: "[OPTIONS] NETWORK [NETWORK...]",
  description: "Display detailed information on one or more networks",
  minArgs: 1,
  flags: [
    {
      name: "format",
      short: "f",
      type: "string",
      value: "string",
      description: "Format output using a Go template",
    },
    { name: "verbose", short: "v", type: "bool", description: "Verbose output for diagnostics" },
  ],
  run: withService(async (svc, { flags, args }) => {
    const [{ inspectNetwork }, { printInspected }] = await Promise.all([
      import("../runtime/network/manage.ts"),
      import("./format.ts"),
    ]);
    svc.ensureBuiltins();
    const docs: Record<string, unknown>[] = [];
    const missing: string[] = [];
    for (const ref of args) {
      const n = svc.store.getNetwork(ref);
      if (n) docs.push(inspectNetwork(svc, n));
      else missing.push(ref);
    }
    printInspected(docs, flags.format as string | undefined);
    if (missing.length) {
      throw new ExitCodeError(
        1,
        missing.map((m) => `No such network: ${m}`).join("\nctr: "),
      );
    }
  }),
};

const rmSpec: CommandSpec = {
  name: "rm",
  aliases: ["remove"],
  usage: "NETWORK [NETWORK...]",
  description: "Remove one or more networks",
  minArgs: 1,
  flags: [{
    name: "force",
    short: "f",
    type: "bool",
    description: "Do not error if the network does not exist",
  }],
  run: withService(async (svc, { flags, args }) => {
    const { removeNetwork } = await import("../runtime/network/manage.ts");
    const errors: string[] = [];
    for (const ref of args) {
      try {
        removeNetwork(svc, ref);
        console.log(ref);
      } catch (e) {
        if (flags.force && e instanceof Error && e.name === "NotFoundError") continue;
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    if (errors.length) throw new ExitCodeError(1, errors.join("\nctr: "));
  }),
};

const pruneSpec: CommandSpec = {
  name: "prune",
  usage: "[OPTIONS]",
  description: "Remove all unused networks",
  maxArgs: 0,
  flags: [
    {
      name: "filter",
      type: "list",
      value: "filter",
      description: 'Provide filter values (e.g. "label=<key>=<value>")',
    },
    { name: "force", short: "f", type: "bool", description: "Do not prompt for confirmation" },
  ],
  run: withService(async (svc, { flags }) => {
    if (!flags.force) {
      const ok = await confirm(
        "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ",
      );
      if (!ok) return;
    }
    const { pruneNetworks } = await import("../runtime/network/manage.ts");
    const removed = pruneNetworks(svc, flags.filter as string[]);
    if (removed.length) console.log(["Deleted Networks:", ...removed, ""].join("\n"));
  }),
};

/** Asks the supervisor (running containers are changed live), turning failures into exit code 1. */
function viaSupervisor(
  fn: (ctx: CommandContext) => Promise<number | void>,
): (ctx: CommandContext) => Promise<number | void> {
  return async (ctx) => {
    try {
      return await fn(ctx);
    } catch (e) {
      if (e instanceof UsageError || e instanceof ExitCodeError) throw e;
      throw new ExitCodeError(1, e instanceof Error ? e.message : String(e), { cause: e });
    }
  };
}

const connectSpec: CommandSpec = {
  name: "connect",
  usage: "[OPTIONS] NETWORK CONTAINER",
  description: "Connect a container to a network",
  minArgs: 2,
  maxArgs: 2,
  flags: [
    {
      name: "alias",
      type: "list",
      value: "strings",
      description: "Add network-scoped alias for the container",
    },
    { name: "ip", type: "string", value: "string", description: "IPv4 address (e.g., 172.30.100.104)" },
  ],
  run: viaSupervisor(async ({ flags, args }) => {
    const { request } = await import("../runtime/client.ts");
    await request(rootDir(), {
      op: "network.connect",
      network: args[0],
      container: args[1],
      aliases: flags.alias,
      ip: flags.ip,
    });
  }),
};

const disconnectSpec: CommandSpec = {
  name: "disconnect",
  usage: "[OPTIONS] NETWORK CONTAINER",
  description: "Disconnect a container from a network",
  minArgs: 2,
  maxArgs: 2,
  flags: [{
    name: "force",
    short: "f",
    type: "bool",
    description: "Force the container to disconnect from a network",
  }],
  run: viaSupervisor(async ({ flags, args }) => {
    const { request } = await import("../runtime/client.ts");
    await request(rootDir(), {
      op: "network.disconnect",
      network: args[0],
      container: args[1],
      force: flags.force,
    });
  }),
};

const portSpec: CommandSpec = {
  name: "port",
  usage: "CONTAINER [PRIVATE_PORT[/PROTO]]",
  description: "List port mappings or a specific mapping for the container",
  minArgs: 1,
  maxArgs: 2,
  run: viaSupervisor(async ({ args }) => {
    const [{ request }, { formatPortLines }] = await Promise.all([
      import("../runtime/client.ts"),
      import("../runtime/network/ports.ts"),
    ]);
    const r = await request<{ ports: import("../runtime/network/ports.ts").BoundPort[] }>(rootDir(), {
      op: "port",
      ref: args[0],
    });
    let filter = args[1];
    if (filter !== undefined) {
      const [p, proto = "tcp"] = filter.split("/");
      if (!/^\d+$/.test(p) || (proto !== "tcp" && proto !== "udp")) {
        throw new ExitCodeError(1, `Invalid port: ${filter}`);
      }
      filter = `${Number(p)}/${proto}`;
    }
    const lines = formatPortLines(r.ports, filter);
    if (filter !== undefined && !lines.length) {
      throw new ExitCodeError(1, `No public port '${filter}' published for ${args[0]}`);
    }
    if (lines.length) console.log(lines.join("\n"));
  }),
};

async function confirm(question: string): Promise<boolean> {
  await Deno.stdout.write(new TextEncoder().encode(question));
  const buf = new Uint8Array(64);
  const n = await Deno.stdin.read(buf);
  const answer = n === null ? "" : new TextDecoder().decode(buf.subarray(0, n)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}

/** The commands of this group. */
export const commands: CommandSpec[] = [
  {
    name: "network",
    usage: "COMMAND",
    description: "Manage networks",
    subcommands: [connectSpec, createSpec, disconnectSpec, inspectSpec, lsSpec, pruneSpec, rmSpec],
  },
  portSpec,
];

/** Heading for `ctr help`. */
export const title = "Network commands";
