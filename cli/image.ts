/**
 * Image commands, with Docker's flags and output: `images`, `import`, `load`, `save`, `tag`,
 * `rmi`, `history`, `inspect`, and the `image` group (`image ls|rm|inspect|history|tag|
 * import|load|save|prune`). Failures print `ctr: …` and exit 1 (Docker's code for these
 * commands); bad flags exit 125.
 *
 * @module
 */
import type { CommandContext, CommandSpec } from "./flags.ts";
import { ExitCodeError, UsageError } from "../errors.ts";
import { rootDir } from "./global.ts";
import { inspectCommand } from "./inspect.ts";
import type { ImageStore } from "../image/image_store.ts";
import type { SnapshotStore } from "../image/snapshots.ts";

async function openStores(): Promise<{ images: ImageStore; snapshots: SnapshotStore; close(): void }> {
  const { ImageStore } = await import("../image/image_store.ts");
  const { SnapshotStore } = await import("../image/snapshots.ts");
  const images = ImageStore.open(rootDir());
  return { images, snapshots: SnapshotStore.open(rootDir(), images), close: () => images.close() };
}

/** Runs a handler, turning failures into exit code 1 (usage errors keep 125). */
function failing1(
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

async function parsePlatformFlag(value: unknown) {
  if (!value) return undefined;
  const { parsePlatform } = await import("../image/oci.ts");
  return parsePlatform(String(value));
}

// ---------------------------------------------------------------- images

const IMAGE_HEADERS: Record<string, string> = {
  Repository: "REPOSITORY",
  Tag: "TAG",
  Digest: "DIGEST",
  ID: "IMAGE ID",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  VirtualSize: "VIRTUAL SIZE",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
  Containers: "CONTAINERS",
};

function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(
    "^" + pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]") + "$",
  );
  return re.test(s);
}

const imagesSpec: CommandSpec = {
  name: "images",
  usage: "[OPTIONS] [REPOSITORY[:TAG]]",
  description: "List images",
  maxArgs: 1,
  flags: [
    {
      name: "all",
      short: "a",
      type: "bool",
      description: "Show all images (default hides intermediate images)",
    },
    { name: "digests", type: "bool", description: "Show digests" },
    {
      name: "filter",
      short: "f",
      type: "list",
      value: "filter",
      description: "Filter output based on conditions provided (dangling, label, reference)",
    },
    {
      name: "format",
      type: "string",
      value: "string",
      description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'",
    },
    { name: "no-trunc", type: "bool", description: "Don't truncate output" },
    { name: "quiet", short: "q", type: "bool", description: "Only show image IDs" },
  ],
  run: failing1(async ({ flags, args }) => {
    const { familiarRepository, parseReference } = await import("../image/reference.ts");
    const { goTimeString, humanSize, timeAgo, formatRows, renderTable } = await import("./format.ts");
    const stores = await openStores();
    try {
      const { images, snapshots } = stores;
      const filters = (flags.filter as string[]).map((f) => {
        const eq = f.indexOf("=");
        if (eq < 1) throw new UsageError(`bad format of filter (expected name=value)`, "images");
        return [f.slice(0, eq), f.slice(eq + 1)] as const;
      });
      for (const [k] of filters) {
        if (!["dangling", "label", "reference"].includes(k)) {
          throw new UsageError(`invalid filter '${k}'`, "images");
        }
      }
      const rows: Record<string, string>[] = [];
      const { imageSizes } = await import("../image/image_inspect.ts");
      // Newest first by the image's own creation time, as Docker sorts.
      const loaded = (await Promise.all(
        images.list().map((rec) => images.load(rec.digest).catch(() => undefined)),
      ))
        .filter((i) => i !== undefined)
        .sort((a, b) =>
          (Date.parse(b.config.created ?? "") || 0) - (Date.parse(a.config.created ?? "") || 0)
        );
      for (const image of loaded) {
        const rec = image;
        const size = imageSizes(image, snapshots).total;
        const id = flags["no-trunc"] ? rec.configDigest : rec.configDigest.slice(7, 19);
        const labels = image.config.config?.Labels ?? {};
        const base = {
          ID: id,
          CreatedAt: goTimeString(image.config.created),
          CreatedSince: timeAgo(image.config.created),
          Size: humanSize(size),
          VirtualSize: humanSize(size, 4),
          SharedSize: "N/A",
          UniqueSize: "N/A",
          Containers: "N/A",
        };
        const entries: { repo: string; tag: string; digest: string }[] = [];
        const repoDigest = rec.indexDigest ?? rec.digest;
        for (const n of rec.names) {
          const ref = parseReference(n);
          const repo = familiarRepository(ref);
          if (ref.tag) entries.push({ repo, tag: ref.tag, digest: repoDigest });
          else if (
            ref.digest && !rec.names.some((o) => o !== n && familiarRepository(parseReference(o)) === repo)
          ) {
            entries.push({ repo, tag: "<none>", digest: ref.digest });
          }
        }
        if (!entries.length) entries.push({ repo: "<none>", tag: "<none>", digest: "<none>" });
        for (const e of entries) {
          const dangling = e.repo === "<none>";
          let keep = true;
          for (const [k, v] of filters) {
            if (k === "dangling") keep &&= (v === "true" || v === "1") === dangling;
            if (k === "reference") {
              keep &&= !dangling && (globMatch(v, `${e.repo}:${e.tag}`) || globMatch(v, e.repo));
            }
            if (k === "label") {
              const eq = v.indexOf("=");
              keep &&= eq === -1 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
            }
          }
          if (args[0]) {
            const want = args[0];
            const colon = want.lastIndexOf(":");
            const [repo, tag] = colon > want.lastIndexOf("/")
              ? [want.slice(0, colon), want.slice(colon + 1)]
              : [want, ""];
            keep &&= (globMatch(repo, e.repo) || e.repo === familiarRepository(parseReference(repo))) &&
              (!tag || globMatch(tag, e.tag));
          }
          if (keep) rows.push({ Repository: e.repo, Tag: e.tag, Digest: e.digest, ...base });
        }
      }
      if (flags.quiet) {
        for (const r of rows) console.log(r.ID);
        return;
      }
      const format = flags.format as string | undefined;
      if (format && format !== "table") {
        for (const line of formatRows(format, rows, IMAGE_HEADERS)) console.log(line);
        return;
      }
      const cols = flags.digests
        ? ["Repository", "Tag", "Digest", "ID", "CreatedSince", "Size"]
        : ["Repository", "Tag", "ID", "CreatedSince", "Size"];
      console.log(
        renderTable([cols.map((c) => IMAGE_HEADERS[c]), ...rows.map((r) => cols.map((c) => r[c]))]),
      );
    } finally {
      stores.close();
    }
  }),
};

