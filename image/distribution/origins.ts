/**
 * Where blobs are known to exist on registries: every pull and push records, for each blob,
 * the registry and repository it came from or went to. A push to another repository of the
 * same registry then asks for a cross-repository mount instead of uploading the bytes.
 *
 * ```text
 * distribution_blob_sources   (digest, registry, repository) → last seen (ms since epoch)
 * ```
 *
 * @module
 */
import { type Database, type Schema, transaction } from "../db.ts";

/** Tables of the distribution client. */
export const distributionSchema: Schema = {
  component: "distribution",
  migrations: [
    `CREATE TABLE distribution_blob_sources (
       digest TEXT NOT NULL,
       registry TEXT NOT NULL,
       repository TEXT NOT NULL,
       seen INTEGER NOT NULL,
       PRIMARY KEY (digest, registry, repository)
     );`,
  ],
};

/** Most repositories remembered per blob and registry (oldest forgotten first). */
const KEEP_PER_REGISTRY = 8;

/**
 * Records that blobs exist in `registry/repository`.
 *
 * @example
 * ```ts
 * recordBlobSources(db, "127.0.0.1:5000", "team/app", ["sha256:…"]);
 * ```
 */
export function recordBlobSources(
  db: Database,
  registry: string,
  repository: string,
  digests: string[],
): void {
  if (!digests.length) return;
  const now = Date.now();
  transaction(db, () => {
    const upsert = db.prepare(
      `INSERT INTO distribution_blob_sources (digest, registry, repository, seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (digest, registry, repository) DO UPDATE SET seen = excluded.seen`,
    );
    const trim = db.prepare(
      `DELETE FROM distribution_blob_sources WHERE digest = ? AND registry = ? AND repository NOT IN (
         SELECT repository FROM distribution_blob_sources WHERE digest = ? AND registry = ?
         ORDER BY seen DESC LIMIT ?)`,
    );
    for (const d of new Set(digests)) {
      upsert.run(d, registry, repository, now);
      trim.run(d, registry, d, registry, KEEP_PER_REGISTRY);
    }
  });
}

/**
 * Other repositories of `registry` known to hold a blob, most recently seen first.
 *
 * @example
 * ```ts
 * mountSources(db, "sha256:…", "127.0.0.1:5000", "team/new"); // ["team/app"]
 * ```
 */
export function mountSources(db: Database, digest: string, registry: string, except: string): string[] {
  return (db.prepare(
    `SELECT repository FROM distribution_blob_sources WHERE digest = ? AND registry = ? AND repository != ?
     ORDER BY seen DESC`,
  ).all(digest, registry, except) as { repository: string }[]).map((r) => r.repository);
}
