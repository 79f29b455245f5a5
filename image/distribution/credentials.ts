/**
 * Registry credentials in Docker's client config, read and written the way Docker does, so
 * that `ctr login`, `docker login` and `skopeo --authfile` share them:
 *
 * ```text
 * $DOCKER_CONFIG/config.json    (default ~/.docker/config.json)
 * {
 *   "auths": {
 *     "127.0.0.1:5000":              { "auth": base64("user:password") },
 *     "https://index.docker.io/v1/": { "auth": "…", "identitytoken": "…" }
 *   },
 *   "credsStore": "pass",              every registry through docker-credential-pass …
 *   "credHelpers": { "gcr.io": "gcr" } … except these, through docker-credential-gcr
 * }
 * ```
 *
 * A credential helper is the executable `docker-credential-<name>` on `PATH`, spoken to on
 * stdin/stdout: `get` (server URL in, `{"ServerURL","Username","Secret"}` out), `store`
 * (that JSON in) and `erase` (server URL in). A `Username` of `<token>` means the secret is
 * an identity (refresh) token. Other keys of the file are kept untouched on writes, and the
 * file is replaced atomically with mode 0600.
 *
 * @module
 */
import { DEFAULT_DOMAIN } from "../reference.ts";
import { DOCKER_HUB_AUTH_KEY } from "./config.ts";

/** Credentials for one registry. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (Docker's `identitytoken`), used instead of the password. */
  identityToken?: string;
}

/** Where the config file is: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(): string {
  const dir = Deno.env.get("DOCKER_CONFIG");
  if (dir) return `${dir}/config.json`;
  const home = Deno.env.get("HOME") || "/root";
  return `${home}/.docker/config.json`;
}

/**
 * The key a registry has in `auths` and the server URL given to helpers: the host, except
 * Docker Hub's historical URL.
 *
 * @example
 * ```ts
 * authKey("docker.io"); // "https://index.docker.io/v1/"
 * ```
 */
export function authKey(registry: string): string {
  return registry === DEFAULT_DOMAIN || registry === "index.docker.io" || registry === "registry-1.docker.io"
    ? DOCKER_HUB_AUTH_KEY
    : registry;
}

/**
 * The host an `auths` key stands for: `https://host:5000/v1/` → `host:5000`.
 *
 * @example
 * ```ts
 * keyHost("https://index.docker.io/v1/"); // "index.docker.io"
 * ```
 */
export function keyHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
}

type ConfigDoc = Record<string, unknown> & {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
};

async function readConfig(path: string): Promise<ConfigDoc> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw e;
  }
  if (text.trim() === "") return {};
  try {
    const doc = JSON.parse(text);
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("not a JSON object");
    return doc as ConfigDoc;
  } catch (e) {
    throw new SyntaxError(`Invalid ${path}: ${(e as Error).message}`);
  }
}

async function writeConfig(path: string, doc: ConfigDoc): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(doc, null, "\t") + "\n", { mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

function helperFor(doc: ConfigDoc, registry: string): string | undefined {
  const key = authKey(registry);
  const helpers = doc.credHelpers ?? {};
  return helpers[key] ?? helpers[registry] ?? helpers[keyHost(key)] ?? doc.credsStore ?? undefined;
}

async function runHelper(helper: string, action: string, input: string): Promise<string> {
  const program = `docker-credential-${helper}`;
  let out;
  try {
    const child = new Deno.Command(program, {
      args: [action],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
    out = await child.output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`Credential helper ${program} not found in PATH`);
    }
    throw e;
  }
  const stdout = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    const err = new Error(`${program} ${action}: ${stdout || stderr || `exit ${out.code}`}`);
    (err as Error & { notFound?: boolean }).notFound = /credentials not found/i.test(stdout + stderr);
    throw err;
  }
  return stdout;
}