// ---------------------------------------------------------------- import / load / save

async function openSource(source: string): Promise<ReadableStream<Uint8Array>> {
  if (source === "-") return Deno.stdin.readable;
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source);
    if (!res.ok || !res.body) throw new Error(`Cannot download ${source}: HTTP ${res.status}`);
    return res.body;
  }
  try {
    return (await Deno.open(source, { read: true })).readable;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`open ${source}: no such file or directory`);
    throw e;
  }
}

const importSpec: CommandSpec = {
  name: "import",
  usage: "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
  description: "Import the contents from a tarball to create a filesystem image",
  minArgs: 1,
  maxArgs: 2,
  flags: [
    {
      name: "change",
      short: "c",
      type: "list",
      value: "list",
      description: "Apply Dockerfile instruction to the created image",
    },
    {
      name: "message",
      short: "m",
      type: "string",
      value: "string",
      description: "Set commit message for imported image",
    },
    {
      name: "platform",
      type: "string",
      value: "string",
      description: "Set platform if server is multi-platform capable",
    },
  ],
  run: failing1(async ({ flags, args }) => {
    const { importRootfs } = await import("../image/import_rootfs.ts");
    const platform = await parsePlatformFlag(flags.platform);
    const stores = await openStores();
    try {
      const source = await openSource(args[0]);
      const r = await importRootfs(rootDir(), stores.images, stores.snapshots, source, {
        reference: args[1],
        changes: flags.change as string[],
        message: flags.message as string | undefined,
        source: /^https?:/.test(args[0]) ? args[0] : "-",
        platform,
      });
      console.log(r.id);
    } finally {
      stores.close();
    }
  }),
};

const loadSpec: CommandSpec = {
  name: "load",
  usage: "[OPTIONS]",
  description: "Load an image from a tar archive or STDIN",
  maxArgs: 0,
  flags: [
    {
      name: "input",
      short: "i",
      type: "string",
      value: "string",
      description: "Read from tar archive file, instead of STDIN",
    },
    { name: "quiet", short: "q", type: "bool", description: "Suppress the load output" },
    { name: "platform", type: "list", value: "list", description: "Load only the given platform variant" },
  ],
  run: failing1(async ({ flags }) => {
    const input = flags.input as string | undefined;
    if (!input && Deno.stdin.isTerminal()) {
      throw new Error("requested load from stdin, but stdin is empty");
    }
    const { loadArchive } = await import("../image/archive_load.ts");
    const { familiarName, parseReference } = await import("../image/reference.ts");
    const platforms = flags.platform as string[];
    const platform = platforms.length ? await parsePlatformFlag(platforms[0]) : undefined;
    const stores = await openStores();
    try {
      const source = input ? await openSource(input) : Deno.stdin.readable;
      const loaded = await loadArchive(rootDir(), stores.images, stores.snapshots, source, { platform });
      if (flags.quiet) return;
      for (const l of loaded) {
        for (const r of l.renamed) {
          console.log(
            `The image ${
              familiarName(parseReference(r.name))
            } already exists, renaming the old one with ID ${r.previousId} to empty string`,
          );
        }
        if (!l.names.length) console.log(`Loaded image ID: ${l.id}`);
        for (const n of l.names) console.log(`Loaded image: ${familiarName(parseReference(n))}`);
      }
    } finally {
      stores.close();
    }
  }),
};

