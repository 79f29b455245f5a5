/**
 * `ctr volume create|ls|inspect|rm|prune`. Flags and output only; volumes live in the
 * supervisor's database (see `runtime/volume_store.ts`).
 *
 * @module
 */
import type { CommandSpec } from "./flags.ts";
import { rootDir } from "./global.ts";

const client = () => import("../runtime/client.ts");
const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : []);

function keyValues(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of items) {
    const eq = i.indexOf("=");
    out[eq === -1 ? i : i.slice(0, eq)] = eq === -1 ? "" : i.slice(eq + 1);
  }
  return out;
}

type Volume = import("../runtime/volume_store.ts").VolumeInfo & { InUse?: boolean };

function publicShape(v: Volume) {
  const { Anonymous: _a, InUse: _u, ...rest } = v;
  return rest;
}

const volumeGroup: CommandSpec = {
  name: "volume",
  usage: "COMMAND",
  description: "Manage volumes",
  subcommands: [
    {
      name: "create",
      usage: "[OPTIONS] [VOLUME]",
      description: "Create a volume",
      flags: [
        {
          name: "driver",
          short: "d",
          type: "string",
          value: "string",
          description: "Specify volume driver name",
          default: "local",
        },
        { name: "label", type: "list", description: "Set metadata for a volume" },
        { name: "opt", short: "o", type: "list", description: "Set driver specific options" },
        { name: "name", type: "string", value: "string", description: "Specify volume name", hidden: true },
      ],
      maxArgs: 1,
      async run(ctx) {
        const name = ctx.args[0] ?? (typeof ctx.flags.name === "string" ? ctx.flags.name : "");
        const { request } = await client();
        const r = await request<{ volume: Volume }>(rootDir(), {
          op: "volume.create",
          name,
          driver: ctx.flags.driver,
          labels: keyValues(list(ctx.flags.label)),
          opts: keyValues(list(ctx.flags.opt)),
        });
        console.log(r.volume.Name);
      },
    },
    {
      name: "ls",
      aliases: ["list"],
      usage: "[OPTIONS]",
      description: "List volumes",
      flags: [
        { name: "quiet", short: "q", type: "bool", description: "Only display volume names" },
        {
          name: "filter",
          short: "f",
          type: "list",
          description: "Provide filter values (dangling, name, label, driver)",
        },
        {
          name: "format",
          type: "string",
          value: "string",
          description: "Format output: table, json, or a Go template",
        },
      ],
      maxArgs: 0,
      async run(ctx) {
        const { request } = await client();
        const { formatRows } = await import("./format.ts");
        const r = await request<{ volumes: Volume[] }>(rootDir(), { op: "volume.list" });
        const vols = r.volumes.filter((v) =>
          list(ctx.flags.filter).every((f) => {
            const [k, val = ""] = [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)];
            if (k === "name") return v.Name.includes(val);
            if (k === "driver") return v.Driver === val;
            if (k === "dangling") return (val === "true" || val === "1") ? !v.InUse : v.InUse;
            if (k === "label") {
              const eq = val.indexOf("=");
              return eq === -1 ? val in v.Labels : v.Labels[val.slice(0, eq)] === val.slice(eq + 1);
            }
            throw new TypeError(`invalid filter '${k}'`);
          })
        );
        if (ctx.flags.quiet) {
          for (const v of vols) console.log(v.Name);
          return;
        }
        const rows = vols.map((v) => ({
          Driver: v.Driver,
          Name: v.Name,
          Mountpoint: v.Mountpoint,
          Labels: Object.entries(v.Labels).map(([k, x]) => `${k}=${x}`).join(","),
          Scope: v.Scope,
        }));
        const format = typeof ctx.flags.format === "string" && ctx.flags.format !== "table"
          ? ctx.flags.format
          : "table {{.Driver}}\t{{.Name}}";
        const headers = {
          Driver: "DRIVER",
          Name: "VOLUME NAME",
          Mountpoint: "MOUNTPOINT",
          Labels: "LABELS",
          Scope: "SCOPE",
        };
        for (const line of formatRows(format, rows, headers)) console.log(line);
      },
    },
    {
      name: "inspect",
      usage: "[OPTIONS] VOLUME [VOLUME...]",
      description: "Display detailed information on one or more volumes",
      flags: [{
        name: "format",
        short: "f",
        type: "string",
        value: "string",
        description: "Format output using a Go template",
      }],
      minArgs: 1,
      async run(ctx) {
        const { request } = await client();
        const out: unknown[] = [];
        let failed = false;
        for (const name of ctx.args) {
          try {
            out.push(
              publicShape(
                (await request<{ volume: Volume }>(rootDir(), { op: "volume.inspect", name })).volume,
              ),
            );
          } catch (e) {
            console.error(`ctr: ${(e as Error).message}`);
            failed = true;
          }
        }
        const { printInspected } = await import("./format.ts");
        printInspected(out, typeof ctx.flags.format === "string" ? ctx.flags.format : undefined);
        return failed ? 1 : 0;
      },
    },
    {
      name: "rm",
      aliases: ["remove"],
      usage: "[OPTIONS] VOLUME [VOLUME...]",
      description: "Remove one or more volumes",
      flags: [{
        name: "force",
        short: "f",
        type: "bool",
        description: "Force the removal of one or more volumes",
      }],
      minArgs: 1,
      async run(ctx) {
        const { request } = await client();
        let failed = false;
        for (const name of ctx.args) {
          try {
            await request(rootDir(), { op: "volume.rm", name, force: ctx.flags.force });
            console.log(name);
          } catch (e) {
            if (ctx.flags.force && (e as Error).name === "NotFoundError") continue;
            console.error(`ctr: ${(e as Error).message}`);
            failed = true;
          }
        }
        return failed ? 1 : 0;
      },
    },
    {
      name: "prune",
      usage: "[OPTIONS]",
      description: "Remove unused local volumes",
      flags: [
        {
          name: "all",
          short: "a",
          type: "bool",
          description: "Remove all unused volumes, not just anonymous ones",
        },
        { name: "force", short: "f", type: "bool", description: "Do not prompt for confirmation" },
        { name: "filter", type: "list", description: "Provide filter values", hidden: true },
      ],
      maxArgs: 0,
      async run(ctx) {
        if (!ctx.flags.force) {
          const answer = prompt(
            "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N]",
          );
          if (!answer || !/^y(es)?$/i.test(answer.trim())) return 0;
        }
        const { request } = await client();
        const r = await request<{ deleted: string[] }>(rootDir(), {
          op: "volume.prune",
          all: ctx.flags.all === true,
        });
        if (r.deleted.length) console.log(`Deleted Volumes:\n${r.deleted.join("\n")}\n`);
        console.log("Total reclaimed space: 0B");
      },
    },
  ],
};

/** The commands of this group. */
export const commands: CommandSpec[] = [volumeGroup];

/** Heading for `ctr help`. */
export const title = "Volume commands";
