/**
 * A lean HTTP/1.1 server on `Deno.listen` / `Deno.listenTls` for the registry: the same
 * `(Request) => Response` handler contract as `Deno.serve`, but it writes response bodies
 * with large writes straight from files or bytes when the handler marks them
 * ({@linkcode attachFileBody}, {@linkcode attachBytesBody}). On this machine `Deno.serve`
 * tops out near 1.3 GB/s per connection set while plain socket writes reach ~3 GB/s, and
 * a registry's work is mostly moving blob bytes.
 *
 * Protocol scope: HTTP/1.1 and 1.0, keep-alive, pipelined requests (answered in order),
 * `Content-Length` and `chunked` request bodies, `Expect: 100-continue`, HEAD, response
 * bodies by length or chunked. Strict parsing against request smuggling: both
 * `Content-Length` and `Transfer-Encoding`, conflicting lengths, unknown transfer codings,
 * obsolete line folding and malformed heads are refused (400/501) and the connection closed.
 * Limits: 64 KiB request head, 100 headers; idle connections close after 75 s, a head must
 * arrive within 30 s of its first byte.
 *
 * @module
 */

/** What the handler learns about the connection, as with `Deno.serve`. */
export interface Http1Info {
  remoteAddr: Deno.NetAddr;
  /** Settles when the response has been written (rejects if the client went away). */
  completed: Promise<void>;
}

/** Options of {@linkcode serveHttp1}. */
export interface Http1Options {
  hostname: string;
  port: number;
  /** PEM certificate chain and key: serve HTTPS (HTTP/1.1 over TLS). */
  tls?: { cert: string; key: string };
  handler: (req: Request, info: Http1Info) => Response | Promise<Response>;
  /** Told about errors that are the server's (handler throws, write failures). */
  onError?: (error: unknown) => void;
  /**
   * Told about a connection the client broke: a failed TLS handshake (plain HTTP at a TLS
   * port, a certificate the client refused) or a TLS stream cut without close_notify. Not
   * the server's errors, but worth a line for whoever debugs a client's trust setup.
   */
  onClientError?: (error: unknown, remote: Deno.NetAddr) => void;
}

/** A running server. */
export interface Http1Server {
  addr: Deno.NetAddr;
  /** Stops accepting, closes idle connections, lets requests in flight finish. */
  shutdown(): Promise<void>;
}

const MAX_HEAD = 64 * 1024;
const MAX_HEADERS = 100;
const IDLE_TIMEOUT_MS = 75_000;
const HEAD_TIMEOUT_MS = 30_000;
/** Unread request body beyond this is not drained: the connection closes instead. */
const MAX_DRAIN = 1024 * 1024;
const READ_BUFFER = 64 * 1024;
const LINGER_MS = 2000;
const LINGER_BYTES = 64 * 1024 * 1024;
const FILE_CHUNK = 1024 * 1024;

const enc = new TextEncoder();
const dec = new TextDecoder();

interface FileBody {
  file: Deno.FsFile;
  length: number;
}

const fileBodies = new WeakMap<Response, FileBody>();
const bytesBodies = new WeakMap<Response, Uint8Array>();

/**
 * Lets the server send `length` bytes of an open file (from its current position) instead
 * of reading `res.body`; the server closes the file. Under another server the response's
 * own stream is used and this is ignored.
 *
 * @example
 * ```ts
 * return attachFileBody(new Response(file.readable, { headers }), file, size);
 * ```
 */
export function attachFileBody(res: Response, file: Deno.FsFile, length: number): Response {
  fileBodies.set(res, { file, length });
  return res;
}

/**
 * Lets the server send `bytes` directly instead of reading `res.body`.
 *
 * @example
 * ```ts
 * return attachBytesBody(new Response(bytes, { headers }), bytes);
 * ```
 */