function decodeAuth(auth: string, key: string): Credentials {
  let text: string;
  try {
    text = new TextDecoder().decode(Uint8Array.from(atob(auth), (c) => c.charCodeAt(0)));
  } catch {
    throw new TypeError(`Invalid "auth" for ${key} in ${dockerConfigPath()}: not base64`);
  }
  const colon = text.indexOf(":");
  if (colon === -1) throw new TypeError(`Invalid "auth" for ${key} in ${dockerConfigPath()}: no ":"`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Base64 of UTF-8 `user:password`, as in `auths` and the Basic scheme. */
export function encodeBasic(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * The stored credentials for a registry host, or undefined (anonymous).
 *
 * @example
 * ```ts
 * const creds = await getCredentials("127.0.0.1:5000");
 * ```
 */
export async function getCredentials(
  registry: string,
  path = dockerConfigPath(),
): Promise<Credentials | undefined> {
  const doc = await readConfig(path);
  const key = authKey(registry);
  const helper = helperFor(doc, registry);
  if (helper) {
    try {
      const res = JSON.parse(await runHelper(helper, "get", key)) as { Username?: string; Secret?: string };
      if (!res.Secret) return undefined;
      if (res.Username === "<token>") return { identityToken: res.Secret };
      return { username: res.Username ?? "", password: res.Secret };
    } catch (e) {
      if ((e as { notFound?: boolean }).notFound) return undefined;
      throw e;
    }
  }
  const auths = doc.auths ?? {};
  const host = keyHost(key);
  const entryKey = key in auths ? key : Object.keys(auths).find((k) => keyHost(k) === host);
  if (entryKey === undefined) return undefined;
  const entry = auths[entryKey] ?? {};
  let creds: Credentials = {};
  if (entry.auth) creds = decodeAuth(entry.auth, entryKey);
  else if (entry.username !== undefined) creds = { username: entry.username, password: entry.password ?? "" };
  if (entry.identitytoken) creds.identityToken = entry.identitytoken;
  return creds.username !== undefined || creds.identityToken ? creds : undefined;
}

/**
 * Saves credentials for a registry host (through its helper when one is configured).
 *
 * @example
 * ```ts
 * await storeCredentials("127.0.0.1:5000", { username: "u", password: "p" });
 * ```
 */
export async function storeCredentials(
  registry: string,
  creds: Credentials,
  path = dockerConfigPath(),
): Promise<void> {
  const doc = await readConfig(path);
  const key = authKey(registry);
  const helper = helperFor(doc, registry);
  doc.auths ??= {};
  if (helper) {
    const secret = creds.identityToken ?? creds.password ?? "";
    const username = creds.identityToken ? "<token>" : creds.username ?? "";
    await runHelper(helper, "store", JSON.stringify({ ServerURL: key, Username: username, Secret: secret }));
    // Docker leaves an empty entry so that tools listing logins see the registry.
    doc.auths[key] = {};
  } else {
    const entry: { auth?: string; identitytoken?: string } = {};
    if (creds.username !== undefined && !creds.identityToken) {
      entry.auth = encodeBasic(creds.username, creds.password ?? "");
    }
    if (creds.identityToken) {
      entry.auth = encodeBasic(creds.username ?? "", "");
      entry.identitytoken = creds.identityToken;
    }
    doc.auths[key] = entry;
  }
  await writeConfig(path, doc);
}

/**
 * Removes a registry's credentials. Returns false when there were none.
 *
 * @example
 * ```ts
 * await eraseCredentials("127.0.0.1:5000");
 * ```
 */
export async function eraseCredentials(registry: string, path = dockerConfigPath()): Promise<boolean> {
  const doc = await readConfig(path);
  const key = authKey(registry);
  const helper = helperFor(doc, registry);
  let found = false;
  if (helper) {
    try {
      await runHelper(helper, "erase", key);
      found = true;
    } catch (e) {
      if (!(e as { notFound?: boolean }).notFound) throw e;
    }
  }
  const auths = doc.auths ?? {};
  const host = keyHost(key);
  for (const k of Object.keys(auths)) {
    if (k === key || keyHost(k) === host) {
      delete auths[k];
      found = true;
    }
  }
  if (found) await writeConfig(path, doc);
  return found;
}