const saveSpec: CommandSpec = {
  name: "save",
  usage: "[OPTIONS] IMAGE [IMAGE...]",
  description: "Save one or more images to a tar archive (streamed to STDOUT by default)",
  minArgs: 1,
  flags: [
    {
      name: "output",
      short: "o",
      type: "string",
      value: "string",
      description: "Write to a file, instead of STDOUT",
    },
    {
      name: "format",
      type: "string",
      value: "string",
      default: "docker",
      description: "Archive format: docker (docker-archive that is also an OCI layout) or oci",
    },
  ],
  run: failing1(async ({ flags, args }) => {
    const format = flags.format as string;
    if (format !== "docker" && format !== "oci") {
      throw new UsageError(`invalid --format "${format}": expected docker or oci`, "save");
    }
    const output = flags.output as string | undefined;
    if (!output && Deno.stdout.isTerminal()) {
      throw new Error("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    if (output) {
      const dir = output.includes("/") ? output.slice(0, output.lastIndexOf("/")) || "/" : ".";
      if (!(await Deno.stat(dir).then((st) => st.isDirectory, () => false))) {
        throw new Error(`invalid output path: directory "${dir}" does not exist`);
      }
    }
    const { saveArchive } = await import("../image/archive_save.ts");
    const stores = await openStores();
    try {
      const stream = saveArchive(stores.images, args, { format });
      if (!output) {
        await stream.pipeTo(Deno.stdout.writable, { preventClose: true });
        return;
      }
      // Write next to the target and rename, so a failed save leaves no partial file.
      const slash = output.lastIndexOf("/");
      const tmp = `${slash === -1 ? "" : output.slice(0, slash + 1)}.${output.slice(slash + 1)}.ctr-save-${
        crypto.randomUUID().slice(0, 8)
      }`;
      try {
        await Deno.writeFile(tmp, stream);
        await Deno.rename(tmp, output);
      } catch (e) {
        await Deno.remove(tmp).catch(() => {});
        throw e;
      }
    } finally {
      stores.close();
    }
  }),
};

// ---------------------------------------------------------------- tag / rmi / prune / history

const tagSpec: CommandSpec = {
  name: "tag",
  usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
  description: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
  minArgs: 2,
  maxArgs: 2,
  run: failing1(async ({ args }) => {
    const stores = await openStores();
    try {
      const rec = stores.images.find(args[0]);
      stores.images.tag(args[1], rec.digest);
    } finally {
      stores.close();
    }
  }),
};

const rmiSpec: CommandSpec = {
  name: "rmi",
  usage: "[OPTIONS] IMAGE [IMAGE...]",
  description: "Remove one or more images",
  minArgs: 1,
  flags: [
    { name: "force", short: "f", type: "bool", description: "Force removal of the image" },
    { name: "no-prune", type: "bool", description: "Do not delete untagged parents" },
  ],
  run: failing1(async ({ flags, args }) => {
    const { removeImage } = await import("../image/image_remove.ts");
    const stores = await openStores();
    let failed = false;
    try {
      for (const ref of args) {
        try {
          const r = await removeImage(rootDir(), stores.images, stores.snapshots, ref, {
            force: !!flags.force,
            prune: !flags["no-prune"],
          });
          for (const u of r.untagged) console.log(`Untagged: ${u}`);
          for (const d of r.deleted) console.log(`Deleted: ${d}`);
        } catch (e) {
          failed = true;
          console.error(`ctr: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    } finally {
      stores.close();
    }
    if (failed) throw new ExitCodeError(1);
  }),
};

const pruneSpec: CommandSpec = {
  name: "prune",
  usage: "[OPTIONS]",
  description: "Remove unused images",
  maxArgs: 0,
  flags: [
    {
      name: "all",
      short: "a",
      type: "bool",
      description: "Remove all unused images, not just dangling ones",
    },
    { name: "force", short: "f", type: "bool", description: "Do not prompt for confirmation" },
  ],
  run: failing1(async ({ flags }) => {
    if (!flags.force) {
      const warning = flags.all
        ? "WARNING! This will remove all images without at least one container associated to them."
        : "WARNING! This will remove all dangling images.";
      await Deno.stdout.write(
        new TextEncoder().encode(`${warning}\nAre you sure you want to continue? [y/N] `),
      );
      const buf = new Uint8Array(256);
      const n = await Deno.stdin.read(buf).catch(() => null);
      const answer = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim().toLowerCase();
      if (answer !== "y" && answer !== "yes") {
        console.log("");
        return;
      }
    }
    const { pruneImages } = await import("../image/image_remove.ts");
    const { humanSize } = await import("./format.ts");
    const stores = await openStores();
    try {
      const r = await pruneImages(rootDir(), stores.images, stores.snapshots, { all: !!flags.all });
      if (r.untagged.length || r.deleted.length) {
        console.log("Deleted Images:");
        for (const u of r.untagged) console.log(`untagged: ${u}`);
        for (const d of r.deleted) console.log(`deleted: ${d}`);
        console.log("");
      }
      console.log(`Total reclaimed space: ${humanSize(r.reclaimedBytes)}`);
    } finally {
      stores.close();
    }
  }),
};

const HISTORY_HEADERS: Record<string, string> = {
  ID: "IMAGE",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  CreatedBy: "CREATED BY",
  Size: "SIZE",
  Comment: "COMMENT",
};

const historySpec: CommandSpec = {
  name: "history",
  usage: "[OPTIONS] IMAGE",
  description: "Show the history of an image",
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: "format", type: "string", value: "string", description: "Format output using a custom template" },
    {
      name: "human",
      short: "H",
      type: "bool",
      default: true,
      description: "Print sizes and dates in human readable format",
    },
    { name: "no-trunc", type: "bool", description: "Don't truncate output" },
    { name: "quiet", short: "q", type: "bool", description: "Only show image IDs" },
  ],
  run: failing1(async ({ flags, args }) => {
    const { imageHistory } = await import("../image/image_inspect.ts");
    const { humanSize, timeAgo, formatRows, renderTable } = await import("./format.ts");
    const human = !!flags.human;
    const stores = await openStores();
    try {
      const image = await stores.images.load(args[0]);
      const rows = imageHistory(image, stores.snapshots).map((h) => {
        let createdBy = h.createdBy.replace(/\t/g, " ");
        if (!flags["no-trunc"] && [...createdBy].length > 45) {
          createdBy = [...createdBy].slice(0, 44).join("") + "…";
        }
        const id = h.id === "<missing>" || flags["no-trunc"] ? h.id : h.id.slice(7, 19);
        return {
          ID: id,
          CreatedSince: human ? timeAgo(h.created) : h.created ?? "",
          CreatedAt: h.created ?? "",
          CreatedBy: createdBy,
          Size: human ? humanSize(h.size) : String(h.size),
          Comment: h.comment,
        };
      });
      if (flags.quiet) {
        for (const r of rows) console.log(r.ID);
        return;
      }
      const format = flags.format as string | undefined;
      if (format && format !== "table") {
        for (const line of formatRows(format, rows, HISTORY_HEADERS)) console.log(line);
        return;
      }
      const cols = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"] as const;
      console.log(
        renderTable([cols.map((c) => HISTORY_HEADERS[c]), ...rows.map((r) => cols.map((c) => r[c]))]),
      );
    } finally {
      stores.close();
    }
  }),
};

const imageInspectSpec: CommandSpec = {
  ...inspectCommand,
  description: "Display detailed information on one or more images",
  usage: "[OPTIONS] IMAGE [IMAGE...]",
  flags: inspectCommand.flags!.filter((f) => f.name === "format"),
  run: (ctx) => inspectCommand.run!({ ...ctx, flags: { ...ctx.flags, type: "image" } }),
};

/** The commands of this group. */
export const commands: CommandSpec[] = [
  imagesSpec,
  importSpec,
  loadSpec,
  saveSpec,
  tagSpec,
  rmiSpec,
  historySpec,
  inspectCommand,
  {
    name: "image",
    usage: "COMMAND",
    description: "Manage images",
    subcommands: [
      { ...imagesSpec, name: "ls", aliases: ["list"] },
      { ...rmiSpec, name: "rm", aliases: ["remove"] },
      imageInspectSpec,
      historySpec,
      tagSpec,
      importSpec,
      loadSpec,
      saveSpec,
      pruneSpec,
    ],
  },
];

/** Heading for `ctr help`. */
export const title = "Image commands";
