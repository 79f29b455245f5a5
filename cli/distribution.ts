/**
 * `ctr pull`, `ctr push`, `ctr login`, `ctr logout`: flags and output. The work is done by
 * `image/distribution/`, imported lazily inside the handlers.
 *
 * Output follows Docker: progress on stdout, then `Digest:` / `Status:` lines and the full
 * name for a pull; `TAG: digest: … size: …` for a push. Failures print `ctr: …` and exit 1
 * (Docker's code for a failed pull, push or login); bad flags exit 125.
 *
 * @module
 */
import { ExitCodeError, UsageError } from "../errors.ts";
import type { CommandSpec } from "./flags.ts";
import { rootDir } from "./global.ts";

async function fail<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UsageError || e instanceof ExitCodeError) throw e;
    const { errorText } = await import("../image/distribution/client.ts");
    throw new ExitCodeError(1, errorText(e), { cause: e });
  }
}

async function openStore() {
  const [{ ImageStore }, { distributionSchema }] = await Promise.all([
    import("../image/image_store.ts"),
    import("../image/distribution/origins.ts"),
  ]);
  return ImageStore.open(rootDir(), [distributionSchema]);
}

async function readStdinAll(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of Deno.stdin.readable) chunks.push(c);
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

async function prompt(question: string, secret: boolean): Promise<string> {
  const enc = new TextEncoder();
  await Deno.stderr.write(enc.encode(question));
  if (secret && Deno.stdin.isTerminal()) Deno.stdin.setRaw(true);
  try {
    const buf = new Uint8Array(1);
    const bytes: number[] = [];
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const b = buf[0];
      if (b === 0x0a || b === 0x0d) break;
      if (b === 0x03) throw new ExitCodeError(130);
      if (b === 0x7f || b === 0x08) bytes.pop();
      else bytes.push(b);
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    if (secret && Deno.stdin.isTerminal()) {
      Deno.stdin.setRaw(false);
      await Deno.stderr.write(enc.encode("\n"));
    }
  }
}

/**
 * The trust module when a pull must be checked — `--verify`, or a policy file exists —
 * else undefined, so ordinary pulls load nothing more.
 */
