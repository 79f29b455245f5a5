/**
 * The `--filter` of `ctr system prune`, as Docker's: `until=<time>` (only objects created
 * before it: an RFC 3339 time, a Unix timestamp, or a duration like `24h`/`90m` back from
 * now) and `label=<key>`, `label=<key>=<value>`, `label!=<key>[=<value>]`. Several `label`
 * filters must all hold. Pure: no I/O.
 *
 * @module
 */

/** A parsed prune filter. */
export interface PruneFilter {
  /** Only objects created before this time (ms since epoch). */
  until?: number;
  labels: { key: string; value?: string; negate: boolean }[];
}

/** Go's `time.ParseDuration` units, in milliseconds. */
const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration (`1h30m`, `90s`, `1.5h`) in milliseconds, or undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * UNITS[m[2]];
  return ms;
}

/**
 * Parses `--filter` values. Throws `TypeError` naming the bad filter.
 *
 * @example
 * ```ts
 * parsePruneFilters(["until=24h", "label=env=test"], Date.now());
 * ```
 */
export function parsePruneFilters(filters: string[], now = Date.now()): PruneFilter {
  const out: PruneFilter = { labels: [] };
  for (const f of filters) {
    const m = /^([a-z]+)(!?)=(.*)$/.exec(f);
    if (!m) throw new TypeError(`bad format of filter (expected name=value): ${f}`);
    const [, key, bang, value] = m;
    if (key === "until" && !bang) {
      if (out.until !== undefined) throw new TypeError("more than one until filter specified");
      const duration = parseGoDuration(value);
      let t: number;
      if (duration !== undefined) t = now - duration;
      else if (/^\d+(\.\d+)?$/.test(value)) t = Number(value) * 1000;
      else t = Date.parse(value);
      if (!Number.isFinite(t)) {
        throw new TypeError(`invalid until filter: "${value}" is not a time or a duration`);
      }
      out.until = t;
    } else if (key === "label") {
      const eq = value.indexOf("=");
      if (!value || eq === 0) throw new TypeError(`invalid label filter: "${value}"`);
      out.labels.push(
        eq === -1
          ? { key: value, negate: bang === "!" }
          : { key: value.slice(0, eq), value: value.slice(eq + 1), negate: bang === "!" },
      );
    } else {
      throw new TypeError(`invalid filter '${key}${bang}': prune filters are until and label`);
    }
  }
  return out;
}

/**
 * Whether an object created at `created` (ms, or an RFC 3339 string) with `labels` passes.
 *
 * @example
 * ```ts
 * matchesPruneFilter(parsePruneFilters(["label=keep!=1"]), Date.now(), {});
 * ```
 */
export function matchesPruneFilter(
  filter: PruneFilter,
  created: number | string | undefined,
  labels: Record<string, string> = {},
): boolean {
  if (filter.until !== undefined) {
    const t = typeof created === "string" ? Date.parse(created) : created;
    if (t === undefined || !Number.isFinite(t) || t >= filter.until) return false;
  }
  for (const l of filter.labels) {
    const has = l.value === undefined ? l.key in labels : labels[l.key] === l.value;
    if (has === l.negate) return false;
  }
  return true;
}

/** Whether any filter was given. */
export function isFiltered(filter: PruneFilter): boolean {
  return filter.until !== undefined || filter.labels.length > 0;
}
