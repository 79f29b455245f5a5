/**
 * `ctr inspect NAME…`: low-level information on objects, as `docker inspect`. Each object
 * kind is a provider, tried in order (containers before images, as Docker); a provider is a
 * lazily imported module, so adding a kind is one line in {@linkcode INSPECT_PROVIDERS}:
 *
 * ```ts
 * { type: "container", load: () => import("../runtime/inspect_provider.ts") }
 * ```
 *
 * where the module exports `lookup(root: string, name: string): Promise<unknown | undefined>`
 * returning the Docker-shaped document, or undefined when it has no such object.
 *
 * @module
 */
import type { CommandSpec } from "./flags.ts";
import { ExitCodeError, UsageError } from "../errors.ts";
import { rootDir } from "./global.ts";

/** A kind of object `inspect` can show. */
export interface InspectProvider {
  /** `container`, `image`, `network`, `volume`… (the `--type` value). */
  type: string;
  /** The provider module, loaded when needed. */
  load: () => Promise<
    { lookup(root: string, name: string, options: { size: boolean }): Promise<unknown | undefined> }
  >;
}

/** Providers, in lookup order. */
export const INSPECT_PROVIDERS: InspectProvider[] = [
  { type: "container", load: () => import("./container_inspect_provider.ts") },
  { type: "image", load: () => import("./image_inspect_provider.ts") },
  { type: "network", load: () => import("./network_inspect_provider.ts") },
];

/** The `inspect` command. */
export const inspectCommand: CommandSpec = {
  name: "inspect",
  usage: "[OPTIONS] NAME|ID [NAME|ID...]",
  description: "Return low-level information on Docker objects",
  minArgs: 1,
  flags: [
    {
      name: "format",
      short: "f",
      type: "string",
      value: "string",
      description: "Format output using a Go template",
    },
    {
      name: "size",
      short: "s",
      type: "bool",
      description: "Display total file sizes if the type is container",
    },
    { name: "type", type: "string", value: "string", description: "Return JSON for specified type" },
  ],
  async run({ flags, args }) {
    const type = flags.type as string | undefined;
    const providers = type ? INSPECT_PROVIDERS.filter((p) => p.type === type) : INSPECT_PROVIDERS;
    if (type && !providers.length) {
      throw new UsageError(`"${type}" is not a valid value for --type`, "inspect");
    }
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const name of args) {
      let doc: unknown;
      for (const p of providers) {
        doc = await (await p.load()).lookup(rootDir(), name, { size: !!flags.size });
        if (doc !== undefined) break;
      }
      if (doc === undefined) errors.push(`No such ${type && type !== "" ? type : "object"}: ${name}`);
      else found.push(doc);
    }
    const { printInspected } = await import("./format.ts");
    printInspected(found, flags.format as string | undefined);
    if (errors.length) throw new ExitCodeError(1, errors.join("\nctr: "));
  },
};
