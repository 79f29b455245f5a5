/**
 * The metadata database (`<root>/ctr.db`) on the built-in `node:sqlite`.
 *
 * Each area of ctr owns its tables and declares them as a {@linkcode Schema}: a component
 * name and an append-only list of migrations. Opening the database applies whatever
 * migrations of the given schemas have not run yet, inside one IMMEDIATE transaction, so
 * concurrent `ctr` processes agree on the schema. Writers use {@linkcode transaction}, which
 * takes the write lock up front (BEGIN IMMEDIATE) and waits for other writers through the
 * busy timeout; WAL mode lets readers proceed while one process writes.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/** The tables of one component and how they evolved. Never edit a released migration; append. */
export interface Schema {
  /** Unique component name, e.g. `images`, `containers`, `registry`. */
  component: string;
  /** SQL scripts, applied in order; index + 1 is the schema version. */
  migrations: string[];
}

/** A value SQLite can bind. */
export type SqlValue = null | number | bigint | string | Uint8Array;

/** The database handle ctr passes around. */
export type Database = DatabaseSync;

const BUSY_TIMEOUT_MS = 30_000;

/**
 * Opens (creating if needed) a database and applies the schemas' pending migrations.
 *
 * @example
 * ```ts
 * const db = openDatabase("/var/lib/ctr/ctr.db", [imageSchema]);
 * ```
 */
export function openDatabase(path: string, schemas: Schema[]): Database {
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) Deno.mkdirSync(dir, { recursive: true });
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // journal_mode=WAL is persistent and needs a moment of exclusive access; retry if another
  // process holds the database right now.
  retryBusy(() => db.exec("PRAGMA journal_mode = WAL"));
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA foreign_keys = ON");
  migrate(db, schemas);
  return db;
}

function isBusy(e: unknown): boolean {
  return e instanceof Error &&
    /SQLITE_BUSY|database is locked/i.test(`${e.message} ${(e as { code?: string }).code}`);
}

function retryBusy<T>(fn: () => T): T {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      return fn();
    } catch (e) {
      if (!isBusy(e) || Date.now() > deadline) throw e;
      // Synchronous back-off: the callers are synchronous and short.
      const until = Date.now() + 5 + Math.random() * 20;
      while (Date.now() < until) { /* spin briefly */ }
    }
  }
}

/**
 * Applies pending migrations of `schemas`.
 *
 * @example
 * ```ts
 * migrate(db, [{ component: "demo", migrations: ["CREATE TABLE t (x)"] }]);
 * ```
 */
export function migrate(db: Database, schemas: Schema[]): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
  );
  const current = (component: string) =>
    Number(
      (db.prepare("SELECT version FROM schema_versions WHERE component = ?").get(component) as
        | { version: number }
        | undefined)?.version ?? 0,
    );
  const checkNotNewer = (s: Schema, have: number) => {
    if (have > s.migrations.length) {
      throw new Error(
        `Database schema of "${s.component}" is newer (v${have}) than this ctr knows (v${s.migrations.length})`,
      );
    }
  };
  if (
    schemas.every((s) => {
      const have = current(s.component);
      checkNotNewer(s, have);
      return have === s.migrations.length;
    })
  ) return;
  transaction(db, () => {
    for (const s of schemas) {
      const have = current(s.component);
      checkNotNewer(s, have);
      for (let v = have; v < s.migrations.length; v++) db.exec(s.migrations[v]);
      if (have < s.migrations.length) {
        db.prepare(
          "INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version",
        ).run(s.component, s.migrations.length);
      }
    }
  });
}

/**
 * Runs `fn` in a write transaction (BEGIN IMMEDIATE), committing on return and rolling back
 * on throw. Nested calls run inside the outer transaction.
 *
 * @example
 * ```ts
 * transaction(db, () => {
 *   db.prepare("DELETE FROM names WHERE name = ?").run(name);
 * });
 * ```
 */
export function transaction<T>(db: Database, fn: () => T): T {
  if (db.isTransaction) return fn();
  retryBusy(() => db.exec("BEGIN IMMEDIATE"));
  try {
    const result = fn();
    retryBusy(() => db.exec("COMMIT"));
    return result;
  } catch (e) {
    try {
      db.exec("ROLLBACK");
    } catch { /* already rolled back */ }
    throw e;
  }
}
