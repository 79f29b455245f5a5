/**
 * Signing and verifying images in a registry, and the trust decision for `pull` and `run`:
 *
 * 1. The policy (see `policy.ts`) picks the requirements for the image's repository.
 *    `reject` refuses; each `sigstoreSigned` needs a valid signature by one of its keys.
 * 2. `--verify` (or `ctr trust verify`) with no signature requirement in the policy needs a
 *    valid signature by a trusted key (`--key`, else every key in `<root>/trust/keys/`).
 * 3. A signature counts only when the signature verifies over the payload bytes, the
 *    payload names exactly the manifest digest being checked, and it names this repository.
 *
 * Verification always ends in a digest: callers then pull or run that digest, never the tag
 * again, so the image that runs is the image that was checked.
 *
 * @module
 */
import { NotFoundError } from "../../errors.ts";
import { parseReference, type Reference, repositoryName, withDefaultTag } from "../reference.ts";
import { DEFAULT_RETRY, RegistryClient } from "../distribution/client.ts";
import { DEFAULT_REGISTRY_CONFIG, endpointsFor, type RegistryConfig } from "../distribution/config.ts";
import { type Credentials, getCredentials } from "../distribution/credentials.ts";
import { registryFetch } from "../distribution/tls.ts";
import { type FetchedManifest, Repository } from "../distribution/repository.ts";
import { listKeys, loadPrivateKey, publicKeyFrom, type TrustedKey } from "./keys.ts";
import { ACCEPT_ALL_POLICY, parsePolicy, type Policy, policyPath, requirementsFor } from "./policy.ts";
import { attachCosignTag, attachSignature, findSignatures } from "./referrers.ts";
import {
  importPublicKey,
  keyId,
  makePayload,
  parsePayload,
  signPayload,
  verifyPayload,
} from "./signature.ts";

/** An image failed its trust check. The CLI prints the message (exit 1 for pull, 125 for run). */
export class VerificationError extends Error {
  override name = "VerificationError";
}

/** How to reach registries (the same settings pull and push use). */
export interface RegistryAccess {
  config?: RegistryConfig;
  certsDirs?: string[];
  credentials?: (registry: string) => Promise<Credentials | undefined>;
  fetch?: typeof fetch;
}

/** A signature that held. */
export interface VerifiedSignature {
  /** Name of the key (trusted-key name or PEM path). */
  key: string;
  keyId: string;
  /** Digest of the signed manifest (or index). */
  digest: string;
  /** Digest of the signature artifact. */
  signature: string;
  source: "referrers" | "referrers-tag" | "cosign-tag";
}

/**
 * A connection to the repository of `ref` on its registry itself (never a mirror: a
 * mirror's word about signatures is worth nothing more than the registry's).
 */
export async function connectRepository(
  ref: Reference,
  access: "pull" | "push",
  options: RegistryAccess = {},
): Promise<Repository> {
  const config = options.config ?? DEFAULT_REGISTRY_CONFIG;
  const endpoint = endpointsFor(ref.domain, config, "push")[0];
  const client = await RegistryClient.connect(endpoint, {
    credentials: await (options.credentials ?? getCredentials)(ref.domain),
    retry: { ...DEFAULT_RETRY, attempts: config.maxAttempts },
    fetch: options.fetch ?? await registryFetch(ref.domain, options.certsDirs ?? []),
  });
  return new Repository(client, ref.path, access);
}

/** The manifest a reference names on the registry, fetched and verified by digest. */
export async function resolveManifest(repo: Repository, ref: Reference): Promise<FetchedManifest> {
  return await repo.getManifest(ref.digest ?? ref.tag ?? "latest");
}

/** Loads the policy of a state root (accept-anything when there is no file). */
export async function loadPolicy(
  root: string,
  env: (k: string) => string | undefined = (k) => Deno.env.get(k),
): Promise<Policy> {
  const path = policyPath(root, env);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return ACCEPT_ALL_POLICY;
    throw e;
  }
  return parsePolicy(text, path);
}

/**
 * Checks the signatures of `digests` (the manifest, and the index it came from, if any) in
 * `repo` against `keys`; returns the first that holds, else throws
 * {@linkcode VerificationError} saying why each candidate failed.
 */
