/**
 * Streaming tar reading. Two interfaces over one state machine:
 *
 * - {@linkcode TarParser}: synchronous and push-based — feed it chunks, it calls a handler
 *   for each entry and each piece of data. No promise per chunk, no copies; this is what
 *   layer extraction uses.
 * - {@linkcode readTar}: an async iterator of entries with a `body` stream each, for code
 *   that reads archives at its own pace (load, tests).
 *
 * Understands ustar, PAX (`x` and `g` headers: path, linkpath, size, mtime with fraction,
 * uid/gid/uname/gname, `SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`) and GNU long names/links
 * (`L`/`K`). Refuses sparse entries and unknown types with an error naming the entry.
 *
 * @module
 */
import {
  applyExtensions,
  BLOCK,
  decodeRawHeader,
  isZeroBlock,
  padded,
  parsePax,
  type PaxRecords,
  type RawHeader,
  TarError,
  type TarHeader,
} from "./header.ts";

/** Receives the parts of an archive, in order. */
export interface TarHandler {
  /** An entry starts; `header.size` bytes of data follow through {@linkcode TarHandler.data}. */
  entry(header: TarHeader): void;
  /** A piece of the current entry's data. A view into the pushed chunk: use or copy it now. */
  data(chunk: Uint8Array): void;
  /** The current entry's data is complete. */
  entryEnd(): void;
}

/** Largest PAX or GNU long-name body accepted (as Go's archive/tar). */
const MAX_META = 1 << 20;
const META_KIND: Record<string, string> = {
  x: "PAX header",
  g: "PAX global header",
  L: "GNU long name",
  K: "GNU long link name",
};

const enum State {
  Header,
  Meta,
  Data,
  Skip,
  Ended,
}

/**
 * A push parser: `push()` chunks in order, then `end()`.
 *
 * @example
 * ```ts
 * const names: string[] = [];
 * const p = new TarParser({ entry: (h) => names.push(h.name), data() {}, entryEnd() {} });
 * for await (const chunk of file.readable) p.push(chunk);
 * p.end();
 * ```
 */
export class TarParser {
  #handler: TarHandler;
  #state = State.Header;
  /** Bytes of a header block (or meta body) gathered across chunks. */
  #buf = new Uint8Array(BLOCK);
  #bufLen = 0;
  /** Bytes still to deliver (Data) or to skip (Skip, Meta padding). */
  #remaining = 0;
  /** Padding after the data. */
  #pad = 0;
  #meta: { raw: RawHeader; body: Uint8Array; len: number } | undefined;
  #global: PaxRecords = new Map();
  #local: PaxRecords = new Map();
  #longName: string | undefined;
  #longLink: string | undefined;
  #zeroBlocks = 0;
  #offset = 0;
  #entryName = "";