export function attachBytesBody(res: Response, bytes: Uint8Array): Response {
  bytesBodies.set(res, bytes);
  return res;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  307: "Temporary Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  416: "Range Not Satisfiable",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** A protocol error (bad framing of the request): answer with `status` and close the connection. */
export class BadRequest extends Error {
  override name = "BadRequest";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Bytes allowed in a method name (RFC 9110 tchar). */
const TCHAR: boolean[] = Array.from(
  { length: 256 },
  (_, b) => b < 128 && TOKEN_RE.test(String.fromCharCode(b)),
);
const VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Buffered reads from a connection. */
class ConnReader {
  buf = new Uint8Array(READ_BUFFER);
  start = 0;
  end = 0;
  eof = false;
  constructor(readonly conn: Deno.Conn) {}

  get buffered(): number {
    return this.end - this.start;
  }

  /** Reads more bytes into the buffer; false at end of stream. */
  async fill(): Promise<boolean> {
    if (this.eof) return false;
    if (this.start > 0 && this.start === this.end) this.start = this.end = 0;
    if (this.end === this.buf.length) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else {
        const bigger = new Uint8Array(this.buf.length * 2);
        bigger.set(this.buf);
        this.buf = bigger;
      }
    }
    const n = await this.conn.read(this.buf.subarray(this.end));
    if (n === null) {
      this.eof = true;
      return false;
    }
    this.end += n;
    return true;
  }

  /** Takes up to `max` buffered bytes (a copy). */
  take(max: number): Uint8Array {
    const n = Math.min(max, this.buffered);
    const out = this.buf.slice(this.start, this.start + n);
    this.start += n;
    return out;
  }

  /** The request head up to and including CRLFCRLF, or null at a clean end of stream. */
  async readHead(timeout: () => void): Promise<Uint8Array | null> {
    // Bytes after `start` already searched; relative, because fill() may move the buffer.
    let scanned = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      for (;;) {
        // Tolerate (RFC 9112 §2.2) empty lines before a request line.
        while (
          scanned === 0 && this.buffered >= 2 && this.buf[this.start] === 13 &&
          this.buf[this.start + 1] === 10
        ) {
          this.start += 2;
        }
        // Something that is not HTTP (a TLS ClientHello from a client trying HTTPS first)
        // gets its 400 at once: a client waiting for its handshake reply falls back sooner.
        if (this.buffered > 0 && !TCHAR[this.buf[this.start]]) {
          throw new BadRequest(400, "Not an HTTP/1.x request");
        }
        for (let i = this.start + Math.max(3, scanned); i < this.end; i++) {
          if (
            this.buf[i] === 10 && this.buf[i - 1] === 13 && this.buf[i - 2] === 10 && this.buf[i - 3] === 13
          ) {
            if (i + 1 - this.start > MAX_HEAD) throw new BadRequest(431, "Request head too large");
            const head = this.buf.subarray(this.start, i + 1);
            this.start = i + 1;
            return head;
          }
        }
        scanned = Math.max(0, this.buffered - 3);
        if (this.buffered > MAX_HEAD) throw new BadRequest(431, "Request head too large");
        if (this.buffered > 0 && timer === undefined) timer = setTimeout(timeout, HEAD_TIMEOUT_MS);
        if (!await this.fill()) {
          if (this.buffered > 0) {
            throw new BadRequest(400, "Connection closed in the middle of a request head");
          }
          return null;
        }
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** Reads a CRLF-terminated line (chunked framing). */
  async readLine(max = 4096): Promise<string> {
    for (;;) {
      for (let i = this.start + 1; i < this.end; i++) {
        if (this.buf[i] === 10 && this.buf[i - 1] === 13) {
          const line = dec.decode(this.buf.subarray(this.start, i - 1));
          this.start = i + 1;
          return line;
        }
      }
      if (this.buffered > max) throw new BadRequest(400, "Chunk line too long");
      if (!await this.fill()) throw new BadRequest(400, "Connection closed inside a chunked body");
    }
  }
}

interface ParsedHead {
  method: string;
  target: string;
  version: "1.0" | "1.1";
  headers: [string, string][];
}

function parseHead(bytes: Uint8Array): ParsedHead {
  const text = dec.decode(bytes);
  const lines = text.slice(0, -4).split("\r\n");
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0]);
  if (!m) {
    if (/^\S+ \S+ HTTP\/\d/.test(lines[0])) throw new BadRequest(505, "Only HTTP/1.x is supported");
    throw new BadRequest(400, "Malformed request line");
  }
  if (lines.length - 1 > MAX_HEADERS) throw new BadRequest(431, "Too many header fields");
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line[0] === " " || line[0] === "\t") throw new BadRequest(400, "Obsolete header line folding");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new BadRequest(400, "Malformed header field");
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!TOKEN_RE.test(name) || !VALUE_RE.test(value)) throw new BadRequest(400, "Malformed header field");
    headers.push([name, value]);
  }
  return { method: m[1], target: m[2], version: m[3] === "0" ? "1.0" : "1.1", headers };
}

