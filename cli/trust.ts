/**
 * `ctr trust key generate|ls|export|import|rm`, `ctr trust sign`, `ctr trust verify`:
 * flags and output. The work is in `image/trust/`, imported lazily.
 *
 * Failures of `sign` and `verify` exit 1 (as a failed pull does); bad flags exit 125.
 *
 * @module
 */
import { ExitCodeError, UsageError } from "../errors.ts";
import type { CommandSpec } from "./flags.ts";
import { rootDir } from "./global.ts";

const keys = () => import("../image/trust/keys.ts");
const verify = () => import("../image/trust/verify.ts");

async function registryAccess() {
  const [{ loadRegistryConfig }, { certsDirs }] = await Promise.all([
    import("../image/distribution/config.ts"),
    import("../image/distribution/tls.ts"),
  ]);
  return { config: await loadRegistryConfig(rootDir()), certsDirs: certsDirs(rootDir()) };
}

async function failWith1<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UsageError || e instanceof ExitCodeError) throw e;
    const { errorText } = await import("../image/distribution/client.ts");
    throw new ExitCodeError(1, errorText(e), { cause: e });
  }
}

const keyGroup: CommandSpec = {
  name: "key",
  usage: "COMMAND",
  description: "Manage signing keys and trusted public keys",
  subcommands: [
    {
      name: "generate",
      usage: "[OPTIONS] [NAME]",
      description:
        "Generate an ECDSA P-256 signing key pair and print its public key\n(the private key is written with mode 0600 under <root>/trust/keys/)",
      flags: [{ name: "name", type: "string", value: "string", description: 'Key name (default "default")' }],
      maxArgs: 1,
      async run(ctx) {
        const name = ctx.args[0] ?? (typeof ctx.flags.name === "string" ? ctx.flags.name : "default");
        const { generateKey } = await keys();
        const k = await generateKey(rootDir(), name);
        console.error(`Generated key "${k.name}" (${k.id.slice(0, 12)}): private key ${k.privatePath}`);
        console.log(k.publicPem.trimEnd());
      },
    },
    {
      name: "ls",
      aliases: ["list"],
      usage: "[OPTIONS]",
      description: "List trusted keys",
      flags: [{
        name: "format",
        type: "string",
        value: "string",
        description: "Format output: table, json, or a Go template ({{.Name}}, {{.ID}}, {{.Private}})",
      }],
      maxArgs: 0,
      async run(ctx) {
        const { listKeys } = await keys();
        const all = await listKeys(rootDir());
        const format = typeof ctx.flags.format === "string" ? ctx.flags.format : "";
        if (format && format !== "table") {
          const { formatRows } = await import("./format.ts");
          const objects = all.map((k) => ({ Name: k.name, ID: k.id, Private: k.hasPrivate }));
          for (
            const line of formatRows(format, objects, { Name: "NAME", ID: "KEY ID", Private: "PRIVATE" })
          ) {
            console.log(line);
          }
          return;
        }
        const rows = [
          ["NAME", "KEY ID", "PRIVATE"],
          ...all.map((k) => [k.name, k.id.slice(0, 12), k.hasPrivate ? "yes" : "no"]),
        ];
        const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
        for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("   ").trimEnd());
      },
    },
    {
      name: "export",
      usage: "NAME",
      description: "Print a key's public key as PEM",
      minArgs: 1,
      maxArgs: 1,
      async run(ctx) {
        const { loadPublicKey } = await keys();
        console.log((await Deno.readTextFile((await loadPublicKey(rootDir(), ctx.args[0])).path)).trimEnd());
      },
    },
    {
      name: "import",
      usage: "NAME FILE|-",
      description: "Trust a public key (PEM) under NAME",
      minArgs: 2,
      maxArgs: 2,
      async run(ctx) {
        const pem = ctx.args[1] === "-"
          ? new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer())
          : await Deno.readTextFile(ctx.args[1]);
        const { importTrustedKey } = await keys();
        const k = await importTrustedKey(rootDir(), ctx.args[0], pem);
        console.log(`${k.name} ${k.id.slice(0, 12)}`);
      },
    },
    {
      name: "rm",
      aliases: ["remove"],
      usage: "NAME",
      description: "Remove a key (private and public)",
      minArgs: 1,
      maxArgs: 1,
      async run(ctx) {
        const { removeKey } = await keys();
        await removeKey(rootDir(), ctx.args[0]);
        console.log(ctx.args[0]);
      },
    },
  ],
};

const trustGroup: CommandSpec = {
  name: "trust",
  usage: "COMMAND",
  description: "Sign images and verify their signatures",
  subcommands: [
    keyGroup,
    {
      name: "sign",
      usage: "[OPTIONS] IMAGE",
      description:
        "Sign an image's manifest on its registry\n(the signature is attached there as an OCI referrer)",
      flags: [
        { name: "key", type: "string", value: "NAME", description: "Signing key (default: the only one)" },
        {
          name: "cosign-tag",
          type: "bool",
          description:
            "Also store the signature under cosign's sha256-<hex>.sig tag (read by cosign, podman, skopeo)",
        },
      ],
      minArgs: 1,
      maxArgs: 1,
      run: (ctx) =>
        failWith1(async () => {
          const { signImage, defaultSigningKey } = await verify();
          const { parseReference } = await import("../image/reference.ts");
          parseReference(ctx.args[0]);
          const key = typeof ctx.flags.key === "string" ? ctx.flags.key : await defaultSigningKey(rootDir());
          const s = await signImage(rootDir(), ctx.args[0], key, {
            ...await registryAccess(),
            cosignTag: ctx.flags["cosign-tag"] === true,
          });
          console.log(`Signed ${s.repository}@${s.digest} with key "${key}" (${s.keyId.slice(0, 12)})`);
          console.log(`Signature: ${s.signature}${s.viaTag ? " (referrers tag)" : ""}`);
          if (s.cosignTag) console.log(`Cosign tag: ${s.cosignTag}`);
        }),
    },
    {
      name: "verify",
      usage: "[OPTIONS] IMAGE",
      description:
        "Verify that an image's manifest on its registry is signed by a trusted key\n(the keys given with --key, else the trust policy's, else every trusted key)",
      flags: [{
        name: "key",
        type: "list",
        value: "PEM|NAME",
        description: "Public key file or trusted key name",
      }],
      minArgs: 1,
      maxArgs: 1,
      run: (ctx) =>
        failWith1(async () => {
          const { connectRepository, resolveManifest, checkTrust } = await verify();
          const { parseReference, withDefaultTag, repositoryName } = await import("../image/reference.ts");
          const { publicKeyFrom } = await keys();
          const ref = withDefaultTag(parseReference(ctx.args[0]));
          const named = Array.isArray(ctx.flags.key) ? ctx.flags.key as string[] : [];
          const given = named.length
            ? await Promise.all(named.map((k) => publicKeyFrom(rootDir(), k)))
            : undefined;
          const repo = await connectRepository(ref, "pull", await registryAccess());
          const m = await resolveManifest(repo, ref);
          const d = await checkTrust(rootDir(), repo, ref, [m.digest], { verify: true, keys: given });
          for (const s of d.signatures) {
            console.log(
              `Verified ${repositoryName(ref)}@${s.digest}: signed by "${s.key}" (${
                s.keyId.slice(0, 12)
              }), signature ${s.signature} (${s.source})`,
            );
          }
        }),
    },
  ],
};

/** The commands of this group. */
export const commands: CommandSpec[] = [trustGroup];

/** Heading for `ctr help`. */
export const title = "Image trust";
