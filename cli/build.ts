/**
 * `ctr build` and `ctr builder prune`: flags and output. The work is done by
 * `build/build_command.ts` and `build/prune.ts`, imported lazily inside the handlers.
 *
 * Output follows `docker build` with BuildKit: progress on stderr (`--progress auto|plain|
 * tty`), the image ID alone on stdout with `-q`. A failing RUN ends ctr with that RUN's exit
 * code; other build failures (a bad Dockerfile, a missing source) exit 1; bad flags 125.
 *
 * @module
 */
import { ExitCodeError, UsageError } from "../errors.ts";
import type { CommandSpec } from "./flags.ts";
import { rootDir } from "./global.ts";

const buildSpec: CommandSpec = {
  name: "build",
  usage: "[OPTIONS] PATH | -",
  description: "Build an image from a Dockerfile",
  minArgs: 1,
  maxArgs: 1,
  flags: [
    {
      name: "tag",
      short: "t",
      type: "list",
      value: "list",
      description: 'Name and optionally a tag in the "name:tag" format',
    },
    {
      name: "file",
      short: "f",
      type: "string",
      value: "string",
      description: 'Name of the Dockerfile (default: "PATH/Dockerfile")',
    },
    { name: "build-arg", type: "list", value: "list", description: "Set build-time variables" },
    { name: "target", type: "string", value: "string", description: "Set the target build stage to build" },
    { name: "no-cache", type: "bool", description: "Do not use cache when building the image" },
    { name: "pull", type: "bool", description: "Always attempt to pull a newer version of the image" },
    { name: "label", type: "list", value: "list", description: "Set metadata for an image" },
    {
      name: "platform",
      type: "string",
      value: "string",
      description: "Set platform if server is multi-platform capable",
    },
    {
      name: "network",
      type: "string",
      value: "string",
      description: 'Set the networking mode for the RUN instructions during build (default "default": host)',
    },
    {
      name: "progress",
      type: "string",
      value: "string",
      default: "auto",
      description: "Set type of progress output (auto, plain, tty, quiet)",
    },
    {
      name: "quiet",
      short: "q",
      type: "bool",
      description: "Suppress the build output and print image ID on success",
    },
    { name: "iidfile", type: "string", value: "string", description: "Write the image ID to the file" },
    {
      name: "secret",
      type: "list",
      value: "stringArray",
      description: 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")',
    },
    {
      name: "compression",
      type: "string",
      value: "string",
      default: "gzip",
      description: "Compression of new layers (gzip, zstd)",
    },
  ],
  run: async ({ flags, args }) => {
    const progress = String(flags.progress);
    if (!["auto", "plain", "tty", "quiet"].includes(progress)) {
      throw new UsageError(`invalid --progress "${progress}": expected auto, plain, tty or quiet`, "build");
    }
    const { runBuildCommand, BuildCommandError } = await import("../build/build_command.ts");
    const enc = new TextEncoder();
    // Ctrl-C or a TERM cancels the build cleanly: its RUN containers are killed, its temp files go.
    const cancel = new AbortController();
    const onSignal = () => cancel.abort();
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    try {
      const result = await runBuildCommand({
        root: rootDir(),
        context: args[0],
        file: flags.file as string | undefined,
        tags: flags.tag as string[],
        buildArgs: flags["build-arg"] as string[],
        labels: flags.label as string[],
        secrets: flags.secret as string[],
        target: flags.target as string | undefined,
        noCache: Boolean(flags["no-cache"]),
        pull: Boolean(flags.pull),
        platform: flags.platform as string | undefined,
        network: flags.network as string | undefined,
        progress: progress as "auto" | "plain" | "tty" | "quiet",
        quiet: Boolean(flags.quiet),
        iidfile: flags.iidfile as string | undefined,
        compression: flags.compression as string,
        stdin: Deno.stdin.readable,
        writeProgress: (text) => Deno.stderr.writeSync(enc.encode(text)),
        progressIsTerminal: Deno.stderr.isTerminal(),
        progressColumns: Deno.stderr.isTerminal() ? Deno.consoleSize().columns : undefined,
        env: Deno.env.toObject(),
        cwd: Deno.cwd(),
        signal: cancel.signal,
      });
      if (flags.quiet) console.log(result.configDigest);
    } catch (e) {
      if (e instanceof BuildCommandError) throw new ExitCodeError(e.exitCode, e.message, { cause: e });
      if (e instanceof TypeError) throw new UsageError(e.message, "build");
      throw e;
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
  },
};

const builderSpec: CommandSpec = {
  name: "builder",
  usage: "COMMAND",
  description: "Manage builds",
  subcommands: [
    {
      name: "prune",
      usage: "[OPTIONS]",
      description: "Remove build cache",
      maxArgs: 0,
      flags: [
        {
          name: "all",
          short: "a",
          type: "bool",
          description: "Remove all unused build cache, not just dangling ones",
        },
        { name: "force", short: "f", type: "bool", description: "Do not prompt for confirmation" },
      ],
      run: async ({ flags }) => {
        if (!flags.force) {
          const warning = flags.all
            ? "WARNING! This will remove all build cache."
            : "WARNING! This will remove all dangling build cache.";
          await Deno.stdout.write(
            new TextEncoder().encode(`${warning} Are you sure you want to continue? [y/N] `),
          );
          const buf = new Uint8Array(256);
          const n = await Deno.stdin.read(buf).catch(() => null);
          const answer = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim().toLowerCase();
          if (answer !== "y" && answer !== "yes") {
            console.log("");
            return;
          }
        }
        const { pruneBuildCache } = await import("../build/prune.ts");
        const { humanSize } = await import("./format.ts");
        const r = await pruneBuildCache(rootDir(), { all: Boolean(flags.all) });
        if (r.ids.length) {
          console.log("Deleted build cache objects:");
          for (const id of r.ids) console.log(id);
          console.log("");
        }
        console.log(`Total:\t${humanSize(r.reclaimedBytes)}`);
      },
    },
  ],
};

/** The commands of this group. */
export const commands: CommandSpec[] = [buildSpec, builderSpec];

/** Heading for `ctr help`. */
export const title = "Build commands";