export async function verifySignatures(
  repo: Repository,
  repository: string,
  digests: string[],
  keys: TrustedKey[],
): Promise<VerifiedSignature> {
  if (!keys.length) throw new VerificationError(`No keys to verify ${repository} with`);
  const reasons: string[] = [];
  let seen = 0;
  for (const digest of digests) {
    const candidates = await findSignatures(repo, digest);
    seen += candidates.length;
    for (const c of candidates) {
      const signer = await firstSigner(keys, c.payload, c.signature);
      if (!signer) {
        reasons.push(`signature ${c.manifest.slice(7, 19)} is not by a trusted key`);
        continue;
      }
      let claim;
      try {
        claim = parsePayload(c.payload);
      } catch (e) {
        reasons.push(`signature ${c.manifest.slice(7, 19)}: ${(e as Error).message}`);
        continue;
      }
      if (claim.digest !== digest) {
        reasons.push(
          `signature ${c.manifest.slice(7, 19)} by "${signer.name}" is for manifest ${claim.digest}`,
        );
        continue;
      }
      let signedRepo: string;
      try {
        signedRepo = repositoryName(parseReference(claim.repository));
      } catch {
        signedRepo = claim.repository;
      }
      if (signedRepo !== repository) {
        reasons.push(
          `signature ${c.manifest.slice(7, 19)} by "${signer.name}" is for repository ${claim.repository}`,
        );
        continue;
      }
      return { key: signer.name, keyId: signer.id, digest, signature: c.manifest, source: c.source };
    }
  }
  const target = `${repository}@${digests[0]}`;
  if (!seen) throw new VerificationError(`No signatures found for ${target}`);
  throw new VerificationError(
    `No valid signature by a trusted key for ${target} (keys: ${
      keys.map((k) => `${k.name} ${k.id.slice(0, 12)}`).join(", ")
    }): ${[...new Set(reasons)].join("; ")}`,
  );
}

async function firstSigner(
  keys: TrustedKey[],
  payload: Uint8Array<ArrayBuffer>,
  signature: Uint8Array,
): Promise<TrustedKey | undefined> {
  for (const k of keys) if (await verifyPayload(k.key, payload, signature)) return k;
  return undefined;
}

async function keysOfRequirement(
  root: string,
  req: { keyPaths: string[]; keyData: string[]; keys: string[] },
): Promise<TrustedKey[]> {
  const out: TrustedKey[] = [];
  for (const p of req.keyPaths) out.push(await publicKeyFrom(root, p.startsWith("/") ? p : `./${p}`));
  for (const n of req.keys) out.push(await publicKeyFrom(root, n));
  for (const [i, data] of req.keyData.entries()) {
    const pem = new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
    const key = await importPublicKey(pem);
    out.push({ name: `keyData[${i}]`, path: "", key, id: await keyId(key), hasPrivate: false });
  }
  return out;
}

/** What the trust check decided. */
export interface TrustDecision {
  /** Whether any signature was checked. */
  verified: boolean;
  signatures: VerifiedSignature[];
  /** The policy scope that applied. */
  scope: string;
}

/**
 * Applies the policy (and `verify`) to an image already resolved to `digests` — its
 * manifest digest first, then the index it was selected from, if any.
 *
 * @example
 * ```ts
 * await checkTrust(root, repo, ref, [digest], { verify: true });
 * ```
 */
export async function checkTrust(
  root: string,
  repo: Repository,
  ref: Reference,
  digests: string[],
  options: { verify: boolean; keys?: TrustedKey[]; policy?: Policy },
): Promise<TrustDecision> {
  const repository = repositoryName(ref);
  const policy = options.policy ?? await loadPolicy(root);
  const { scope, requirements } = requirementsFor(policy, repository);
  const signatures: VerifiedSignature[] = [];
  if (!options.keys) {
    for (const r of requirements) {
      if (r.type === "reject") {
        throw new VerificationError(`${repository} is refused by the trust policy (scope ${scope}: reject)`);
      }
    }
    for (const r of requirements) {
      if (r.type !== "sigstoreSigned") continue;
      signatures.push(await verifySignatures(repo, repository, digests, await keysOfRequirement(root, r)));
    }
  }
  if (options.keys || (options.verify && !signatures.length)) {
    const keys = options.keys ?? await listKeys(root);
    if (!keys.length) {
      throw new VerificationError(
        `No trusted keys to verify ${repository} with: add one with \`ctr trust key generate\` or \`ctr trust key import\`, or name one with --key`,
      );
    }
    signatures.push(await verifySignatures(repo, repository, digests, keys));
  }
  return { verified: signatures.length > 0, signatures, scope };
}

/**
 * Whether the policy (or `verify`) asks for any check on `ref`; when not, pulls take their
 * ordinary path with no extra round trips.
 */
