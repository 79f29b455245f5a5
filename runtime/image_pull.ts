/**
 * `run` / `create` with an image that is not here: pull it first, as Docker does
 * (`--pull missing`, the default; `always`; `never`). Messages go to stderr so that a
 * command's stdout stays the container's (or the ID).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";

/** `--pull` values. */
export type PullPolicy = "missing" | "always" | "never";

/**
 * Runs `create` (a request to the supervisor) under a pull policy: `always` pulls first;
 * `missing` pulls when the supervisor says the image is not here, then tries again;
 * `never` does not pull. The fast path (image present) costs nothing extra.
 *
 * @example
 * ```ts
 * const r = await withPullPolicy(root, req.image, "missing", () => request(root, { op: "create", request: req }));
 * ```
 */
export async function withPullPolicy<T>(
  root: string,
  image: string,
  policy: PullPolicy,
  create: () => Promise<T>,
): Promise<T> {
  if (policy === "always") await pullForRun(root, image, false);
  try {
    return await create();
  } catch (e) {
    if (
      policy !== "missing" || !(e instanceof NotFoundError) || !e.message.startsWith("Unable to find image")
    ) {
      throw e;
    }
  }
  await pullForRun(root, image, true);
  return await create();
}

/**
 * Parses `--pull`.
 *
 * @example
 * ```ts
 * parsePullPolicy(undefined); // "missing"
 * ```
 */
export function parsePullPolicy(value: string | undefined): PullPolicy {
  const v = value === undefined || value === "" ? "missing" : value;
  if (v === "missing" || v === "always" || v === "never") return v;
  throw new TypeError(`invalid pull option: '${v}': must be one of "always", "missing" or "never"`);
}

/**
 * Pulls `image` into `root` from its registry (progress silent, Docker's messages on
 * stderr; `missing` first says the image was not found locally).
 *
 * @example
 * ```ts
 * await pullForRun(root, "127.0.0.1:5000/app:1", true);
 * ```
 */
export async function pullForRun(
  root: string,
  image: string,
  missing: boolean,
  verify = false,
): Promise<void> {
  const { parseReference, withDefaultTag, familiarName, formatReference } = await import(
    "../image/reference.ts"
  );
  const ref = withDefaultTag(parseReference(image));
  const enc = new TextEncoder();
  if (missing) await Deno.stderr.write(enc.encode(`Unable to find image '${familiarName(ref)}' locally\n`));
  const [
    { pullImage },
    { certsDirs },
    { loadRegistryConfig },
    { silentProgress },
    { snapshotUnpacker },
    { ImageStore },
    {
      distributionSchema,
    },
  ] = await Promise.all([
    import("../image/distribution/pull.ts"),
    import("../image/distribution/tls.ts"),
    import("../image/distribution/config.ts"),
    import("../image/distribution/progress.ts"),
    import("../image/distribution/unpacker.ts"),
    import("../image/image_store.ts"),
    import("../image/distribution/origins.ts"),
  ]);
  const store = ImageStore.open(root, [distributionSchema]);
  try {
    const config = await loadRegistryConfig(root);
    // The trust policy (and --verify) hold for the pulls of run and create too: the image is
    // checked first and pulled by its verified digest (image/trust/verify.ts).
    let pinned: string | undefined;
    if (verify || await exists(Deno.env.get("CTR_TRUST_POLICY") || `${root}/trust/policy.json`)) {
      const { verifyForPull } = await import("../image/trust/verify.ts");
      pinned = (await verifyForPull(root, image, { verify, config, certsDirs: certsDirs(root) }))?.pinned;
    }
    const r = await pullImage(store, pinned ?? image, {
      config,
      certsDirs: certsDirs(root),
      progress: silentProgress,
      unpack: snapshotUnpacker(root, store),
    });
    if (pinned && !ref.digest) store.tag(formatReference(ref), r.image.digest);
    await Deno.stderr.write(enc.encode(
      `Digest: ${r.digest}\nStatus: ${
        r.upToDate ? "Image is up to date" : "Downloaded newer image"
      } for ${r.familiar}\n`,
    ));
  } catch (e) {
    const { errorText } = await import("../image/distribution/client.ts");
    throw new Error(errorText(e));
  } finally {
    store.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
