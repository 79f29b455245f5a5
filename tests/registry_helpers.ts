/**
 * Helpers for tests that talk to `ctr serve` over HTTP: start a registry on an ephemeral
 * loopback port in a throw-away root, make raw requests, and build and push small images.
 *
 * ```ts
 * await withRegistry(async (reg) => {
 *   const img = makeImage({ layers: 2 });
 *   await pushImage(reg.url, "team/app", "1", img);
 * });
 * ```
 *
 * @module
 */
import { digestOf } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";
import { type RegistryOptions, type RunningRegistry, startRegistry } from "../registry/server.ts";
import { assertEquals } from "./assert.ts";

/** A response read whole. */
export interface HttpResult {
  status: number;
  headers: Headers;
  body: Uint8Array;
  text: string;
  /** Parsed JSON body, or undefined. */
  json: unknown;
}

/**
 * Starts a registry in a fresh temp root on `127.0.0.1:0`, runs `fn`, stops it and removes
 * the root.
 *
 * @example
 * ```ts
 * await withRegistry(async (reg, root) => { await http(reg.url, "GET", "/v2/"); });
 * ```
 */
export async function withRegistry<T>(
  fn: (reg: RunningRegistry, root: string) => Promise<T>,
  options: Partial<RegistryOptions> = {},
): Promise<T> {
  const root = await Deno.makeTempDir({ prefix: "ctr-registry-test-" });
  const reg = await startRegistry({ root, addr: "127.0.0.1:0", accessLog: false, quiet: true, ...options });
  try {
    return await fn(reg, root);
  } finally {
    await reg.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

/**
 * One HTTP request; `path` may be absolute or start with `/`.
 *
 * @example
 * ```ts
 * const r = await http(reg.url, "GET", "/v2/t/tags/list");
 * ```
 */
export async function http(
  base: string,
  method: string,
  path: string,
  options: { body?: BodyInit | null; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const url = /^https?:/.test(path) ? path : base + path;
  const res = await fetch(url, { method, body: options.body ?? null, headers: options.headers });
  const body = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder().decode(body);
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, body, text, json };
}

/** The first error code of a spec error body. */
export function errorCode(r: HttpResult): string | undefined {
  return (r.json as { errors?: { code: string }[] } | undefined)?.errors?.[0]?.code;
}

/**
 * Uploads a blob in one request (`POST …/uploads/?digest=`); asserts 201. Returns its digest.
 *
 * @example
 * ```ts
 * const d = await pushBlob(reg.url, "t/x", new TextEncoder().encode("hi"));
 * ```
 */
export async function pushBlob(base: string, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = digestOf(bytes);
  const r = await http(base, "POST", `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    body: bytes as Uint8Array<ArrayBuffer>,
    headers: { "Content-Type": "application/octet-stream" },
  });
  assertEquals(r.status, 201, `pushing blob ${digest}: ${r.text}`);
  return digest;
}

/** A small image: config, layers and manifest bytes. */
export interface TestImage {
  config: Uint8Array;
  layers: Uint8Array[];
  manifest: Uint8Array;
  mediaType: string;
  digest: string;
}

/** Random bytes (any length; crypto.getRandomValues fills at most 64 KiB at a time). */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

/**
 * Builds an OCI (or Docker schema-2) image manifest over random or given layers.
 *
 * @example
 * ```ts
 * const img = makeImage({ layers: 3, layerSize: 1024 });
 * ```
 */
export function makeImage(options: {
  layers?: number | Uint8Array[];
  layerSize?: number;
  docker?: boolean;
  artifactType?: string;
  subject?: { digest: string; size: number; mediaType: string };
  annotations?: Record<string, string>;
  label?: string;
} = {}): TestImage {
  const layers = Array.isArray(options.layers)
    ? options.layers
    : Array.from({ length: options.layers ?? 1 }, () => randomBytes(options.layerSize ?? 512));
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map((l) => digestOf(l)) },
    config: { Labels: options.label ? { label: options.label } : undefined },
  }));
  const docker = options.docker ?? false;
  const mediaType = docker ? MediaType.DOCKER_MANIFEST : MediaType.OCI_MANIFEST;
  const manifestJson: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: docker ? MediaType.DOCKER_CONFIG : MediaType.OCI_CONFIG,
      digest: digestOf(config),
      size: config.length,
    },
    layers: layers.map((l) => ({
      mediaType: docker ? MediaType.DOCKER_LAYER_GZIP : MediaType.OCI_LAYER_GZIP,
      digest: digestOf(l),
      size: l.length,
    })),
  };
  if (options.artifactType) manifestJson.artifactType = options.artifactType;
  if (options.subject) manifestJson.subject = options.subject;
  if (options.annotations) manifestJson.annotations = options.annotations;
  const manifest = new TextEncoder().encode(JSON.stringify(manifestJson));
  return { config, layers, manifest, mediaType, digest: digestOf(manifest) };
}

/**
 * Pushes an image's blobs and manifest; asserts every step. Returns the manifest PUT result.
 *
 * @example
 * ```ts
 * await pushImage(reg.url, "team/app", "latest", makeImage());
 * ```
 */
export async function pushImage(
  base: string,
  repo: string,
  reference: string,
  img: TestImage,
): Promise<HttpResult> {
  for (const b of [img.config, ...img.layers]) await pushBlob(base, repo, b);
  const r = await putManifest(base, repo, reference, img.manifest, img.mediaType);
  assertEquals(r.status, 201, `pushing manifest ${repo}:${reference}: ${r.text}`);
  return r;
}

/**
 * `PUT /v2/<repo>/manifests/<reference>`.
 *
 * @example
 * ```ts
 * const r = await putManifest(reg.url, "t/x", "1", bytes, MediaType.OCI_MANIFEST);
 * ```
 */
export function putManifest(
  base: string,
  repo: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<HttpResult> {
  return http(base, "PUT", `/v2/${repo}/manifests/${reference}`, {
    body: bytes as Uint8Array<ArrayBuffer>,
    headers: { "Content-Type": mediaType },
  });
}

/** A `ctr serve` process started by {@linkcode spawnServe}. */
export interface ServeProcess {
  url: string;
  child: Deno.ChildProcess;
  /** Everything the process wrote on stderr so far (JSON log lines). */
  stderr(): string;
  /** Sends a signal and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * Runs `./ctr --root ROOT serve ARGS…` as a user would and waits until it listens (the
 * URL is the one it prints on stdout).
 *
 * @example
 * ```ts
 * const srv = await spawnServe(root, ["--addr", "127.0.0.1:0"]);
 * await srv.stop();
 * ```
 */
export async function spawnServe(root: string, args: string[]): Promise<ServeProcess> {
  const repo = new URL("..", import.meta.url).pathname;
  const child = new Deno.Command(`${repo}/ctr`, {
    args: ["--root", root, "serve", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "";
  const dec = new TextDecoder();
  const errDone = (async () => {
    for await (const chunk of child.stderr) err += dec.decode(chunk);
  })();
  const reader = child.stdout.getReader();
  let out = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) {
      await errDone;
      throw new Error(`ctr serve exited before listening: ${err}`);
    }
    out += dec.decode(value);
    url = /listening on (\S+)/.exec(out)?.[1];
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    url,
    child,
    stderr: () => err,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      const status = await child.status;
      await errDone;
      return status;
    },
  };
}
