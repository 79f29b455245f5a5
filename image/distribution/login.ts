/**
 * `ctr login` / `ctr logout`: check credentials against a registry, then store or erase them
 * in Docker's config file (`credentials.ts`).
 *
 * A login is checked the way the registry asks: for Basic, `GET /v2/` with the credentials
 * must answer 200; for Bearer, the token server must issue a token for them (no scope) and
 * `GET /v2/` with that token must answer 200. A registry that does not challenge at all
 * accepts anything, and the credentials are stored as given (as Docker does).
 *
 * @module
 */
import { DEFAULT_DOMAIN } from "../reference.ts";
import { UnauthorizedError } from "./auth.ts";
import { DEFAULT_RETRY, RegistryClient, type RetryPolicy } from "./client.ts";
import { registryFetch } from "./tls.ts";
import { DEFAULT_REGISTRY_CONFIG, endpointsFor, type RegistryConfig } from "./config.ts";
import { type Credentials, eraseCredentials, keyHost, storeCredentials } from "./credentials.ts";

/**
 * The registry host a `login`/`logout` argument names: `http://h:5000/` → `h:5000`;
 * Docker Hub's aliases → `docker.io`; nothing → `docker.io`.
 *
 * @example
 * ```ts
 * loginRegistry("https://index.docker.io/v1/"); // "docker.io"
 * ```
 */
export function loginRegistry(server: string | undefined): string {
  if (!server) return DEFAULT_DOMAIN;
  const host = keyHost(server.trim());
  if (!host) throw new TypeError(`Invalid registry address: ${JSON.stringify(server)}`);
  if (/[^a-zA-Z0-9.:\-[\]]/.test(host)) {
    throw new TypeError(`Invalid registry address: ${JSON.stringify(server)}`);
  }
  if (["index.docker.io", "registry-1.docker.io", "docker.io"].includes(host.toLowerCase())) {
    return DEFAULT_DOMAIN;
  }
  return host;
}

/** Options of {@linkcode login}. */
export interface LoginOptions {
  config?: RegistryConfig;
  retry?: RetryPolicy;
  fetch?: typeof fetch;
  /** certs.d directories with registry CAs and client certificates (see `tls.ts`). */
  certsDirs?: string[];
  /** Docker config file to write (default `$DOCKER_CONFIG/config.json`). */
  configPath?: string;
}

/**
 * Verifies `credentials` against `registry` and stores them.
 *
 * @example
 * ```ts
 * await login("127.0.0.1:5000", { username: "u", password: "p" });
 * ```
 */
export async function login(
  registry: string,
  credentials: Credentials,
  options: LoginOptions = {},
): Promise<void> {
  const endpoint = endpointsFor(registry, options.config ?? DEFAULT_REGISTRY_CONFIG, "push")[0];
  const client = await RegistryClient.connect(endpoint, {
    credentials,
    retry: options.retry ??
      (options.config
        ? {
          ...DEFAULT_RETRY,
          attempts: options.config.maxAttempts,
          idleTimeoutMs: options.config.idleTimeoutMs,
        }
        : undefined),
    fetch: options.fetch ?? await registryFetch(registry, options.certsDirs ?? []),
  });
  if (client.auth.scheme !== undefined) {
    let res: Response;
    try {
      res = await client.request("/v2/", { accept: [401] });
    } catch (e) {
      if (e instanceof UnauthorizedError) {
        throw new UnauthorizedError(
          `login to ${registry} failed: unauthorized: incorrect username or password`,
        );
      }
      throw e;
    }
    await res.body?.cancel().catch(() => {});
    if (res.status === 401) {
      throw new UnauthorizedError(
        `login to ${registry} failed: unauthorized: incorrect username or password`,
      );
    }
  }
  const path = options.configPath;
  await (path ? storeCredentials(registry, credentials, path) : storeCredentials(registry, credentials));
}

/**
 * Erases stored credentials; returns false when there were none.
 *
 * @example
 * ```ts
 * await logout("127.0.0.1:5000");
 * ```
 */
export async function logout(registry: string, configPath?: string): Promise<boolean> {
  return await (configPath ? eraseCredentials(registry, configPath) : eraseCredentials(registry));
}
