/**
 * User namespaces: which host ids a container's ids map to.
 *
 * - `--userns=host`: none (the host's ids), whatever the daemon-wide setting.
 * - the daemon-wide remap, `"userns-remap"` in `<root>/config.json` (Docker's daemon.json
 *   key): `"default"` means the user `ctr`, whose subordinate ranges ctr adds to
 *   `/etc/subuid` and `/etc/subgid` when missing (as Docker adds `dockremap`'s); `"USER"` or
 *   `"USER:GROUP"` (names or numbers) use that user's ranges. Container id 0 is the first
 *   id of the range, for 65536 ids (or the whole range, if smaller).
 * - `--userns=auto`: a private block of 65536 ids for the container, taken from the remap
 *   user's ranges (user `ctr` when no remap is set): the first block no other container of
 *   the root holds.
 *
 * Parsing and choosing are pure; reading and appending the files sit at the bottom.
 *
 * @module
 */

/** One contiguous mapping: container ids `[containerId, containerId+size)` ↔ host ids. */
export interface IdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

/** The maps of one user namespace. */
export interface UsernsMaps {
  uidMap: IdMapping[];
  gidMap: IdMapping[];
}

/** A subordinate range from /etc/subuid or /etc/subgid. */
export interface SubordinateRange {
  start: number;
  count: number;
}

/** Ids in one block (what a container sees: 0 … 65535). */
export const BLOCK = 65536;

/** The user whose ranges `"userns-remap": "default"` uses. */
export const DEFAULT_REMAP_USER = "ctr";

/**
 * Parses /etc/subuid or /etc/subgid text (`name:start:count` per line) into name → ranges.
 * Throws `SyntaxError` naming `file:line` for a malformed line.
 *
 * @example
 * ```ts
 * parseSubordinateIds("ctr:100000:65536\n", "/etc/subuid").get("ctr"); // [{ start: 100000, count: 65536 }]
 * ```
 */
export function parseSubordinateIds(text: string, file: string): Map<string, SubordinateRange[]> {
  const out = new Map<string, SubordinateRange[]>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const m = /^([^:\s]+):(\d+):(\d+)$/.exec(line);
    if (!m) throw new SyntaxError(`${file}:${i + 1}: expected NAME:START:COUNT, got "${line}"`);
    const range = { start: Number(m[2]), count: Number(m[3]) };
    if (range.count === 0) return;
    out.set(m[1], [...(out.get(m[1]) ?? []), range]);
  });
  return out;
}

/**
 * Where a new `ctr` range goes: after every existing range and at least at 100000,
 * aligned to a block.
 */
export function freeRangeStart(existing: Map<string, SubordinateRange[]>): number {
  let end = 100_000;
  for (const ranges of existing.values()) for (const r of ranges) end = Math.max(end, r.start + r.count);
  return Math.ceil(end / BLOCK) * BLOCK;
}

/** The ranges of `name` (or of its numeric id, as shadow-utils also accepts). */
function rangesOf(all: Map<string, SubordinateRange[]>, name: string, id?: number): SubordinateRange[] {
  return all.get(name) ?? (id !== undefined ? all.get(String(id)) : undefined) ?? [];
}

/** Splits `"USER[:GROUP]"`. */
export function parseRemapSetting(setting: string): { user: string; group: string } {
  const [user, group] = setting === "default" ? [DEFAULT_REMAP_USER, DEFAULT_REMAP_USER] : setting.split(":");
  if (!user) throw new TypeError(`Invalid userns-remap setting: "${setting}"`);
  return { user, group: group || user };
}

/**
 * The maps for block number `block` of a user's ranges (block 0: the daemon-wide remap;
 * `auto` picks others). Throws when the ranges hold no such block.
 *
 * @example
 * ```ts
 * mapsFor([{ start: 100000, count: 65536 }], [{ start: 100000, count: 65536 }], 0);
 * // { uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }], gidMap: […] }
 * ```
 */
export function mapsFor(
  uids: SubordinateRange[],
  gids: SubordinateRange[],
  block: number,
  who = "the remap user",
): UsernsMaps {
  const pick = (ranges: SubordinateRange[], kind: string): IdMapping[] => {
    if (!ranges.length) throw new TypeError(`No subordinate ${kind}s for ${who}`);
    if (block === 0) {
      return [{ containerId: 0, hostId: ranges[0].start, size: Math.min(BLOCK, ranges[0].count) }];
    }
    let n = block;
    for (const r of ranges) {
      const blocks = Math.floor(r.count / BLOCK);
      if (n < blocks) return [{ containerId: 0, hostId: r.start + n * BLOCK, size: BLOCK }];
      n -= blocks;
    }
    throw new RangeError(`No free block of ${BLOCK} subordinate ${kind}s left for ${who} (block ${block})`);
  };
  return { uidMap: pick(uids, "uid"), gidMap: pick(gids, "gid") };
}

