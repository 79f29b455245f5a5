/**
 * The HTTP layer of the OCI Distribution Spec v1.1: routes, methods, headers, pagination
 * and error bodies, over the domain services of `services.ts`. A plain
 * `(Request) => Promise<Response>` function, so it runs under `Deno.serve` in the sandboxed
 * worker and directly in unit tests.
 *
 * | route                                   | methods                 |
 * | --------------------------------------- | ----------------------- |
 * | `/v2/`                                  | GET HEAD                |
 * | `/v2/_catalog?n=&last=`                 | GET                     |
 * | `/v2/<name>/tags/list?n=&last=`         | GET                     |
 * | `/v2/<name>/manifests/<tag or digest>`  | GET HEAD PUT DELETE     |
 * | `/v2/<name>/blobs/<digest>`             | GET HEAD DELETE         |
 * | `/v2/<name>/blobs/uploads/`             | POST (?digest, ?mount&from) |
 * | `/v2/<name>/blobs/uploads/<id>`         | GET PATCH PUT DELETE    |
 * | `/v2/<name>/referrers/<digest>`         | GET (?artifactType)     |
 * | `/token`                                | GET POST (token auth)   |
 *
 * @module
 */
import { isDigest } from "../image/digest.ts";
import { MediaType } from "../image/oci.ts";
import type { AccessController, AuthFailure, Principal } from "./auth.ts";
import { RegistryError } from "./errors.ts";
import { UPLOAD_ID_RE } from "./layout.ts";
import { MAX_MANIFEST_BYTES } from "./manifest_validation.ts";
import { repositoryNameProblem, type Route, routePath } from "./names.ts";
import type { Access } from "./token.ts";
import type { BlobContent, ByteRange, RegistryServices, UploadChunk } from "./services.ts";
import { attachBytesBody, attachFileBody, BadRequest } from "./http1.ts";
import { rangeHeader } from "./uploads.ts";

/** What the handler learned about a request, for metrics and the access log. */
export interface RequestContext {
  /** Route label (`blob`, `manifest`, `upload`, …). */
  route: string;
  repository?: string;
  account?: string;
  /** Request body bytes read. */
  bytesIn: number;
  /** The error code answered, if any. */
  error?: string;
}

/** Options of {@linkcode createHandler}. */
export interface HandlerOptions {
  services: RegistryServices;
  access: AccessController;
  /** Refuse every write with 405 UNSUPPORTED. */
  readOnly?: boolean;
  /** Answers `GET /metrics` (Prometheus text); absent: 404. */
  metrics?: () => Promise<string>;
  /** Called with errors that are the registry's fault (500s). */
  onInternalError?: (error: unknown, req: Request) => void;
}

/** Handles one request; fills `ctx` as it goes. */
export type RegistryHandler = (req: Request, ctx: RequestContext) => Promise<Response>;

const API_HEADERS = { "Docker-Distribution-API-Version": "registry/2.0" };
const JSON_TYPE = "application/json";
/** Largest `n` honoured on one page; `_catalog` without `n` returns this many. */
const MAX_PAGE = 10_000;
const DEFAULT_CATALOG_PAGE = 1000;

function respond(status: number, body: BodyInit | null, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...API_HEADERS, ...headers } });
}

function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): Response {
  return respond(status, JSON.stringify(value), { "Content-Type": JSON_TYPE, ...headers });
}

function errorResponse(e: RegistryError, head: boolean): Response {
  const body = JSON.stringify(e.toJSON());
  return respond(e.status, head ? null : body, {
    "Content-Type": JSON_TYPE,
    ...(head ? { "Content-Length": String(new TextEncoder().encode(body).length) } : {}),
    ...e.headers,
  });
}

function unsupportedMethod(method: string, path: string, allow: string): RegistryError {
  return new RegistryError("UNSUPPORTED", `${method} is not supported on ${path}`, {
    headers: { Allow: allow },
  });
}

