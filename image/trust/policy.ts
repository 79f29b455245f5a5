/**
 * The signature policy: which images must be signed, and by whom, per registry or
 * repository. Its shape is a subset of containers-policy.json (what podman, skopeo and
 * CRI-O read), so one file can say the same thing to both:
 *
 * ```json
 * {
 *   "default": [{ "type": "insecureAcceptAnything" }],
 *   "transports": {
 *     "docker": {
 *       "127.0.0.1:5000/team/app": [{ "type": "sigstoreSigned", "keyPath": "/etc/ctr/release.pub" }],
 *       "127.0.0.1:5000/team": [{ "type": "sigstoreSigned", "keys": ["release"] }],
 *       "quay.io": [{ "type": "reject" }]
 *     }
 *   }
 * }
 * ```
 *
 * Scopes match the full repository name (`host[:port]/path`), then each parent namespace,
 * then the host alone; the most specific scope present wins, else `default`. Every
 * requirement of the chosen list must hold. Requirement types:
 *
 * - `insecureAcceptAnything`: no check (unless `--verify` asks for one);
 * - `reject`: refuse every image in the scope;
 * - `sigstoreSigned`: a valid signature by one of the keys named — `keyPath` (a PEM file),
 *   `keyPaths` (several), `keyData` (base64 of PEM), or ctr's `keys` (names of trusted keys
 *   under `<root>/trust/keys/`).
 *
 * Pure: parsing and scope lookup only.
 *
 * @module
 */

/** One requirement. */
export type Requirement =
  | { type: "insecureAcceptAnything" }
  | { type: "reject" }
  | { type: "sigstoreSigned"; keyPaths: string[]; keyData: string[]; keys: string[] };

/** A parsed policy. */
export interface Policy {
  default: Requirement[];
  /** Scope (`host`, `host/ns`, `host/ns/repo`) → requirements. */
  scopes: Map<string, Requirement[]>;
}

/** The policy when there is no file: accept anything. */
export const ACCEPT_ALL_POLICY: Policy = { default: [{ type: "insecureAcceptAnything" }], scopes: new Map() };

function requirements(value: unknown, where: string): Requirement[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`${where}: must be a non-empty list of requirements`);
  }
  return value.map((r, i) => {
    const at = `${where}[${i}]`;
    if (!r || typeof r !== "object") throw new TypeError(`${at}: not an object`);
    const o = r as Record<string, unknown>;
    switch (o.type) {
      case "insecureAcceptAnything":
      case "reject":
        return { type: o.type };
      case "sigstoreSigned": {
        const strings = (v: unknown, name: string): string[] => {
          if (v === undefined) return [];
          if (typeof v === "string") return [v];
          if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
          throw new TypeError(`${at}.${name}: must be a string or a list of strings`);
        };
        const req = {
          type: "sigstoreSigned" as const,
          keyPaths: [...strings(o.keyPath, "keyPath"), ...strings(o.keyPaths, "keyPaths")],
          keyData: strings(o.keyData, "keyData"),
          keys: strings(o.keys, "keys"),
        };
        if (!req.keyPaths.length && !req.keyData.length && !req.keys.length) {
          throw new TypeError(`${at}: sigstoreSigned needs keyPath, keyPaths, keyData or keys`);
        }
        for (const k of ["fulcio", "rekorPublicKeyPath", "rekorPublicKeyData"]) {
          if (k in o) throw new TypeError(`${at}.${k}: keyless (Fulcio/Rekor) signatures are not supported`);
        }
        return req;
      }
      default:
        throw new TypeError(`${at}: unknown requirement type ${JSON.stringify(o.type)}`);
    }
  });
}

/**
 * Parses a policy file's text; `source` names it in errors. Throws `SyntaxError` for bad
 * JSON and `TypeError` for a bad shape.
 *
 * @example
 * ```ts
 * const p = parsePolicy('{"default":[{"type":"reject"}]}', "policy.json");
 * ```
 */
export function parsePolicy(text: string, source: string): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`${source}: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new TypeError(`${source}: not a JSON object`);
  }
  const o = doc as Record<string, unknown>;
  const policy: Policy = {
    default: o.default === undefined
      ? [{ type: "insecureAcceptAnything" }]
      : requirements(o.default, `${source}: default`),
    scopes: new Map(),
  };
  const transports = o.transports as Record<string, unknown> | undefined;
  if (transports !== undefined) {
    if (!transports || typeof transports !== "object") {
      throw new TypeError(`${source}: transports must be an object`);
    }
    for (const [transport, scopes] of Object.entries(transports)) {
      if (transport !== "docker") continue; // other transports (oci, dir, …) mean nothing to ctr
      if (!scopes || typeof scopes !== "object") {
        throw new TypeError(`${source}: transports.docker must be an object`);
      }
      for (const [scope, reqs] of Object.entries(scopes as Record<string, unknown>)) {
        if (scope === "") policy.scopes.set("", requirements(reqs, `${source}: transports.docker[""]`));
        else {
          if (/[:@]/.test(scope.slice(scope.indexOf("/") + 1)) && scope.includes("/")) {
            throw new TypeError(`${source}: scope "${scope}": tags and digests are not supported in scopes`);
          }
          policy.scopes.set(scope, requirements(reqs, `${source}: transports.docker["${scope}"]`));
        }
      }
    }
  }
  return policy;
}

/**
 * The requirements for a repository (`host[:port]/path`) and the scope that chose them
 * (`"default"` when none matched).
 *
 * @example
 * ```ts
 * requirementsFor(policy, "127.0.0.1:5000/team/app"); // { scope: "127.0.0.1:5000/team", requirements: […] }
 * ```
 */
export function requirementsFor(
  policy: Policy,
  repository: string,
): { scope: string; requirements: Requirement[] } {
  let scope = repository;
  for (;;) {
    const found = policy.scopes.get(scope);
    if (found) return { scope, requirements: found };
    const slash = scope.lastIndexOf("/");
    if (slash === -1) break;
    scope = scope.slice(0, slash);
  }
  const transportDefault = policy.scopes.get("");
  if (transportDefault) return { scope: "docker default", requirements: transportDefault };
  return { scope: "default", requirements: policy.default };
}

/** Where the policy file of a state root is: `$CTR_TRUST_POLICY`, else `<root>/trust/policy.json`. */
export function policyPath(root: string, env: (k: string) => string | undefined): string {
  return env("CTR_TRUST_POLICY") || `${root}/trust/policy.json`;
}
