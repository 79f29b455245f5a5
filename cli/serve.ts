/**
 * `ctr serve`: run the OCI Distribution registry; `ctr serve gc`: collect its garbage.
 * Parsing and output only — the registry lives in `registry/`, imported lazily.
 *
 * @module
 */
import type { CommandSpec, FlagValues } from "./flags.ts";
import { rootDir } from "./global.ts";

/** The registry's storage root: `--root`, else `<state root>/registry`. */
function registryRoot(flags: FlagValues): string {
  return (flags.root as string | undefined) || `${rootDir()}/registry`;
}

function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i ? n.toFixed(1) : n}${units[i]}`;
}

const rootFlag = {
  name: "root",
  type: "string",
  value: "DIR",
  description: "Registry storage root (default <state root>/registry)",
} as const;

/** The commands of this group. */
export const commands: CommandSpec[] = [
  {
    name: "serve",
    usage: "[OPTIONS]",
    description: "Run an OCI Distribution registry on the local filesystem",
    maxArgs: 0,
    flags: [
      {
        name: "addr",
        type: "string",
        value: "HOST:PORT",
        description: "Listen address, port 0 for any free one (default 127.0.0.1:5000)",
      },
      rootFlag,
      { name: "config", type: "string", value: "FILE", description: "Configuration file (YAML or JSON)" },
      { name: "tls-cert", type: "string", value: "FILE", description: "TLS certificate (PEM); serve HTTPS" },
      { name: "tls-key", type: "string", value: "FILE", description: "TLS private key (PEM)" },
      {
        name: "htpasswd",
        type: "string",
        value: "FILE",
        description: "Require Basic auth against bcrypt htpasswd",
      },
      { name: "read-only", type: "bool", description: "Refuse every write" },
    ],
    subcommands: [
      {
        name: "gc",
        usage: "[OPTIONS]",
        description: "Delete unreferenced blobs and untagged manifests",
        maxArgs: 0,
        flags: [
          rootFlag,
          { name: "dry-run", short: "n", type: "bool", description: "Only print what would be deleted" },
          {
            name: "grace",
            type: "string",
            value: "DURATION",
            default: "1h",
            description: "Keep anything pushed more recently than this",
          },
          { name: "keep-untagged", type: "bool", description: "Keep untagged manifests (delete only blobs)" },
          { name: "quiet", short: "q", type: "bool", description: "Print only the summary" },
        ],
        async run({ flags }) {
          const { parseDuration } = await import("../registry/config.ts");
          const { collectGarbage } = await import("../registry/gc.ts");
          const { openRegistry } = await import("../registry/registry.ts");
          let graceMs: number;
          try {
            graceMs = parseDuration(flags.grace);
          } catch (e) {
            const { UsageError } = await import("../errors.ts");
            throw new UsageError(`invalid argument for "--grace" flag: ${(e as Error).message}`, "serve gc");
          }
          const root = registryRoot(flags);
          try {
            await Deno.stat(`${root}/registry.db`);
          } catch {
            const { NotFoundError } = await import("../errors.ts");
            throw new NotFoundError(`No registry at ${root}`);
          }
          const services = openRegistry(root);
          try {
            const report = await collectGarbage(services.driver, services.metadata, {
              dryRun: flags["dry-run"] as boolean,
              graceMs,
              keepUntagged: flags["keep-untagged"] as boolean,
            });
            const verb = report.dryRun ? "would delete" : "deleted";
            if (!flags.quiet) {
              for (const m of report.manifests) console.log(`manifest ${verb}: ${m}`);
              for (const l of report.links) console.log(`blob link ${verb}: ${l}`);
              for (const b of report.blobs) console.log(`blob ${verb}: ${b}`);
            }
            console.log(
              `${
                report.dryRun ? "Would delete" : "Deleted"
              } ${report.manifests.length} manifests, ${report.links.length} blob links, ${report.blobs.length} blobs (${
                formatBytes(report.bytes)
              })`,
            );
          } finally {
            services.metadata.close();
          }
        },
      },
    ],
    async run({ flags }) {
      const { serveUntilSignal } = await import("../registry/server.ts");
      await serveUntilSignal({
        root: (flags.root as string | undefined) || undefined,
        defaultRoot: `${rootDir()}/registry`,
        addr: flags.addr as string | undefined,
        configFile: flags.config as string | undefined,
        tlsCertFile: flags["tls-cert"] as string | undefined,
        tlsKeyFile: flags["tls-key"] as string | undefined,
        htpasswdFile: flags.htpasswd as string | undefined,
        readOnly: flags["read-only"] ? true : undefined,
      });
    },
  },
];

/** Heading for `ctr help`. */
export const title = "Registry server";