function parsePage(url: URL, defaultN?: number): { n?: number; last?: string } {
  const raw = url.searchParams.get("n");
  let n = defaultN;
  if (raw !== null && raw !== "") {
    if (!/^\d+$/.test(raw)) {
      throw new RegistryError(
        "UNSUPPORTED",
        `The n parameter must be a non-negative integer, not ${JSON.stringify(raw)}`,
        {
          status: 400,
        },
      );
    }
    n = Math.min(Number(raw), MAX_PAGE);
  }
  const last = url.searchParams.get("last") ?? undefined;
  return { n, last: last === "" ? undefined : last };
}

function nextLink(path: string, n: number, last: string): string {
  return `<${path}?last=${encodeURIComponent(last)}&n=${n}>; rel="next"`;
}

/**
 * Parses a `Range: bytes=…` request header against a blob of `size` bytes. Returns undefined
 * for "whole blob" (no header, several ranges, or a unit other than bytes), or the range, or
 * "unsatisfiable".
 *
 * @example
 * ```ts
 * parseRangeHeader("bytes=6-10", 11); // { start: 6, end: 10 }
 * parseRangeHeader("bytes=-5", 11);   // { start: 6, end: 10 }
 * ```
 */
export function parseRangeHeader(
  header: string | null,
  size: number,
): ByteRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

/**
 * Parses an upload `Content-Range` (`<start>-<end>`, inclusive; `bytes ` prefixes and a
 * `/total` suffix are tolerated). Undefined when absent; throws 416 when malformed.
 *
 * @example
 * ```ts
 * parseContentRange("0-4"); // { start: 0, end: 4 }
 * ```
 */
export function parseContentRange(header: string | null): ByteRange | undefined {
  if (header === null || header.trim() === "") return undefined;
  const m = /^(?:bytes[ =])?\s*(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", `Malformed Content-Range: ${JSON.stringify(header)}`, {
      status: 416,
    });
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