async function trustCheck(root: string, verify: boolean) {
  if (!verify) {
    const path = Deno.env.get("CTR_TRUST_POLICY") || `${root}/trust/policy.json`;
    try {
      await Deno.stat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }
  return await import("../image/trust/verify.ts");
}

/** The commands of this group. */
export const commands: CommandSpec[] = [
  {
    name: "pull",
    usage: "[OPTIONS] NAME[:TAG|@DIGEST]",
    description: "Download an image from a registry",
    minArgs: 1,
    maxArgs: 1,
    flags: [
      {
        name: "all-tags",
        short: "a",
        type: "bool",
        description: "Download all tagged images in the repository",
      },
      {
        name: "platform",
        type: "string",
        value: "string",
        description: "Set platform if server is multi-platform capable",
      },
      { name: "quiet", short: "q", type: "bool", description: "Suppress verbose output" },
      { name: "disable-content-trust", type: "bool", description: "Skip image verification", hidden: true },
      {
        name: "verify",
        type: "bool",
        description: "Require a valid signature by a trusted key (see `ctr trust`); pull the verified digest",
      },
    ],
    run: ({ flags, args }) =>
      fail(async () => {
        // One round of imports: loaded side by side, not one after another.
        const [
          { pullImage, listRemoteTags },
          { certsDirs },
          { parsePlatform },
          { parseReference, familiarName, formatReference, withDefaultTag },
          { loadRegistryConfig },
          { createProgress, silentProgress },
          { snapshotUnpacker },
        ] = await Promise.all([
          import("../image/distribution/pull.ts"),
          import("../image/distribution/tls.ts"),
          import("../image/oci.ts"),
          import("../image/reference.ts"),
          import("../image/distribution/config.ts"),
          import("../image/distribution/progress.ts"),
          import("../image/distribution/unpacker.ts"),
        ]);
        const ref = parseReference(args[0]); // refuses bad names before any network traffic
        const platform = flags.platform ? parsePlatform(String(flags.platform)) : undefined;
        if (flags["all-tags"] && (ref.tag !== undefined || ref.digest !== undefined)) {
          throw new UsageError("tag can't be used with --all-tags/-a", "pull");
        }
        const root = rootDir();
        const config = await loadRegistryConfig(root);
        const certs = certsDirs(root);
        const quiet = Boolean(flags.quiet);
        if (!quiet && !flags["all-tags"] && ref.tag === undefined && ref.digest === undefined) {
          console.log("Using default tag: latest"); // as Docker says it
        }
        const progress = quiet ? silentProgress : createProgress();
        const store = await openStore();
        const unpack = snapshotUnpacker(root, store);

        try {
          const targets = flags["all-tags"]
            ? (await listRemoteTags(args[0], { config, certsDirs: certs })).map((t) =>
              familiarName({ ...ref, tag: t })
            )
            : [args[0]];
          const trust = await trustCheck(root, Boolean(flags.verify));
          let last;
          for (const target of targets) {
            const checked = await trust?.verifyForPull(root, target, {
              verify: Boolean(flags.verify),
              config,
              certsDirs: certs,
            });
            if (checked && !quiet) {
              for (const s of checked.decision.signatures) {
                console.log(`Verified signature by "${s.key}" (${s.keyId.slice(0, 12)}) for ${s.digest}`);
              }
            }
            last = await pullImage(store, checked?.pinned ?? target, {
              config,
              certsDirs: certs,
              progress,
              platform,
              platformExplicit: platform !== undefined,
              unpack,
            });
            if (checked && !ref.digest) {
              // Pulled by the verified digest: the name asked for points at it too.
              const named = withDefaultTag(parseReference(target));
              store.tag(formatReference(named), last.image.digest);
              last = { ...last, name: formatReference(named), familiar: familiarName(named) };
            }
            if (!quiet && !flags["all-tags"]) {
              console.log(`Digest: ${last.digest}`);
              console.log(
                `Status: ${
                  last.upToDate ? "Image is up to date" : "Downloaded newer image"
                } for ${last.familiar}`,
              );
            } else if (!quiet) console.log(`Digest: ${last.digest}`);
          }
          if (last) {
            if (flags["all-tags"] && !quiet) {
              console.log(
                `Status: Downloaded newer image for ${familiarName({ domain: ref.domain, path: ref.path })}`,
              );
            }
            console.log(
              flags["all-tags"] ? `${ref.domain}/${ref.path}` : last.name,
            );
          }
        } finally {
          store.close();
        }
      }),
  },
  {
    name: "push",
    usage: "[OPTIONS] NAME[:TAG]",
    description: "Upload an image to a registry",
    minArgs: 1,
    maxArgs: 1,
    flags: [
      {
        name: "all-tags",
        short: "a",
        type: "bool",
        description: "Push all tags of an image to the repository",
      },
      { name: "quiet", short: "q", type: "bool", description: "Suppress verbose output" },
      { name: "disable-content-trust", type: "bool", description: "Skip image signing", hidden: true },
    ],
    run: ({ flags, args }) =>
      fail(async () => {
        const { pushImage } = await import("../image/distribution/push.ts");
        const { certsDirs } = await import("../image/distribution/tls.ts");
        const { parseReference } = await import("../image/reference.ts");
        const { loadRegistryConfig } = await import("../image/distribution/config.ts");
        const { createProgress, silentProgress } = await import("../image/distribution/progress.ts");
        const ref = parseReference(args[0]);
        if (flags["all-tags"] && ref.tag !== undefined) {
          throw new UsageError("tag can't be used with --all-tags/-a", "push");
        }
        const config = await loadRegistryConfig(rootDir());
        const quiet = Boolean(flags.quiet);
        const store = await openStore();
        try {
          const pushed = await pushImage(store, args[0], {
            config,
            certsDirs: certsDirs(rootDir()),
            progress: quiet ? silentProgress : createProgress(),
            allTags: Boolean(flags["all-tags"]),
          });
          if (quiet) { for (const p of pushed) console.log(p.name); }
        } finally {
          store.close();
        }
      }),
  },
  {
    name: "login",
    usage: "[OPTIONS] [SERVER]",
    description:
      "Log in to a registry\nIf no server is specified, the default is docker.io.\nCredentials are stored in $DOCKER_CONFIG/config.json (default ~/.docker/config.json).",
    maxArgs: 1,
    flags: [
      { name: "username", short: "u", type: "string", value: "string", description: "Username" },
      { name: "password", short: "p", type: "string", value: "string", description: "Password" },
      { name: "password-stdin", type: "bool", description: "Take the password from stdin" },
    ],
    run: ({ flags, args }) =>
      fail(async () => {
        const { login, loginRegistry } = await import("../image/distribution/login.ts");
        const { certsDirs } = await import("../image/distribution/tls.ts");
        const { loadRegistryConfig } = await import("../image/distribution/config.ts");
        const registry = loginRegistry(args[0]);
        let username = flags.username as string | undefined;
        let password = flags.password as string | undefined;
        if (flags["password-stdin"]) {
          if (password !== undefined) {
            throw new UsageError("--password and --password-stdin are mutually exclusive", "login");
          }
          if (username === undefined) {
            throw new UsageError("Must provide --username with --password-stdin", "login");
          }
          password = (await readStdinAll()).replace(/\r?\n$/, "");
        } else if (password !== undefined) {
          console.error("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        }
        if (username === undefined) {
          if (!Deno.stdin.isTerminal()) {
            throw new UsageError("Cannot perform an interactive login from a non TTY device", "login");
          }
          username = (await prompt("Username: ", false)).trim();
        }
        if (!username) {
          throw new UsageError("Username is required", "login");
        }
        if (password === undefined) {
          if (!Deno.stdin.isTerminal()) {
            throw new UsageError("Cannot perform an interactive login from a non TTY device", "login");
          }
          password = await prompt("Password: ", true);
        }
        if (!password) throw new UsageError("Password is required", "login");
        await login(registry, { username, password }, {
          config: await loadRegistryConfig(rootDir()),
          certsDirs: certsDirs(rootDir()),
        });
        console.log("Login Succeeded");
      }),
  },
  {
    name: "logout",
    usage: "[SERVER]",
    description: "Log out from a registry\nIf no server is specified, the default is docker.io.",
    maxArgs: 1,
    run: ({ args }) =>
      fail(async () => {
        const { logout, loginRegistry } = await import("../image/distribution/login.ts");
        const { authKey } = await import("../image/distribution/credentials.ts");
        const registry = loginRegistry(args[0]);
        const shown = authKey(registry);
        if (await logout(registry)) console.log(`Removing login credentials for ${shown}`);
        else console.log(`Not logged in to ${shown}`);
      }),
  },
];

/** Heading for `ctr help`. */
export const title = "Registry commands";