export function needsTrustCheck(policy: Policy, ref: Reference, verify: boolean): boolean {
  if (verify) return true;
  const { requirements } = requirementsFor(policy, repositoryName(ref));
  return requirements.some((r) => r.type !== "insecureAcceptAnything");
}

/**
 * Signs the manifest `reference` names on its registry with the private key `keyName` and
 * attaches the signature as a referrer.
 *
 * @example
 * ```ts
 * const s = await signImage(root, "127.0.0.1:5000/team/app:1", "default");
 * ```
 */
export async function signImage(
  root: string,
  reference: string,
  keyName: string,
  options: RegistryAccess & { cosignTag?: boolean } = {},
): Promise<
  {
    repository: string;
    digest: string;
    signature: string;
    keyId: string;
    viaTag: boolean;
    cosignTag?: string;
  }
> {
  const ref = parseReference(reference);
  const { key, id } = await loadPrivateKey(root, keyName);
  const repo = await connectRepository(ref, "push", options);
  let manifest: FetchedManifest;
  try {
    manifest = await resolveManifest(repo, ref);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new NotFoundError(`${e.message} (push the image before signing it)`);
    }
    throw e;
  }
  const repository = repositoryName(ref);
  const payload = makePayload(repository, manifest.digest);
  const signature = await signPayload(key, payload);
  const attached = await attachSignature(
    repo,
    {
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.bytes.length,
    },
    payload,
    signature,
  );
  const cosignTag = options.cosignTag
    ? await attachCosignTag(repo, manifest.digest, payload, signature)
    : undefined;
  return {
    repository,
    digest: manifest.digest,
    signature: attached.digest,
    keyId: id,
    viaTag: attached.viaTag,
    cosignTag,
  };
}

/** The one private key of a root when `--key` is not given; throws when there are none or several. */
export async function defaultSigningKey(root: string): Promise<string> {
  const own = (await listKeys(root)).filter((k) => k.hasPrivate);
  if (own.length === 1) return own[0].name;
  if (!own.length) throw new NotFoundError("No signing key: generate one with `ctr trust key generate`");
  throw new TypeError(`Several signing keys (${own.map((k) => k.name).join(", ")}): choose one with --key`);
}

/**
 * The trust check of a pull, done before any layer moves: resolves the reference on the
 * registry to a digest, checks it, and returns that digest pinned (`repo@sha256:…`) for the
 * pull to fetch — so a tag moved after the check cannot slip another image in. Undefined
 * when neither `verify` nor the policy asks for a check.
 *
 * @example
 * ```ts
 * const checked = await verifyForPull(root, "127.0.0.1:5000/team/app:1", { verify: true });
 * await pullImage(store, checked?.pinned ?? reference);
 * ```
 */
export async function verifyForPull(
  root: string,
  reference: string,
  options: RegistryAccess & { verify: boolean },
): Promise<{ pinned: string; digest: string; decision: TrustDecision } | undefined> {
  const ref = withDefaultTag(parseReference(reference));
  const policy = await loadPolicy(root);
  if (!needsTrustCheck(policy, ref, options.verify)) return undefined;
  const repo = await connectRepository(ref, "pull", options);
  const manifest = await resolveManifest(repo, ref);
  const decision = await checkTrust(root, repo, ref, [manifest.digest], { verify: options.verify, policy });
  return { pinned: `${repositoryName(ref)}@${manifest.digest}`, digest: manifest.digest, decision };
}

/**
 * The trust check of `run --verify` on a local image: the image's manifest digest (or the
 * index it was pulled through) must be signed in the registry of the name it is run by.
 * Returns the pinned reference to run, `name@sha256:…`.
 */
export async function verifyLocalImage(
  root: string,
  name: string,
  image: { digest: string; indexDigest?: string },
  options: RegistryAccess,
): Promise<{ pinned: string; decision: TrustDecision }> {
  let ref: Reference;
  try {
    ref = withDefaultTag(parseReference(name));
  } catch {
    throw new VerificationError(`--verify needs an image name with its registry, not an ID: ${name}`);
  }
  if (ref.digest && ref.digest !== image.digest && ref.digest !== image.indexDigest) {
    throw new VerificationError(`${name} does not name the local image ${image.digest}`);
  }
  const repo = await connectRepository(ref, "pull", options);
  const digests = [image.digest, ...(image.indexDigest ? [image.indexDigest] : [])];
  const decision = await checkTrust(root, repo, ref, digests, { verify: true });
  return { pinned: `${repositoryName(ref)}@${image.digest}`, decision };
}