function contentLength(req: Request): number | undefined {
  const v = req.headers.get("content-length");
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** The request body as an upload chunk, counting the bytes into `ctx`. */
function chunkOf(req: Request, ctx: RequestContext): UploadChunk {
  const length = contentLength(req);
  const range = parseContentRange(req.headers.get("content-range"));
  let body: ReadableStream<Uint8Array> | null = req.body;
  if (body && length === 0) {
    body.cancel().catch(() => {});
    body = null;
  }
  return { body, range, length, onBytes: (n) => ctx.bytesIn += n };
}

async function readLimited(req: Request, limit: number, ctx: RequestContext): Promise<Uint8Array> {
  const tooBig = () =>
    new RegistryError("MANIFEST_INVALID", `The manifest is larger than the limit of ${limit} bytes`, {
      status: 413,
      detail: { limit },
    });
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) {
    await req.body?.cancel().catch(() => {});
    throw tooBig();
  }
  if (!req.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.length;
    ctx.bytesIn += chunk.length;
    if (size > limit) throw tooBig();
    parts.push(chunk);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function checkDigest(digest: string): void {
  if (!isDigest(digest)) {
    throw new RegistryError("DIGEST_INVALID", `Invalid digest: ${JSON.stringify(digest)}`, {
      detail: { digest },
    });
  }
}

/** Lets the HTTP/1.1 transport send a blob straight from memory or from its file. */
function withFile(res: Response, content: BlobContent): Response {
  if (content.bytes) return attachBytesBody(res, content.bytes);
  return content.file ? attachFileBody(res, content.file.handle, content.file.length) : res;
}

function isClientAbort(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted ||
    e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.UnexpectedEof;
}

function isFailure(p: Principal | AuthFailure): p is AuthFailure {
  return "status" in p && "code" in p;
}

/**
 * Builds the request handler.
 *
 * @example
 * ```ts
 * const handle = createHandler({ services, access: new AccessController() });
 * Deno.serve((req) => handle(req, { route: "", bytesIn: 0 }));
 * ```
 */
export function createHandler(options: HandlerOptions): RegistryHandler {
  const { services, access } = options;
  const { blobs, uploads, manifests, tags } = services;
  const readOnly = options.readOnly ?? false;

  async function authorize(req: Request, ctx: RequestContext, needs: Access[]): Promise<Principal> {
    const p = await access.authorize(req, needs);
    if (isFailure(p)) {
      throw new RegistryError(p.code, p.message, {
        status: p.status,
        headers: p.headers,
        detail: needs.length ? needs : undefined,
      });
    }
    ctx.account = p.account;
    return p;
  }

  const repo = (name: string, ...actions: string[]): Access[] => [{ type: "repository", name, actions }];

  function checkWrite(method: string, path: string): void {
    if (readOnly) {
      throw new RegistryError("UNSUPPORTED", `The registry is read-only: ${method} ${path} is refused`, {
        status: 405,
      });
    }
  }

  async function route(req: Request, url: URL, r: Route, ctx: RequestContext): Promise<Response> {
    const method = req.method;
    const head = method === "HEAD";
    switch (r.kind) {
      case "base":
        if (method !== "GET" && !head) throw unsupportedMethod(method, url.pathname, "GET, HEAD");
        await authorize(req, ctx, []);
        return head
          ? respond(200, null, { "Content-Type": JSON_TYPE, "Content-Length": "2" })
          : jsonResponse(200, {});
      case "catalog": {
        if (method !== "GET") throw unsupportedMethod(method, url.pathname, "GET");
        await authorize(req, ctx, [{ type: "registry", name: "catalog", actions: ["*"] }]);
        const page = parsePage(url, DEFAULT_CATALOG_PAGE);
        const { repositories, more } = await tags.catalog(page);
        const headers: Record<string, string> = {};
        if (more) headers.Link = nextLink("/v2/_catalog", page.n!, repositories[repositories.length - 1]);
        return jsonResponse(200, { repositories }, headers);
      }
      case "token":
        return await access.tokenEndpoint(req);
      case "healthz":
        return new Response(method === "HEAD" ? null : "ok\n", { headers: { "Content-Type": "text/plain" } });
      case "metrics":
        if (!options.metrics) break;
        return new Response(await options.metrics(), {
          headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      case "unknown":
        break;
      default:
        return await repositoryRoute(req, url, r, ctx);
    }
    return respond(
      404,
      JSON.stringify({ errors: [{ code: "NOT_FOUND", message: `No route for ${url.pathname}` }] }),
      {
        "Content-Type": JSON_TYPE,
      },
    );
  }

  async function repositoryRoute(
    req: Request,
    url: URL,
    r: Exclude<Route, { kind: "base" | "catalog" | "token" | "healthz" | "metrics" | "unknown" }>,
    ctx: RequestContext,
  ): Promise<Response> {
    const method = req.method;
    const head = method === "HEAD";
    const name = r.name;
    ctx.repository = name;
    const problem = repositoryNameProblem(name);
    if (problem) {
      await req.body?.cancel().catch(() => {});
      throw new RegistryError("NAME_INVALID", `Invalid repository name ${JSON.stringify(name)}: ${problem}`, {
        detail: { name },
      });
    }
    switch (r.kind) {
      case "tags": {
        if (method !== "GET") throw unsupportedMethod(method, url.pathname, "GET");
        await authorize(req, ctx, repo(name, "pull"));
        const page = parsePage(url);
        const list = await tags.list(name, page);
        const headers: Record<string, string> = {};
        if (list.more) {
          headers.Link = nextLink(`/v2/${name}/tags/list`, page.n!, list.tags[list.tags.length - 1]);
        }
        return jsonResponse(200, { name, tags: list.tags }, headers);
      }
      case "manifest": {
        const reference = r.reference;
        if (method === "GET" || head) {
          await authorize(req, ctx, repo(name, "pull"));
          const headers = (m: { digest: string; mediaType: string; size: number }) => ({
            "Content-Type": m.mediaType,
            "Docker-Content-Digest": m.digest,
            "Content-Length": String(m.size),
            "ETag": `"${m.digest}"`,
          });
          if (head) {
            const m = await manifests.stat(name, reference);
            return respond(200, null, headers(m));
          }
          const { record, bytes } = await manifests.get(name, reference);
          return attachBytesBody(respond(200, bytes as Uint8Array<ArrayBuffer>, headers(record)), bytes);
        }
        if (method === "PUT") {
          checkWrite(method, url.pathname);
          await authorize(req, ctx, repo(name, "pull", "push"));
          const body = await readLimited(req, MAX_MANIFEST_BYTES, ctx);
          const { digest, subject } = await manifests.put(
            name,
            reference,
            body,
            req.headers.get("content-type"),
          );
          const headers: Record<string, string> = {
            "Location": `/v2/${name}/manifests/${digest}`,
            "Docker-Content-Digest": digest,
          };
          if (subject) headers["OCI-Subject"] = subject;
          return respond(201, null, headers);
        }
        if (method === "DELETE") {
          checkWrite(method, url.pathname);
          await authorize(req, ctx, repo(name, "delete"));
          await manifests.delete(name, reference);
          return respond(202, null);
        }
        throw unsupportedMethod(method, url.pathname, "GET, HEAD, PUT, DELETE");
      }
      case "blob": {
        const digest = r.digest;
        if (method === "GET" || head) {
          await authorize(req, ctx, repo(name, "pull"));
          checkDigest(digest);
          const common = {
            "Docker-Content-Digest": digest,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "ETag": `"${digest}"`,
            "Cache-Control": "max-age=31536000",
          };
          if (head) {
            const size = await blobs.stat(name, digest);
            return respond(200, null, { ...common, "Content-Length": String(size) });
          }
          const rangeHeaderValue = req.headers.get("range");
          if (!rangeHeaderValue) {
            const content = await blobs.open(name, digest);
            return withFile(
              respond(200, content.stream, { ...common, "Content-Length": String(content.size) }),
              content,
            );
          }
          const size = await blobs.stat(name, digest);
          const range = parseRangeHeader(rangeHeaderValue, size);
          if (range === "unsatisfiable") {
            return respond(416, null, { ...common, "Content-Range": `bytes */${size}` });
          }
          const content = await blobs.open(name, digest, range);
          if (!range) {
            return withFile(
              respond(200, content.stream, { ...common, "Content-Length": String(size) }),
              content,
            );
          }
          return withFile(
            respond(206, content.stream, {
              ...common,
              "Content-Length": String(range.end - range.start + 1),
              "Content-Range": `bytes ${range.start}-${range.end}/${size}`,
            }),
            content,
          );
        }
        if (method === "DELETE") {
          checkWrite(method, url.pathname);
          await authorize(req, ctx, repo(name, "delete"));
          checkDigest(digest);
          await blobs.delete(name, digest);
          return respond(202, null);
        }
        throw unsupportedMethod(method, url.pathname, "GET, HEAD, DELETE");
      }
      case "uploads": {
        if (method !== "POST") throw unsupportedMethod(method, url.pathname, "POST");
        checkWrite(method, url.pathname);
        const principal = await authorize(req, ctx, repo(name, "pull", "push"));
        const mount = url.searchParams.get("mount");
        const digest = url.searchParams.get("digest");
        if (mount !== null) {
          checkDigest(mount);
          const from = url.searchParams.get("from");
          if (from && !repositoryNameProblem(from) && principal.can("repository", from, "pull")) {
            const size = await blobs.mount(name, from, mount);
            if (size !== undefined) {
              await req.body?.cancel().catch(() => {});
              return respond(201, null, {
                "Location": `/v2/${name}/blobs/${mount}`,
                "Docker-Content-Digest": mount,
              });
            }
          }
          // Cannot mount: fall back to a normal upload session (spec: 202).
        } else if (digest !== null) {
          await uploads.putWhole(name, digest, chunkOf(req, ctx));
          return respond(201, null, {
            "Location": `/v2/${name}/blobs/${digest}`,
            "Docker-Content-Digest": digest,
          });
        }
        await req.body?.cancel().catch(() => {});
        const { id } = await uploads.start(name);
        return respond(202, null, {
          "Location": `/v2/${name}/blobs/uploads/${id}`,
          "Range": rangeHeader(0),
          "Docker-Upload-UUID": id,
        });
      }
      case "upload": {
        const id = r.id;
        if (!UPLOAD_ID_RE.test(id)) {
          await req.body?.cancel().catch(() => {});
          throw new RegistryError("BLOB_UPLOAD_UNKNOWN", `Upload session unknown to registry: ${id}`, {
            detail: { id },
          });
        }
        const location = `/v2/${name}/blobs/uploads/${id}`;
        const sessionHeaders = (offset: number) => ({
          "Location": location,
          "Range": rangeHeader(offset),
          "Docker-Upload-UUID": id,
        });
        if (method !== "GET") checkWrite(method, url.pathname);
        await authorize(req, ctx, repo(name, "pull", "push"));
        switch (method) {
          case "GET": {
            const { offset } = await uploads.status(name, id);
            return respond(204, null, sessionHeaders(offset));
          }
          case "PATCH": {
            let status;
            try {
              status = await uploads.append(name, id, chunkOf(req, ctx));
            } catch (e) {
              // After a 416 the client needs to know where to resume (case 11).
              if (e instanceof RegistryError && e.status === 416) {
                e.headers.Location = location;
                e.headers["Docker-Upload-UUID"] = id;
              }
              throw e;
            }
            return respond(202, null, sessionHeaders(status.offset));
          }
          case "PUT": {
            const digest = url.searchParams.get("digest") ?? "";
            try {
              await uploads.complete(name, id, digest, chunkOf(req, ctx));
            } catch (e) {
              if (e instanceof RegistryError && e.status === 416) {
                e.headers.Location = location;
                e.headers["Docker-Upload-UUID"] = id;
              }
              throw e;
            }
            return respond(201, null, {
              "Location": `/v2/${name}/blobs/${digest}`,
              "Docker-Content-Digest": digest,
            });
          }
          case "DELETE":
            await uploads.cancel(name, id);
            return respond(204, null);
        }
        throw unsupportedMethod(method, url.pathname, "GET, PATCH, PUT, DELETE");
      }
      case "referrers": {
        if (method !== "GET") throw unsupportedMethod(method, url.pathname, "GET");
        await authorize(req, ctx, repo(name, "pull"));
        checkDigest(r.digest);
        const artifactType = url.searchParams.get("artifactType") || undefined;
        const body = await manifests.referrers(name, r.digest, artifactType);
        const headers: Record<string, string> = { "Content-Type": MediaType.OCI_INDEX };
        if (artifactType) headers["OCI-Filters-Applied"] = "artifactType";
        return respond(200, body as Uint8Array<ArrayBuffer>, headers);
      }
    }
  }

  return async (req: Request, ctx: RequestContext): Promise<Response> => {
    const url = new URL(req.url);
    const r = routePath(url.pathname);
    ctx.route = r.kind;
    try {
      return await route(req, url, r, ctx);
    } catch (caught) {
      let e = caught;
      if (isClientAbort(e)) {
        // The client went away while sending its body: not the registry's fault.
        e = new RegistryError("BLOB_UPLOAD_INVALID", "The request body ended before its end", {
          status: 400,
        });
      } else if (e instanceof BadRequest) {
        e = new RegistryError("BLOB_UPLOAD_INVALID", `Malformed request body: ${e.message}`, { status: 400 });
      }
      if (e instanceof RegistryError) {
        ctx.error = e.code;
        return errorResponse(e, req.method === "HEAD");
      }
      ctx.error = "UNKNOWN";
      options.onInternalError?.(e, req);
      await req.body?.cancel().catch(() => {});
      return respond(
        500,
        JSON.stringify({ errors: [{ code: "UNKNOWN", message: "Internal registry error" }] }),
        {
          "Content-Type": JSON_TYPE,
        },
      );
    }
  };
}
