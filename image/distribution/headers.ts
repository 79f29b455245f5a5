/**
 * The HTTP headers of the registry protocol that need parsing: `Link` (RFC 8288, tag-list
 * pagination), `Range` as upload sessions report it (`0-1023`), `Content-Range` of a resumed
 * download (`bytes 100-199/200`), and `Retry-After` (seconds or an HTTP date). Pure: no I/O.
 *
 * @module
 */

/** One link of a `Link` header. */
export interface Link {
  /** The target, as written (may be relative: resolve against the request URL). */
  url: string;
  /** Parameters by lowercase name (`rel`, `type`, …), unquoted. */
  params: Record<string, string>;
}

/**
 * Parses a `Link` header into its links. Commas inside `<…>` and quoted strings do not split.
 *
 * @example
 * ```ts
 * parseLinkHeader('</v2/a/tags/list?n=2&last=b>; rel="next"');
 * // [{ url: "/v2/a/tags/list?n=2&last=b", params: { rel: "next" } }]
 * ```
 */
export function parseLinkHeader(header: string): Link[] {
  const out: Link[] = [];
  let i = 0;
  const s = header;
  while (i < s.length) {
    while (i < s.length && /[\s,]/.test(s[i])) i++;
    if (s[i] !== "<") {
      // garbage: skip to the next link
      while (i < s.length && s[i] !== ",") i++;
      continue;
    }
    const end = s.indexOf(">", i);
    if (end === -1) break;
    const link: Link = { url: s.slice(i + 1, end).trim(), params: {} };
    i = end + 1;
    for (;;) {
      while (i < s.length && /\s/.test(s[i])) i++;
      if (s[i] !== ";") break;
      i++;
      while (i < s.length && /\s/.test(s[i])) i++;
      const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\*?/.exec(s.slice(i));
      if (!m) break;
      const name = m[0].toLowerCase();
      i += m[0].length;
      while (i < s.length && /\s/.test(s[i])) i++;
      let value = "";
      if (s[i] === "=") {
        i++;
        while (i < s.length && /\s/.test(s[i])) i++;
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === "\\") i++;
            value += s[i++] ?? "";
          }
          i++;
        } else {
          const v = /^[^;,\s]*/.exec(s.slice(i))![0];
          value = v;
          i += v.length;
        }
      }
      if (!(name in link.params)) link.params[name] = value;
    }
    out.push(link);
  }
  return out;
}

/**
 * The URL of the `rel="next"` link (resolved against `base`), or undefined.
 *
 * @example
 * ```ts
 * nextLink('</v2/a/tags/list?last=b>; rel="next"', "http://r/v2/a/tags/list"); // "http://r/v2/a/tags/list?last=b"
 * ```
 */
export function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  const link = parseLinkHeader(header).find((l) => l.params.rel?.split(/\s+/).includes("next"));
  return link ? new URL(link.url, base).href : undefined;
}

/**
 * Parses the `Range` header of an upload session (`0-1023`, also `bytes=0-1023`): the
 * inclusive last byte the registry holds. `0-0` with nothing uploaded is ambiguous in the
 * spec; registries send it for an empty session too, so callers treat it as "no bytes" when
 * they have not sent any. Returns the number of bytes held, or undefined when unparseable.
 *
 * @example
 * ```ts
 * uploadedBytes("0-1023"); // 1024
 * ```
 */
export function uploadedBytes(header: string | null): number | undefined {
  if (header === null) return undefined;
  const m = /^\s*(?:bytes[= ])?(\d+)-(\d+)\s*$/.exec(header);
  if (!m) return undefined;
  const start = Number(m[1]), end = Number(m[2]);
  if (start !== 0 || end < start) return undefined;
  return end + 1;
}

/** A parsed `Content-Range: bytes first-last/total`. */
export interface ContentRange {
  first: number;
  last: number;
  /** Undefined for `*`. */
  total?: number;
}

/**
 * Parses a `Content-Range` response header.
 *
 * @example
 * ```ts
 * parseContentRange("bytes 100-199/200"); // { first: 100, last: 199, total: 200 }
 * ```
 */
export function parseContentRange(header: string | null): ContentRange | undefined {
  if (header === null) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header);
  if (!m) return undefined;
  const first = Number(m[1]), last = Number(m[2]);
  if (last < first) return undefined;
  const r: ContentRange = { first, last };
  if (m[3] !== "*") r.total = Number(m[3]);
  return r;
}

/**
 * How long a `Retry-After` header asks to wait, in milliseconds (seconds or an HTTP date,
 * RFC 9110 §10.2.3), or undefined when absent or unparseable.
 *
 * @example
 * ```ts
 * retryAfterMs("2"); // 2000
 * ```
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const h = header.trim();
  if (/^\d+$/.test(h)) return Number(h) * 1000;
  const t = Date.parse(h);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}
