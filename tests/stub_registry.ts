/**
 * Test helper: an in-memory registry (OCI distribution API) on 127.0.0.1 with a request log
 * and hooks to misbehave — the stubs of the client cases (bearer variants, missing digest
 * headers, malicious content, mounts that answer 202). Not a registry implementation to
 * reuse: just enough protocol for ctr's client to be tested against.
 *
 * @module
 */
import { digestOf } from "../image/digest.ts";
import type { BuiltImage } from "./image_builder.ts";

/** One logged request. */
export interface LoggedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** Response status sent. */
  status?: number;
}

/** Hooks: return a Response to answer instead of the normal handler. */
export type Hook = (
  req: Request,
  url: URL,
  stub: StubRegistry,
) => Response | Promise<Response | undefined> | undefined;

/** Options of a stub. */
export interface StubOptions {
  /** Checked first for every request; may answer (e.g. 401) instead. */
  auth?: Hook;
  /** Checked after auth; may answer instead of the normal handler. */
  hook?: Hook;
  /** Answer every mount request with 202 and an upload session (never mount). */
  neverMount?: boolean;
  /** Leave out `Docker-Content-Digest` on these methods. */
  omitDigestOn?: ("HEAD" | "GET")[];
}

interface Upload {
  repo: string;
  data: Uint8Array[];
  size: number;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

const errorBody = (status: number, code: string, message: string) =>
  json(status, { errors: [{ code, message }] });

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A stub registry.
 *
 * @example
 * ```ts
 * const stub = new StubRegistry();
 * stub.seed("team/app", "1", buildImage([{ a: "b" }]));
 * // … ctr pull ${stub.host}/team/app:1 …
 * await stub.close();
 * ```
 */
export class StubRegistry {
  readonly blobs = new Map<string, Uint8Array<ArrayBuffer>>();
  /** repo → digests it holds. */
  readonly repoBlobs = new Map<string, Set<string>>();
  /** repo → reference (tag or digest) → manifest. */
  readonly manifests = new Map<string, Map<string, { bytes: Uint8Array<ArrayBuffer>; mediaType: string }>>();
  readonly uploads = new Map<string, Upload>();
  readonly log: LoggedRequest[] = [];
  options: StubOptions;
  #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(options: StubOptions = {}) {
    this.options = options;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const url = new URL(req.url);
        const entry: LoggedRequest = {
          method: req.method,
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
        };
        this.log.push(entry);
        const res = (await this.options.auth?.(req, url, this)) ??
          (await this.options.hook?.(req, url, this)) ??
          (await this.#handle(req, url));
        entry.status = res.status;
        return res;
      },
    );
  }

  /** `127.0.0.1:PORT` */
  get host(): string {
    return `127.0.0.1:${this.#server.addr.port}`;
  }

  get port(): number {
    return this.#server.addr.port;
  }

  /** Stops the server. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  /** Requests matching a method and path pattern. */
  requests(method: string, path?: RegExp): LoggedRequest[] {
    return this.log.filter((r) => r.method === method && (!path || path.test(r.path)));
  }

  /** Adds a blob to a repository. */
  putBlob(repo: string, bytes: Uint8Array<ArrayBuffer>): string {
    const d = digestOf(bytes);
    this.blobs.set(d, bytes);
    if (!this.repoBlobs.has(repo)) this.repoBlobs.set(repo, new Set());
    this.repoBlobs.get(repo)!.add(d);
    return d;
  }

  /** Adds a manifest under its digest and, if given, a tag. */
  putManifest(
    repo: string,
    tag: string | undefined,
    bytes: Uint8Array<ArrayBuffer>,
    mediaType: string,
  ): string {
    const d = digestOf(bytes);
    if (!this.manifests.has(repo)) this.manifests.set(repo, new Map());
    const m = this.manifests.get(repo)!;
    m.set(d, { bytes, mediaType });
    if (tag) m.set(tag, { bytes, mediaType });
    return d;
  }

  /** Puts a whole image into a repository under a tag. */
  seed(repo: string, tag: string | undefined, img: BuiltImage): string {
    for (const b of [...img.layers, img.config]) this.putBlob(repo, b.bytes);
    return this.putManifest(repo, tag, img.manifest.bytes, img.manifest.mediaType);
  }

  #hasBlob(repo: string, digest: string): boolean {
    return this.repoBlobs.get(repo)?.has(digest) ?? false;
  }

  async #handle(req: Request, url: URL): Promise<Response> {
    const p = url.pathname;
    if (p === "/v2/" || p === "/v2") return json(200, {});
    let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(p);
    if (m) return await this.#manifest(req, m[1], m[2]);
    m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(p);
    if (m) return await this.#upload(req, url, m[1], m[2]);
    m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(p);
    if (m) return this.#blob(req, m[1], m[2]);
    m = /^\/v2\/(.+)\/tags\/list$/.exec(p);
    if (m) {
      const tags = [...(this.manifests.get(m[1])?.keys() ?? [])].filter((t) => !t.includes(":")).sort();
      if (!this.manifests.has(m[1])) return errorBody(404, "NAME_UNKNOWN", "repository name not known");
      return json(200, { name: m[1], tags });
    }
    return errorBody(404, "NOT_FOUND", "not found");
  }

  async #manifest(req: Request, repo: string, ref: string): Promise<Response> {
    if (req.method === "PUT") {
      const bytes = new Uint8Array(await req.arrayBuffer());
      const doc = JSON.parse(new TextDecoder().decode(bytes));
      for (const d of [doc.config, ...(doc.layers ?? [])].filter(Boolean)) {
        if (!this.#hasBlob(repo, d.digest)) {
          return errorBody(400, "MANIFEST_BLOB_UNKNOWN", `blob unknown to registry: ${d.digest}`);
        }
      }
      const d = this.putManifest(
        repo,
        ref.includes(":") ? undefined : ref,
        bytes,
        req.headers.get("content-type")!,
      );
      return new Response(null, {
        status: 201,
        headers: { Location: `/v2/${repo}/manifests/${d}`, "Docker-Content-Digest": d },
      });
    }
    const entry = this.manifests.get(repo)?.get(ref);
    if (!entry) return errorBody(404, "MANIFEST_UNKNOWN", "manifest unknown");
    const headers: Record<string, string> = {
      "Content-Type": entry.mediaType,
      "Content-Length": String(entry.bytes.length),
    };
    if (!this.options.omitDigestOn?.includes(req.method as "HEAD" | "GET")) {
      headers["Docker-Content-Digest"] = digestOf(entry.bytes);
    }
    return new Response(req.method === "HEAD" ? null : entry.bytes, { status: 200, headers });
  }

  #blob(req: Request, repo: string, digest: string): Response {
    if (!this.#hasBlob(repo, digest)) return errorBody(404, "BLOB_UNKNOWN", "blob unknown to registry");
    const bytes = this.blobs.get(digest)!;
    const headers: Record<string, string> = {
      "Content-Type": "application/octet-stream",
      "Accept-Ranges": "bytes",
    };
    if (!this.options.omitDigestOn?.includes(req.method as "HEAD" | "GET")) {
      headers["Docker-Content-Digest"] = digest;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
    if (range && req.method === "GET") {
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : bytes.length - 1;
      if (start >= bytes.length) return new Response(null, { status: 416 });
      headers["Content-Range"] = `bytes ${start}-${end}/${bytes.length}`;
      headers["Content-Length"] = String(end - start + 1);
      return new Response(bytes.slice(start, end + 1), { status: 206, headers });
    }
    headers["Content-Length"] = String(bytes.length);
    return new Response(req.method === "HEAD" ? null : bytes, { status: 200, headers });
  }

  async #upload(req: Request, url: URL, repo: string, id: string): Promise<Response> {
    if (req.method === "POST" && id === "") {
      const mount = url.searchParams.get("mount");
      const from = url.searchParams.get("from");
      if (mount && from && !this.options.neverMount && this.#hasBlob(from, mount)) {
        this.repoBlobs.get(repo)?.add(mount) ?? this.repoBlobs.set(repo, new Set([mount]));
        return new Response(null, {
          status: 201,
          headers: { Location: `/v2/${repo}/blobs/${mount}`, "Docker-Content-Digest": mount },
        });
      }
      const digest = url.searchParams.get("digest");
      const body = new Uint8Array(await req.arrayBuffer());
      if (digest && !mount) {
        if (digestOf(body) !== digest) return errorBody(400, "DIGEST_INVALID", "digest mismatch");
        this.putBlob(repo, body);
        return new Response(null, { status: 201, headers: { Location: `/v2/${repo}/blobs/${digest}` } });
      }
      const uuid = crypto.randomUUID();
      this.uploads.set(uuid, { repo, data: [], size: 0 });
      return new Response(null, {
        status: 202,
        headers: { Location: `/v2/${repo}/blobs/uploads/${uuid}`, Range: "0-0", "Docker-Upload-UUID": uuid },
      });
    }
    const up = this.uploads.get(id);
    if (!up || up.repo !== repo) return errorBody(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
    const rangeHeader = (n: number) => (n > 0 ? `0-${n - 1}` : "0-0");
    if (req.method === "GET") {
      return new Response(null, {
        status: 204,
        headers: { Location: `/v2/${repo}/blobs/uploads/${id}`, Range: rangeHeader(up.size) },
      });
    }
    if (req.method === "PATCH" || req.method === "PUT") {
      const cr = req.headers.get("content-range");
      const body = new Uint8Array(await req.arrayBuffer());
      if (cr) {
        const m = /^(\d+)-(\d+)$/.exec(cr);
        if (!m || Number(m[1]) !== up.size) {
          return new Response(null, {
            status: 416,
            headers: { Location: `/v2/${repo}/blobs/uploads/${id}`, Range: rangeHeader(up.size) },
          });
        }
      }
      up.data.push(body);
      up.size += body.length;
      if (req.method === "PATCH") {
        return new Response(null, {
          status: 202,
          headers: { Location: `/v2/${repo}/blobs/uploads/${id}`, Range: rangeHeader(up.size) },
        });
      }
      const digest = url.searchParams.get("digest") ?? "";
      const all = concat(up.data);
      if (digestOf(all) !== digest) return errorBody(400, "DIGEST_INVALID", "digest mismatch");
      this.uploads.delete(id);
      this.putBlob(repo, all);
      return new Response(null, {
        status: 201,
        headers: { Location: `/v2/${repo}/blobs/${digest}`, "Docker-Content-Digest": digest },
      });
    }
    if (req.method === "DELETE") {
      this.uploads.delete(id);
      return new Response(null, { status: 204 });
    }
    return errorBody(405, "UNSUPPORTED", "method not allowed");
  }
}
