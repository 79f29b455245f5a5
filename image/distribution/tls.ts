/**
 * Trust for registries with their own certificate authority, laid out as Docker does:
 *
 * ```text
 * <dir>/<host[:port]>/
 * ├── *.crt                 CA certificates (PEM) trusted for this registry, besides the system's
 * ├── client.cert           a client certificate for mutual TLS …
 * └── client.key            … and its key
 * ```
 *
 * `<dir>` is `<root>/certs.d` (ctr's own) and then `/etc/docker/certs.d` (shared with Docker).
 * A registry without such a directory uses the default HTTPS client.
 *
 * @module
 */

/** The certs.d directories ctr reads, in order. */
export function certsDirs(root: string): string[] {
  return [`${root}/certs.d`, "/etc/docker/certs.d"];
}

/** What a registry's certs.d entry holds. */
export interface RegistryTls {
  caCerts: string[];
  cert?: string;
  key?: string;
}

/**
 * Reads the certs.d entries for `registry` (every directory that has one contributes).
 * Returns undefined when there is nothing.
 *
 * @example
 * ```ts
 * const tls = await registryTls("myreg:5000", certsDirs(root));
 * ```
 */
export async function registryTls(registry: string, dirs: string[]): Promise<RegistryTls | undefined> {
  const out: RegistryTls = { caCerts: [] };
  let found = false;
  for (const base of dirs) {
    const dir = `${base}/${registry}`;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) continue;
      throw e;
    }
    found = true;
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.endsWith(".crt")) out.caCerts.push(await Deno.readTextFile(`${dir}/${e.name}`));
    }
    const names = new Set(entries.map((e) => e.name));
    if (names.has("client.cert") !== names.has("client.key")) {
      throw new Error(`${dir}: client.cert and client.key must both be present`);
    }
    if (names.has("client.cert") && out.cert === undefined) {
      out.cert = await Deno.readTextFile(`${dir}/client.cert`);
      out.key = await Deno.readTextFile(`${dir}/client.key`);
    }
  }
  return found ? out : undefined;
}

/**
 * A `fetch` that uses the registry's certs.d trust, or undefined for the default.
 *
 * @example
 * ```ts
 * const f = await registryFetch("myreg:5000", certsDirs(root));
 * ```
 */
export async function registryFetch(registry: string, dirs: string[]): Promise<typeof fetch | undefined> {
  const tls = await registryTls(registry, dirs);
  if (!tls) return undefined;
  const client = Deno.createHttpClient({
    caCerts: tls.caCerts,
    ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
  });
  return ((input: string | URL | Request, init?: RequestInit) =>
    fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
}