/** How many whole blocks both kinds of ranges hold. */
export function blockCount(uids: SubordinateRange[], gids: SubordinateRange[]): number {
  const n = (rs: SubordinateRange[]) => rs.reduce((a, r) => a + Math.floor(r.count / BLOCK), 0);
  return Math.min(n(uids), n(gids));
}

/** `/proc/<pid>/uid_map` text of a map. */
export function formatIdMap(map: IdMapping[]): string {
  return map.map((m) => `${m.containerId} ${m.hostId} ${m.size}\n`).join("");
}

/** The host id a container id maps to, or undefined when unmapped. */
export function hostIdOf(map: IdMapping[], id: number): number | undefined {
  for (const m of map) {
    if (id >= m.containerId && id < m.containerId + m.size) return m.hostId + id - m.containerId;
  }
  return undefined;
}

/** Whether two maps are the same (containers sharing snapshots' idmapped views). */
export function sameMaps(a: UsernsMaps, b: UsernsMaps): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ------------------------------------------------------------------------------ I/O

const SUBUID = "/etc/subuid", SUBGID = "/etc/subgid";

function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

function idOf(name: string, file: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of readOrEmpty(file).split("\n")) {
    const f = line.split(":");
    if (f[0] === name) return Number(f[2]);
  }
  return undefined;
}

/**
 * Adds `ctr:<start>:65536` to /etc/subuid and /etc/subgid where `ctr` has no range (what
 * `"userns-remap": "default"` needs; Docker does the same for `dockremap`).
 */
export function ensureDefaultRanges(files = { subuid: SUBUID, subgid: SUBGID }): void {
  for (const file of [files.subuid, files.subgid]) {
    const text = readOrEmpty(file);
    const all = parseSubordinateIds(text, file);
    if (all.get(DEFAULT_REMAP_USER)?.length) continue;
    // 32 blocks: block 0 for the daemon-wide remap, the others for `--userns=auto`.
    const line = `${DEFAULT_REMAP_USER}:${freeRangeStart(all)}:${BLOCK * 32}\n`;
    Deno.writeTextFileSync(file, (text && !text.endsWith("\n") ? text + "\n" : text) + line);
  }
}

/**
 * The subordinate ranges for a remap setting (`default`, `USER`, `USER:GROUP`), read from
 * /etc/subuid and /etc/subgid (adding ctr's own ranges for `default`).
 */
export function remapRanges(
  setting: string,
  files = { subuid: SUBUID, subgid: SUBGID, passwd: "/etc/passwd", group: "/etc/group" },
): { uids: SubordinateRange[]; gids: SubordinateRange[]; who: string } {
  const { user, group } = parseRemapSetting(setting);
  if (setting === "default") ensureDefaultRanges(files);
  const uids = rangesOf(
    parseSubordinateIds(readOrEmpty(files.subuid), files.subuid),
    user,
    idOf(user, files.passwd),
  );
  const gids = rangesOf(
    parseSubordinateIds(readOrEmpty(files.subgid), files.subgid),
    group,
    idOf(group, files.group),
  );
  const who = `user "${user}"${group !== user ? ` and group "${group}"` : ""}`;
  if (!uids.length) throw new TypeError(`No subordinate uids for ${who} in ${files.subuid}`);
  if (!gids.length) throw new TypeError(`No subordinate gids for ${who} in ${files.subgid}`);
  return { uids, gids, who };
}

/** The daemon-wide remap setting of a state root (`"userns-remap"` in its config file), if any. */
export function remapSetting(root: string): string | undefined {
  const path = Deno.env.get("CTR_CONFIG") || `${root}/config.json`;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new SyntaxError(`${path}: ${(e as Error).message}`);
  }
  const v = doc?.["userns-remap"];
  if (v === undefined || v === "") return undefined;
  if (typeof v !== "string") throw new TypeError(`${path}: "userns-remap" must be a string`);
  return v;
}

/**
 * The user namespace maps for a container, or undefined for the host's ids.
 * `taken` lists the blocks other containers hold (for `auto`).
 */
export function usernsFor(
  root: string,
  mode: string | undefined,
  taken: Set<number> = new Set(),
): { maps: UsernsMaps; block: number } | undefined {
  if (mode === "host") return undefined;
  const setting = remapSetting(root);
  if (mode === "auto") {
    const { uids, gids, who } = remapRanges(setting ?? "default");
    const blocks = blockCount(uids, gids);
    // Block 0 belongs to the daemon-wide remap when there is one.
    for (let b = setting !== undefined ? 1 : 0; b < blocks; b++) {
      if (!taken.has(b)) return { maps: mapsFor(uids, gids, b, who), block: b };
    }
    throw new RangeError(`No free block of ${BLOCK} subordinate ids left for ${who} (${blocks} in use)`);
  }
  if (mode !== undefined && mode !== "") {
    throw new TypeError(`Invalid --userns value: "${mode}" (host or auto)`);
  }
  if (setting === undefined) return undefined;
  const { uids, gids, who } = remapRanges(setting);
  return { maps: mapsFor(uids, gids, 0, who), block: 0 };
}
