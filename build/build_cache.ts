/**
 * The build cache: step cache key → the layer that step produced (or that it produced
 * none). The layers themselves are ordinary blobs in the content store; an entry whose
 * blob was deleted is treated as a miss.
 *
 * ```text
 * build_cache   key → diff_id, blob digest, media type, size (NULLs: empty layer), last_used
 * ```
 *
 * @module
 */
import type { ContentStore } from "../image/content_store.ts";
import { type Database, migrate, type Schema, transaction } from "../image/db.ts";
import type { Descriptor } from "../image/oci.ts";

/** The `content_refs` holder (`image/gc.ts`) under which cached layer blobs are pinned. */
export const BUILD_CACHE_HOLDER = "build-cache";

/** Tables of the build cache. */
export const buildCacheSchema: Schema = {
  component: "build",
  migrations: [
    `CREATE TABLE build_cache (
       key TEXT PRIMARY KEY,
       diff_id TEXT,
       digest TEXT,
       media_type TEXT,
       size INTEGER,
       created INTEGER NOT NULL,
       last_used INTEGER NOT NULL
     );
     CREATE INDEX build_cache_digest ON build_cache (digest);`,
  ],
};

/** A cached step result: a layer, or `null` when the step changed nothing. */
export type CachedLayer = { diffId: string; descriptor: Descriptor } | null;

interface Row {
  key: string;
  diff_id: string | null;
  digest: string | null;
  media_type: string | null;
  size: number | null;
}

/** Lookups and records of step results. */
export class BuildCache {
  readonly db: Database;
  readonly content: ContentStore;

  constructor(db: Database, content: ContentStore) {
    this.db = db;
    this.content = content;
    migrate(db, [buildCacheSchema]);
  }

  /** The result recorded for `key`; undefined on a miss (unknown key or blob gone). */
  async get(key: string): Promise<CachedLayer | undefined> {
    const row = this.db.prepare("SELECT * FROM build_cache WHERE key = ?").get(key) as Row | undefined;
    if (!row) return undefined;
    if (row.digest === null) return null;
    if (!(await this.content.has(row.digest))) return undefined;
    this.db.prepare("UPDATE build_cache SET last_used = ? WHERE key = ?").run(Date.now(), key);
    return {
      diffId: row.diff_id!,
      descriptor: { mediaType: row.media_type!, digest: row.digest, size: Number(row.size) },
    };
  }

  /** Records the result of a step. */
  put(key: string, layer: CachedLayer): void {
    const now = Date.now();
    transaction(this.db, () => {
      this.db.prepare(
        `INSERT INTO build_cache (key, diff_id, digest, media_type, size, created, last_used)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET
         diff_id = excluded.diff_id, digest = excluded.digest, media_type = excluded.media_type,
         size = excluded.size, last_used = excluded.last_used`,
      ).run(
        key,
        layer?.diffId ?? null,
        layer?.descriptor.digest ?? null,
        layer?.descriptor.mediaType ?? null,
        layer?.descriptor.size ?? null,
        now,
        now,
      );
    });
  }

  /** Every entry: key, layer blob digest and diff id (null for an empty layer) and last use (ms). */
  entries(): { key: string; digest: string | null; diffId: string | null; lastUsed: number }[] {
    const rows = this.db.prepare("SELECT key, digest, diff_id, last_used FROM build_cache ORDER BY key")
      .all() as unknown as {
        key: string;
        digest: string | null;
        diff_id: string | null;
        last_used: number;
      }[];
    return rows.map((r) => ({
      key: r.key,
      digest: r.digest,
      diffId: r.diff_id,
      lastUsed: Number(r.last_used),
    }));
  }

  /** Forgets entries by key. */
  remove(keys: string[]): void {
    transaction(this.db, () => {
      const del = this.db.prepare("DELETE FROM build_cache WHERE key = ?");
      for (const k of keys) del.run(k);
    });
  }

  /** Layer blob digests the remaining entries name (to pin them against garbage collection). */
  digests(): string[] {
    return (this.db.prepare("SELECT DISTINCT digest FROM build_cache WHERE digest IS NOT NULL").all() as {
      digest: string;
    }[]).map((r) => r.digest);
  }
}