/** How the request body is framed. */
type Framing = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" };

function framing(headers: Headers): Framing {
  const te = headers.get("transfer-encoding");
  const cl = headers.get("content-length");
  if (te !== null) {
    if (cl !== null) throw new BadRequest(400, "Both Content-Length and Transfer-Encoding");
    if (te.trim().toLowerCase() !== "chunked") {
      throw new BadRequest(501, `Unsupported Transfer-Encoding: ${te}`);
    }
    return { kind: "chunked" };
  }
  if (cl !== null) {
    const values = new Set(cl.split(",").map((v) => v.trim()));
    if (values.size !== 1) throw new BadRequest(400, "Conflicting Content-Length values");
    const v = [...values][0];
    if (!/^\d{1,15}$/.test(v)) throw new BadRequest(400, "Malformed Content-Length");
    const length = Number(v);
    return length === 0 ? { kind: "none" } : { kind: "length", length };
  }
  return { kind: "none" };
}

/** The request body as a stream over the connection; tracks whether it was read to its end. */
class BodyReader {
  done = false;
  cancelled = false;
  #remaining: number;
  #chunkLeft = 0;
  #continue: (() => Promise<void>) | undefined;
  readonly stream: ReadableStream<Uint8Array>;

  constructor(readonly reader: ConnReader, readonly framing: Framing, sendContinue?: () => Promise<void>) {
    this.#remaining = framing.kind === "length" ? framing.length : 0;
    this.#continue = sendContinue;
    this.stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const chunk = await this.next();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
        } catch (e) {
          controller.error(e);
        }
      },
      cancel: () => {
        this.cancelled = true;
      },
    }, { highWaterMark: 0 });
  }

  /** True while `Expect: 100-continue` is pending: the client waits before sending the body. */
  get awaitingContinue(): boolean {
    return this.#continue !== undefined;
  }

  /** The next piece of body, or null at its end. */
  async next(): Promise<Uint8Array | null> {
    if (this.done) return null;
    if (this.#continue) {
      const send = this.#continue;
      this.#continue = undefined;
      await send();
    }
    const r = this.reader;
    if (this.framing.kind === "length") {
      if (this.#remaining === 0) {
        this.done = true;
        return null;
      }
      if (r.buffered > 0) {
        const out = r.take(this.#remaining);
        this.#remaining -= out.length;
        return out;
      }
      if (!await r.fill()) {
        throw new Deno.errors.UnexpectedEof("Connection closed before the request body ended");
      }
      const out = r.take(this.#remaining);
      this.#remaining -= out.length;
      return out;
    }
    // chunked
    for (;;) {
      if (this.#chunkLeft > 0) {
        if (r.buffered === 0 && !await r.fill()) {
          throw new Deno.errors.UnexpectedEof("Connection closed inside a chunk");
        }
        const out = r.take(this.#chunkLeft);
        this.#chunkLeft -= out.length;
        if (this.#chunkLeft === 0) {
          if (await r.readLine() !== "") throw new BadRequest(400, "Missing CRLF after a chunk");
        }
        return out;
      }
      const line = await r.readLine();
      const size = /^([0-9a-fA-F]{1,15})(?:\s*;.*)?$/.exec(line);
      if (!size) throw new BadRequest(400, "Malformed chunk size");
      const n = parseInt(size[1], 16);
      if (n === 0) {
        // Trailer fields are read and ignored.
        while (await r.readLine(MAX_HEAD) !== "");
        this.done = true;
        return null;
      }
      this.#chunkLeft = n;
    }
  }

  /** Reads and discards what is left, up to a limit; false when the connection must close. */
  async drain(): Promise<boolean> {
    let budget = MAX_DRAIN;
    if (this.framing.kind === "length" && this.#remaining > budget) return false;
    try {
      for (;;) {
        const chunk = await this.next();
        if (!chunk) return true;
        budget -= chunk.length;
        if (budget < 0) return false;
      }
    } catch {
      return false;
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * Sends `length` bytes of a file: the next block is read while the previous one is being
 * written (two buffers), so the socket never waits on the disk and vice versa.
 */
async function sendFile(conn: Deno.Conn, file: Deno.FsFile, length: number): Promise<void> {
  const size = Math.min(FILE_CHUNK, Math.max(1, length));
  let current = new Uint8Array(size), next = new Uint8Array(size);
  const readBlock = async (buf: Uint8Array, want: number): Promise<number> => {
    let got = 0;
    while (got < want) {
      const n = await file.read(buf.subarray(got, want));
      if (n === null) throw new Error("The file ended before its declared length");
      got += n;
    }
    return got;
  };
  let left = length;
  let n = await readBlock(current, Math.min(size, left));
  left -= n;
  while (n > 0) {
    const m = Math.min(size, left);
    const reading = m > 0 ? readBlock(next, m) : Promise.resolve(0);
    try {
      await writeAll(conn, current.subarray(0, n));
    } catch (e) {
      await reading.catch(() => {});
      throw e;
    }
    n = await reading;
    left -= n;
    [current, next] = [next, current];
  }
}

let dateSecond = 0;
let dateValue = "";

/** The `Date` header value (RFC 9110 §6.6.1), formatted once per second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** Writes one response; returns whether the connection may stay open. */
async function writeResponse(
  conn: Deno.Conn,
  res: Response,
  head: boolean,
  keepAlive: boolean,
  http10 = false,
): Promise<boolean> {
  const file = fileBodies.get(res);
  const bytes = bytesBodies.get(res);
  const status = res.status;
  const noBody = head || status === 204 || status === 304 || (status >= 100 && status < 200);
  let lines = `HTTP/1.1 ${status} ${REASONS[status] ?? (res.statusText || "Status")}\r\n`;
  let length: number | undefined;
  const declared = res.headers.get("content-length");
  if (file) length = file.length;
  else if (bytes) length = bytes.length;
  else if (declared !== null) length = Number(declared);
  else if (res.body === null) length = 0;
  for (const [k, v] of res.headers) {
    if (k === "content-length" || k === "transfer-encoding" || k === "connection") continue;
    lines += `${k}: ${v}\r\n`;
  }
  // HTTP/1.0 has no chunked coding: a body of unknown length ends with the connection.
  if (http10 && !noBody && length === undefined) keepAlive = false;
  const chunked = !noBody && length === undefined && !http10;
  if (status !== 204 && !(status >= 100 && status < 200)) {
    if (length !== undefined) lines += `content-length: ${head && declared !== null ? declared : length}\r\n`;
    else if (chunked) lines += "transfer-encoding: chunked\r\n";
  }
  if (!keepAlive) lines += "connection: close\r\n";
  else if (http10) lines += "connection: keep-alive\r\n";
  lines += `date: ${httpDate()}\r\n\r\n`;
  const headBytes = enc.encode(lines);

  if (noBody) {
    file?.file.close();
    await res.body?.cancel().catch(() => {});
    await writeAll(conn, headBytes);
    return keepAlive;
  }
  if (file) {
    try {
      await writeAll(conn, headBytes);
      await sendFile(conn, file.file, file.length);
    } finally {
      try {
        file.file.close();
      } catch { /* closed already */ }
      await res.body?.cancel().catch(() => {});
    }
    return keepAlive;
  }
  if (bytes) {
    await res.body?.cancel().catch(() => {});
    if (bytes.length <= 64 * 1024) {
      const all = new Uint8Array(headBytes.length + bytes.length);
      all.set(headBytes);
      all.set(bytes, headBytes.length);
      await writeAll(conn, all);
    } else {
      await writeAll(conn, headBytes);
      await writeAll(conn, bytes);
    }
    return keepAlive;
  }
  if (!res.body) {
    await writeAll(conn, headBytes);
    return keepAlive;
  }
  // A stream: small ones are gathered into one write with the head.
  const reader = res.body.getReader();
  let pending: Uint8Array | null = headBytes;
  let sent = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!value.length) continue;
      sent += value.length;
      const framed = chunked
        ? [enc.encode(`${value.length.toString(16)}\r\n`), value, enc.encode("\r\n")]
        : [value];
      if (pending) {
        const size = pending.length + framed.reduce((n, p) => n + p.length, 0);
        if (size <= 64 * 1024) {
          const all = new Uint8Array(size);
          all.set(pending);
          let o = pending.length;
          for (const p of framed) {
            all.set(p, o);
            o += p.length;
          }
          pending = null;
          await writeAll(conn, all);
          continue;
        }
        await writeAll(conn, pending);
        pending = null;
      }
      for (const p of framed) await writeAll(conn, p);
    }
  } finally {
    reader.releaseLock();
  }
  if (pending) await writeAll(conn, pending);
  if (chunked) await writeAll(conn, enc.encode("0\r\n\r\n"));
  else if (length !== undefined && sent !== length) {
    throw new Error(`Response body was ${sent} bytes, not the declared ${length}`);
  }
  return keepAlive;
}

/**
 * Closing right after answering a request whose body is still arriving would make the
 * kernel reset the connection, and the client could lose the response. So: stop sending,
 * read and discard for a short while (nginx's "lingering close"), then close.
 */
async function lingeringClose(conn: Deno.Conn, reader: ConnReader): Promise<void> {
  try {
    await (conn as Partial<Deno.TcpConn>).closeWrite?.();
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, LINGER_MS);
  try {
    let budget = LINGER_BYTES;
    const buf = reader.buf;
    while (budget > 0) {
      const n = await conn.read(buf);
      if (n === null) break;
      budget -= n;
    }
  } catch {
    /* closed by the timer or the peer */
  } finally {
    clearTimeout(timer);
  }
}

function plainResponse(status: number, message: string): Response {
  return new Response(message + "\n", { status, headers: { "content-type": "text/plain" } });
}

/**
 * Serves `options.handler` over HTTP/1.1.
 *
 * @example
 * ```ts
 * const server = await serveHttp1({ hostname: "127.0.0.1", port: 0, handler: () => new Response("hi") });
 * await server.shutdown();
 * ```
 */
export function serveHttp1(options: Http1Options): Http1Server {
  const listener: Deno.Listener = options.tls
    ? Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      cert: options.tls.cert,
      key: options.tls.key,
      alpnProtocols: ["http/1.1"],
    })
    : Deno.listen({ hostname: options.hostname, port: options.port });
  const addr = listener.addr as Deno.NetAddr;
  const scheme = options.tls ? "https" : "http";
  const hostHeader = `${addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname}:${addr.port}`;
  const connections = new Map<Deno.Conn, { busy: boolean }>();
  let closing = false;
  const onError = options.onError ?? (() => {});

  async function handleConnection(conn: Deno.Conn): Promise<void> {
    const state = { busy: false };
    connections.set(conn, state);
    const reader = new ConnReader(conn);
    const remoteAddr = conn.remoteAddr as Deno.NetAddr;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const close = () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    try {
      for (;;) {
        if (closing && reader.buffered === 0) break;
        idleTimer = setTimeout(close, IDLE_TIMEOUT_MS);
        let headBytes: Uint8Array | null;
        try {
          headBytes = await reader.readHead(close);
        } finally {
          clearTimeout(idleTimer);
        }
        if (!headBytes) break;
        state.busy = true;
        let parsed: ParsedHead, headers: Headers, frame: Framing;
        try {
          parsed = parseHead(headBytes);
          headers = new Headers(parsed.headers);
          frame = framing(headers);
        } catch (e) {
          const status = e instanceof BadRequest ? e.status : 400;
          await writeResponse(conn, plainResponse(status, (e as Error).message), false, false).catch(
            () => {},
          );
          break;
        }
        const isHead = parsed.method === "HEAD";
        let keepAlive = parsed.version === "1.1"
          ? !/\bclose\b/i.test(headers.get("connection") ?? "")
          : /\bkeep-alive\b/i.test(headers.get("connection") ?? "");
        if (closing) keepAlive = false;
        const expectContinue = parsed.version === "1.1" &&
          /^100-continue$/i.test(headers.get("expect") ?? "");
        const body = frame.kind === "none" ? undefined : new BodyReader(
          reader,
          frame,
          expectContinue ? () => writeAll(conn, enc.encode("HTTP/1.1 100 Continue\r\n\r\n")) : undefined,
        );
        let url: string;
        if (parsed.target.startsWith("/")) {
          url = `${scheme}://${headers.get("host") || hostHeader}${parsed.target}`;
        } else if (/^https?:\/\//i.test(parsed.target)) {
          url = parsed.target;
        } else if (parsed.target === "*") {
          url = `${scheme}://${hostHeader}/*`;
        } else {
          await writeResponse(conn, plainResponse(400, "Malformed request target"), false, false).catch(
            () => {},
          );
          break;
        }
        const completed = Promise.withResolvers<void>();
        completed.promise.catch(() => {});
        let res: Response;
        try {
          const withBody = body && parsed.method !== "GET" && !isHead;
          const req = new Request(url, {
            method: parsed.method,
            headers,
            ...(withBody ? { body: body.stream, duplex: "half" } : {}),
          } as RequestInit);
          res = await options.handler(req, { remoteAddr, completed: completed.promise });
        } catch (e) {
          if (e instanceof BadRequest) res = plainResponse(e.status, e.message);
          else {
            onError(e);
            res = plainResponse(500, "The request could not be handled");
          }
          keepAlive = false;
        }
        // A body the handler did not read must be consumed (or the connection closed)
        // before the next request can be parsed.
        if (body && !body.done) {
          if (body.awaitingContinue) keepAlive = false; // the client has not sent it: do not wait for it
          else if (body.stream.locked && !body.cancelled) keepAlive = false; // still held by the handler
          else if (!await body.drain()) keepAlive = false;
        }
        try {
          keepAlive = await writeResponse(conn, res, isHead, keepAlive, parsed.version === "1.0");
          completed.resolve();
        } catch (e) {
          completed.reject(e);
          break;
        }
        state.busy = false;
        if (!keepAlive) {
          if (body && !body.done && !body.awaitingContinue) await lingeringClose(conn, reader);
          break;
        }
      }
    } catch (e) {
      if (e instanceof BadRequest) {
        await writeResponse(conn, plainResponse(e.status, e.message), false, false).catch(() => {});
      } else if (e instanceof Deno.errors.InvalidData || e instanceof Deno.errors.UnexpectedEof) {
        options.onClientError?.(e, remoteAddr);
      } else if (
        !(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.ConnectionReset ||
          e instanceof Deno.errors.Interrupted || e instanceof Deno.errors.BrokenPipe)
      ) {
        onError(e);
      }
    } finally {
      connections.delete(conn);
      close();
    }
  }

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (closing) return;
        if (e instanceof Deno.errors.BadResource) return;
        onError(e);
        continue;
      }
      // Responses go out in as few writes as possible; do not let Nagle delay the last one.
      (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
      handleConnection(conn).catch(onError);
    }
  })();

  return {
    addr,
    async shutdown() {
      if (closing) return;
      closing = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      await accepting;
      for (const [conn, state] of connections) {
        if (!state.busy) {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      }
      while (connections.size) await new Promise((r) => setTimeout(r, 10));
    },
  };
}