  constructor(handler: TarHandler) {
    this.#handler = handler;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Whether the end-of-archive marker was seen (later bytes are ignored). */
  get ended(): boolean {
    return this.#state === State.Ended;
  }

  /** Feeds the next chunk of the archive. */
  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.#state) {
        case State.Ended:
          this.#offset += n - i;
          return;
        case State.Header: {
          if (this.#bufLen === 0 && n - i >= BLOCK) {
            // Counted before parsing, as on the buffered path: errors name the header's offset.
            const block = chunk.subarray(i, i + BLOCK);
            i += BLOCK;
            this.#offset += BLOCK;
            this.#header(block);
          } else {
            const take = Math.min(BLOCK - this.#bufLen, n - i);
            this.#buf.set(chunk.subarray(i, i + take), this.#bufLen);
            this.#bufLen += take;
            i += take;
            this.#offset += take;
            if (this.#bufLen === BLOCK) {
              this.#bufLen = 0;
              this.#header(this.#buf);
            }
          }
          break;
        }
        case State.Data: {
          const take = Math.min(this.#remaining, n - i);
          if (take > 0) this.#handler.data(chunk.subarray(i, i + take));
          i += take;
          this.#offset += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#finishData();
          break;
        }
        case State.Meta: {
          const m = this.#meta!;
          const take = Math.min(m.body.length - m.len, n - i);
          m.body.set(chunk.subarray(i, i + take), m.len);
          m.len += take;
          i += take;
          this.#offset += take;
          if (m.len === m.body.length) this.#finishMeta();
          break;
        }
        case State.Skip: {
          const take = Math.min(this.#remaining, n - i);
          i += take;
          this.#offset += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = State.Header;
          break;
        }
      }
    }
  }

  /** Declares the input complete; throws {@linkcode TarError} if it stopped inside an entry. */
  end(): void {
    if (this.#state === State.Ended) return;
    if (
      this.#state === State.Header && this.#bufLen === 0 && !this.#meta && !this.#longName &&
      !this.#longLink && !this.#local.size
    ) {
      // No end-of-archive marker (or only one zero block): tolerated, as GNU tar and Go do.
      this.#state = State.Ended;
      return;
    }
    const where = this.#entryName ? ` in entry ${JSON.stringify(this.#entryName)}` : "";
    throw new TarError(`Unexpected end of tar archive${where} at offset ${this.#offset}`);
  }

  #header(block: Uint8Array): void {
    if (isZeroBlock(block)) {
      if (++this.#zeroBlocks === 2) this.#state = State.Ended;
      return;
    }
    if (this.#zeroBlocks) {
      throw new TarError(`Invalid tar archive: data after a zero block at offset ${this.#offset - BLOCK}`);
    }
    const raw = decodeRawHeader(block, this.#offset - BLOCK);
    switch (raw.typeflag) {
      case "x":
      case "g":
      case "L":
      case "K": {
        if (raw.size > MAX_META) {
          throw new TarError(
            `Tar ${META_KIND[raw.typeflag]} (type ${raw.typeflag}) of ${raw.size} bytes at offset ${
              this.#offset - BLOCK
            } is larger than the limit of ${MAX_META} bytes`,
          );
        }
        this.#meta = { raw, body: new Uint8Array(raw.size), len: 0 };
        this.#state = State.Meta;
        if (raw.size === 0) this.#finishMeta();
        return;
      }
      case "V": // GNU volume label: not a file
        this.#skip(padded(raw.size));
        return;
    }
    let header: TarHeader;
    try {
      header = applyExtensions(raw, this.#global, this.#local, this.#longName, this.#longLink);
    } finally {
      this.#local = new Map();
      this.#longName = this.#longLink = undefined;
    }
    this.#entryName = header.name;
    this.#handler.entry(header);
    this.#remaining = header.size;
    this.#pad = padded(header.size) - header.size;
    this.#state = State.Data;
    if (header.size === 0) this.#finishData();
  }

  #finishData(): void {
    this.#handler.entryEnd();
    this.#skip(this.#pad);
  }

  #skip(n: number): void {
    this.#remaining = n;
    this.#state = n > 0 ? State.Skip : State.Header;
  }

  #finishMeta(): void {
    const { raw, body } = this.#meta!;
    this.#meta = undefined;
    switch (raw.typeflag) {
      case "x":
        this.#local = parsePax(body);
        break;
      case "g":
        for (const [k, v] of parsePax(body)) this.#global.set(k, v);
        break;
      case "L":
      case "K": {
        let end = body.length;
        while (end > 0 && body[end - 1] === 0) end--;
        const s = new TextDecoder().decode(body.subarray(0, end));
        if (raw.typeflag === "L") this.#longName = s;
        else this.#longLink = s;
        break;
      }
    }
    this.#skip(padded(raw.size) - raw.size);
  }
}

/** One entry from {@linkcode readTar}. */
export interface TarEntry {
  header: TarHeader;
  /** The entry's data. Read it before asking for the next entry, or it is skipped. */
  body: AsyncIterable<Uint8Array>;
  /** The whole data as one array. */
  bytes(): Promise<Uint8Array>;
}

type Event = { kind: "entry"; header: TarHeader } | { kind: "data"; chunk: Uint8Array } | { kind: "end" };

/**
 * Iterates the entries of a tar stream.
 *
 * @example
 * ```ts
 * for await (const entry of readTar(file.readable)) {
 *   if (entry.header.name === "manifest.json") console.log(new TextDecoder().decode(await entry.bytes()));
 * }
 * ```
 */
export async function* readTar(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<TarEntry> {
  let events: Event[] = [];
  let index = 0;
  const parser = new TarParser({
    entry: (header) => events.push({ kind: "entry", header }),
    // The chunk may be a view into a buffer the source reuses: copy.
    data: (chunk) => events.push({ kind: "data", chunk: chunk.slice() }),
    entryEnd: () => events.push({ kind: "end" }),
  });
  const it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  let exhausted = false;
  const next = async (): Promise<Event | undefined> => {
    while (index >= events.length) {
      if (exhausted) return undefined;
      events = [];
      index = 0;
      const r = await it.next();
      if (r.done) {
        exhausted = true;
        parser.end();
      } else {
        parser.push(r.value);
        if (parser.ended) {
          exhausted = true;
          // Drain the rest (trailing zeros, padding) so the producer finishes cleanly.
          await it.return?.();
        }
      }
    }
    return events[index++];
  };
  try {
    for (;;) {
      const ev = await next();
      if (!ev) return;
      if (ev.kind !== "entry") continue; // leftover data of an unread body
      let finished = false;
      const body: AsyncIterable<Uint8Array> = {
        async *[Symbol.asyncIterator]() {
          while (!finished) {
            const e = await next();
            if (!e || e.kind === "end") {
              finished = true;
              if (!e) throw new TarError(`Unexpected end of tar archive in entry ${ev.header.name}`);
              return;
            }
            if (e.kind === "data") yield e.chunk;
          }
        },
      };
      yield {
        header: ev.header,
        body,
        async bytes() {
          const parts: Uint8Array[] = [];
          let len = 0;
          for await (const c of body) {
            parts.push(c);
            len += c.length;
          }
          const out = new Uint8Array(len);
          let off = 0;
          for (const p of parts) {
            out.set(p, off);
            off += p.length;
          }
          return out;
        },
      };
      // Skip whatever of the body the consumer did not read.
      if (!finished) { for await (const _ of body) { /* skip */ } }
    }
  } finally {
    if (!exhausted) await it.return?.();
  }
}
