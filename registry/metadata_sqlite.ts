/**
 * The SQLite metadata store (`<root>/registry.db`, WAL), on the project's `image/db.ts`
 * with its own {@linkcode registrySchema} (component `registry`):
 *
 * ```text
 * repositories     id, name (unique)
 * blobs            digest → size: every blob (and manifest) stored under blobs/
 * blob_links       (repository, digest): the blobs a repository may serve; touched = link time
 * manifests        (repository, digest) → media type, size, subject, artifact type, annotations
 * manifest_refs    (repository, manifest, child, kind): config/layers (blob), index children (manifest)
 * tags             (repository, name) → manifest digest
 * uploads          upload sessions: id → repository, start time
 * blob_pins        digests a writer is moving into blobs/ right now (GC keeps them)
 * blob_tombstones  digests GC is deleting (writers wait until they are gone)
 * ```
 *
 * Text columns compare with SQLite's BINARY collation, i.e. byte order: tag and catalog
 * pages come out in the order Go's `sort.Strings` gives (case 12).
 *
 * Every statement is prepared once. Reads take no write lock (WAL), so GETs never wait on
 * pushes; writes are short IMMEDIATE transactions.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import { type Database, openDatabase, type Schema, transaction } from "../image/db.ts";
import type {
  ManifestRecord,
  ManifestReference,
  MetadataStore,
  MissingReference,
  PageQuery,
  SweepOptions,
  SweepResult,
  UploadRecord,
} from "./metadata.ts";

/** The registry's tables. Never edit a released migration; append. */
export const registrySchema: Schema = {
  component: "registry",
  migrations: [
    `CREATE TABLE repositories (
       id INTEGER PRIMARY KEY,
       name TEXT NOT NULL UNIQUE,
       created INTEGER NOT NULL
     );
     CREATE TABLE blobs (
       digest TEXT PRIMARY KEY,
       size INTEGER NOT NULL,
       created INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE blob_links (
       repository INTEGER NOT NULL REFERENCES repositories (id),
       digest TEXT NOT NULL REFERENCES blobs (digest),
       touched INTEGER NOT NULL,
       PRIMARY KEY (repository, digest)
     ) WITHOUT ROWID;
     CREATE INDEX blob_links_digest ON blob_links (digest);
     CREATE TABLE manifests (
       repository INTEGER NOT NULL REFERENCES repositories (id),
       digest TEXT NOT NULL REFERENCES blobs (digest),
       media_type TEXT NOT NULL,
       size INTEGER NOT NULL,
       subject TEXT,
       artifact_type TEXT,
       annotations TEXT,
       created INTEGER NOT NULL,
       PRIMARY KEY (repository, digest)
     ) WITHOUT ROWID;
     CREATE INDEX manifests_subject ON manifests (repository, subject) WHERE subject IS NOT NULL;
     CREATE INDEX manifests_digest ON manifests (digest);
     CREATE TABLE manifest_refs (
       repository INTEGER NOT NULL,
       manifest TEXT NOT NULL,
       child TEXT NOT NULL,
       kind TEXT NOT NULL,
       PRIMARY KEY (repository, manifest, child),
       FOREIGN KEY (repository, manifest) REFERENCES manifests (repository, digest) ON DELETE CASCADE
     ) WITHOUT ROWID;
     CREATE INDEX manifest_refs_child ON manifest_refs (repository, child);
     CREATE TABLE tags (
       repository INTEGER NOT NULL,
       name TEXT NOT NULL,
       digest TEXT NOT NULL,
       updated INTEGER NOT NULL,
       PRIMARY KEY (repository, name),
       FOREIGN KEY (repository, digest) REFERENCES manifests (repository, digest)
     ) WITHOUT ROWID;
     CREATE INDEX tags_digest ON tags (repository, digest);
     CREATE TABLE uploads (
       id TEXT PRIMARY KEY,
       repository TEXT NOT NULL,
       started INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE blob_pins (
       id TEXT PRIMARY KEY,
       digest TEXT NOT NULL,
       created INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX blob_pins_digest ON blob_pins (digest);
     CREATE TABLE blob_tombstones (
       digest TEXT PRIMARY KEY,
       created INTEGER NOT NULL
     ) WITHOUT ROWID;`,
  ],
};

/** A pin older than this belongs to a writer that died; GC ignores it. */
export const STALE_PIN_MS = 3600_000;
/** A tombstone older than this belongs to a GC that died; writers clear it. */
export const STALE_TOMBSTONE_MS = 600_000;

type Row = Record<string, unknown>;

function limit(n: number | undefined): number {
  return n === undefined ? -1 : Math.max(0, Math.floor(n));
}

function toManifest(r: Row): ManifestRecord {
  const m: ManifestRecord = {
    digest: r.digest as string,
    mediaType: r.media_type as string,
    size: Number(r.size),
  };
  if (r.subject != null) m.subject = r.subject as string;
  if (r.artifact_type != null) m.artifactType = r.artifact_type as string;
  if (r.annotations != null) m.annotations = JSON.parse(r.annotations as string);
  return m;
}

/**
 * Metadata in SQLite.
 *
 * @example
 * ```ts
 * const meta = SqliteMetadataStore.open(`${root}/registry.db`);
 * const tags = await meta.listTags("team/app", { n: 50 });
 * meta.close();
 * ```
 */
export class SqliteMetadataStore implements MetadataStore {
  /** The database handle. */
  readonly db: Database;
  #s: Record<string, StatementSync> = {};

  constructor(db: Database) {
    this.db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      repoId: p("SELECT id FROM repositories WHERE name = ?"),
      repoInsert: p("INSERT OR IGNORE INTO repositories (name, created) VALUES (?, ?)"),
      repos: p("SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?"),
      linkedSize: p(
        `SELECT b.size FROM repositories r JOIN blob_links l ON l.repository = r.id
         JOIN blobs b ON b.digest = l.digest WHERE r.name = ? AND l.digest = ?`,
      ),
      linkedSizeById: p(
        "SELECT b.size FROM blob_links l JOIN blobs b ON b.digest = l.digest WHERE l.repository = ? AND l.digest = ?",
      ),
      unlink: p(
        "DELETE FROM blob_links WHERE repository = (SELECT id FROM repositories WHERE name = ?) AND digest = ?",
      ),
      link: p(
        `INSERT INTO blob_links (repository, digest, touched) VALUES (?, ?, ?)
         ON CONFLICT (repository, digest) DO UPDATE SET touched = excluded.touched`,
      ),
      blobInsert: p("INSERT OR IGNORE INTO blobs (digest, size, created) VALUES (?, ?, ?)"),
      tombstone: p("SELECT created FROM blob_tombstones WHERE digest = ?"),
      tombstoneDelete: p("DELETE FROM blob_tombstones WHERE digest = ?"),
      tombstoneInsert: p("INSERT OR IGNORE INTO blob_tombstones (digest, created) VALUES (?, ?)"),
      tombstones: p("SELECT digest FROM blob_tombstones ORDER BY digest"),
      tombstoneRefresh: p("UPDATE blob_tombstones SET created = ? WHERE digest = ?"),
      pinInsert: p("INSERT INTO blob_pins (id, digest, created) VALUES (?, ?, ?)"),
      pinDelete: p("DELETE FROM blob_pins WHERE id = ?"),
      manifestByTag: p(
        `SELECT m.digest, m.media_type, m.size, m.subject FROM repositories r
         JOIN tags t ON t.repository = r.id
         JOIN manifests m ON m.repository = t.repository AND m.digest = t.digest
         WHERE r.name = ? AND t.name = ?`,
      ),
      manifestByDigest: p(
        `SELECT m.digest, m.media_type, m.size, m.subject FROM repositories r
         JOIN manifests m ON m.repository = r.id WHERE r.name = ? AND m.digest = ?`,
      ),
      manifestSizeById: p("SELECT size FROM manifests WHERE repository = ? AND digest = ?"),
      manifestUpsert: p(
        `INSERT INTO manifests (repository, digest, media_type, size, subject, artifact_type, annotations, created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (repository, digest) DO UPDATE SET created = excluded.created`,
      ),
      refInsert: p(
        "INSERT OR IGNORE INTO manifest_refs (repository, manifest, child, kind) VALUES (?, ?, ?, ?)",
      ),
      tagUpsert: p(
        `INSERT INTO tags (repository, name, digest, updated) VALUES (?, ?, ?, ?)
         ON CONFLICT (repository, name) DO UPDATE SET digest = excluded.digest, updated = excluded.updated`,
      ),
      tagsOfManifestDelete: p("DELETE FROM tags WHERE repository = ? AND digest = ?"),
      manifestDelete: p("DELETE FROM manifests WHERE repository = ? AND digest = ?"),
      tagDelete: p(
        "DELETE FROM tags WHERE repository = (SELECT id FROM repositories WHERE name = ?) AND name = ?",
      ),
      tags: p("SELECT name FROM tags WHERE repository = ? AND name > ? ORDER BY name LIMIT ?"),
      referrers: p(
        `SELECT m.digest, m.media_type, m.size, m.subject, m.artifact_type, m.annotations
         FROM repositories r JOIN manifests m ON m.repository = r.id
         WHERE r.name = ? AND m.subject = ? ORDER BY m.digest`,
      ),
      uploadInsert: p("INSERT INTO uploads (id, repository, started) VALUES (?, ?, ?)"),
      upload: p("SELECT id, repository, started FROM uploads WHERE id = ?"),
      uploadDelete: p("DELETE FROM uploads WHERE id = ?"),
      uploadsBefore: p("SELECT id, repository, started FROM uploads WHERE started < ? ORDER BY started"),
      stats: p(
        `SELECT (SELECT count(*) FROM blobs) AS blobs, (SELECT coalesce(sum(size), 0) FROM blobs) AS bytes,
                (SELECT count(*) FROM repositories) AS repositories, (SELECT count(*) FROM uploads) AS uploads`,
      ),
    };
  }

  /** Opens (creating and migrating) the database at `path`. */
  static open(path: string): SqliteMetadataStore {
    return new SqliteMetadataStore(openDatabase(path, [registrySchema]));
  }

  #repoId(name: string): number | undefined {
    const r = this.#s.repoId.get(name) as Row | undefined;
    return r ? Number(r.id) : undefined;
  }

  #ensureRepo(name: string): number {
    this.#s.repoInsert.run(name, Date.now());
    return this.#repoId(name)!;
  }

  repositoryExists(name: string): Promise<boolean> {
    return Promise.resolve(this.#repoId(name) !== undefined);
  }

  listRepositories(page: PageQuery): Promise<string[]> {
    const rows = this.#s.repos.all(page.last ?? "", limit(page.n)) as Row[];
    return Promise.resolve(rows.map((r) => r.name as string));
  }

  linkedBlobSize(repository: string, digest: string): Promise<number | undefined> {
    const r = this.#s.linkedSize.get(repository, digest) as Row | undefined;
    return Promise.resolve(r ? Number(r.size) : undefined);
  }

  unlinkBlob(repository: string, digest: string): Promise<boolean> {
    return Promise.resolve(
      transaction(this.db, () => Number(this.#s.unlink.run(repository, digest).changes) > 0),
    );
  }

  mountBlob(repository: string, from: string, digest: string): Promise<number | undefined> {
    return Promise.resolve(transaction(this.db, () => {
      const source = this.#repoId(from);
      if (source === undefined) return undefined;
      const r = this.#s.linkedSizeById.get(source, digest) as Row | undefined;
      if (!r) return undefined;
      // A linked blob is never tombstoned: GC removes the links before it tombstones.
      this.#s.link.run(this.#ensureRepo(repository), digest, Date.now());
      return Number(r.size);
    }));
  }

  pinBlob(digest: string): Promise<string | undefined> {
    return Promise.resolve(transaction(this.db, () => {
      const t = this.#s.tombstone.get(digest) as Row | undefined;
      if (t) {
        if (Number(t.created) > Date.now() - STALE_TOMBSTONE_MS) return undefined;
        this.#s.tombstoneDelete.run(digest);
      }
      const id = crypto.randomUUID();
      this.#s.pinInsert.run(id, digest, Date.now());
      return id;
    }));
  }

  commitBlob(pin: string, repository: string, digest: string, size: number): Promise<void> {
    transaction(this.db, () => {
      const now = Date.now();
      this.#s.blobInsert.run(digest, size, now);
      this.#s.link.run(this.#ensureRepo(repository), digest, now);
      this.#s.pinDelete.run(pin);
    });
    return Promise.resolve();
  }

  releasePin(pin: string): Promise<void> {
    transaction(this.db, () => this.#s.pinDelete.run(pin));
    return Promise.resolve();
  }

  getManifest(
    repository: string,
    reference: { tag?: string; digest?: string },
  ): Promise<ManifestRecord | undefined> {
    const r =
      (reference.digest !== undefined
        ? this.#s.manifestByDigest.get(repository, reference.digest)
        : this.#s.manifestByTag.get(repository, reference.tag!)) as Row | undefined;
    return Promise.resolve(r ? toManifest(r) : undefined);
  }

  putManifest(
    repository: string,
    manifest: ManifestRecord,
    references: ManifestReference[],
    options: { tag?: string; pin: string },
  ): Promise<MissingReference[]> {
    return Promise.resolve(transaction(this.db, () => {
      const repo = this.#repoId(repository);
      const missing: MissingReference[] = [];
      for (const ref of references) {
        const row = repo === undefined
          ? undefined
          : (ref.kind === "blob"
            ? this.#s.linkedSizeById.get(repo, ref.digest)
            : this.#s.manifestSizeById.get(repo, ref.digest)) as Row | undefined;
        if (!row) missing.push({ reference: ref, problem: "unknown" });
        else if (Number(row.size) !== ref.size) {
          missing.push({ reference: ref, problem: "size", actualSize: Number(row.size) });
        }
      }
      if (missing.length) return missing;
      const id = repo ?? this.#ensureRepo(repository);
      const now = Date.now();
      this.#s.blobInsert.run(manifest.digest, manifest.size, now);
      this.#s.manifestUpsert.run(
        id,
        manifest.digest,
        manifest.mediaType,
        manifest.size,
        manifest.subject ?? null,
        manifest.artifactType ?? null,
        manifest.annotations ? JSON.stringify(manifest.annotations) : null,
        now,
      );
      for (const ref of references) this.#s.refInsert.run(id, manifest.digest, ref.digest, ref.kind);
      if (options.tag !== undefined) this.#s.tagUpsert.run(id, options.tag, manifest.digest, now);
      this.#s.pinDelete.run(options.pin);
      return missing;
    }));
  }

  deleteManifest(repository: string, digest: string): Promise<boolean> {
    return Promise.resolve(transaction(this.db, () => {
      const repo = this.#repoId(repository);
      if (repo === undefined) return false;
      this.#s.tagsOfManifestDelete.run(repo, digest);
      return Number(this.#s.manifestDelete.run(repo, digest).changes) > 0;
    }));
  }

  deleteTag(repository: string, tag: string): Promise<boolean> {
    return Promise.resolve(
      transaction(this.db, () => Number(this.#s.tagDelete.run(repository, tag).changes) > 0),
    );
  }

  listTags(repository: string, page: PageQuery): Promise<string[] | undefined> {
    const repo = this.#repoId(repository);
    if (repo === undefined) return Promise.resolve(undefined);
    const rows = this.#s.tags.all(repo, page.last ?? "", limit(page.n)) as Row[];
    return Promise.resolve(rows.map((r) => r.name as string));
  }

  referrers(repository: string, digest: string, artifactType?: string): Promise<ManifestRecord[]> {
    const rows = (this.#s.referrers.all(repository, digest) as Row[]).map(toManifest);
    return Promise.resolve(
      artifactType === undefined ? rows : rows.filter((m) => m.artifactType === artifactType),
    );
  }

  createUpload(upload: UploadRecord): Promise<void> {
    this.#s.uploadInsert.run(upload.id, upload.repository, upload.started);
    return Promise.resolve();
  }

  getUpload(id: string): Promise<UploadRecord | undefined> {
    const r = this.#s.upload.get(id) as Row | undefined;
    return Promise.resolve(
      r ? { id: r.id as string, repository: r.repository as string, started: Number(r.started) } : undefined,
    );
  }

  deleteUpload(id: string): Promise<void> {
    this.#s.uploadDelete.run(id);
    return Promise.resolve();
  }

  uploadsStartedBefore(time: number): Promise<UploadRecord[]> {
    const rows = this.#s.uploadsBefore.all(time) as Row[];
    return Promise.resolve(
      rows.map((r) => ({
        id: r.id as string,
        repository: r.repository as string,
        started: Number(r.started),
      })),
    );
  }

  sweep(options: SweepOptions): Promise<SweepResult> {
    const db = this.db;
    const result: SweepResult = { manifests: [], links: [], blobs: [], bytes: 0 };
    const pinCutoff = Date.now() - STALE_PIN_MS;
    const run = () => {
      db.exec(
        `CREATE TEMP TABLE IF NOT EXISTS gc_kept (repository INTEGER, digest TEXT,
           PRIMARY KEY (repository, digest)) WITHOUT ROWID;
         DELETE FROM gc_kept;`,
      );
      // Mark: tagged manifests, manifests younger than the grace period (or all of them),
      // then everything those reach — index children and referrers (manifests whose
      // subject is kept) — to a fixed point.
      db.prepare(
        `INSERT INTO gc_kept
         WITH RECURSIVE kept (repository, digest) AS (
           SELECT repository, digest FROM tags
           UNION SELECT repository, digest FROM manifests WHERE created >= ? OR ?
           UNION SELECT r.repository, r.child FROM manifest_refs r
             JOIN kept k ON r.repository = k.repository AND r.manifest = k.digest WHERE r.kind = 'manifest'
           UNION SELECT m.repository, m.digest FROM manifests m
             JOIN kept k ON m.repository = k.repository AND m.subject = k.digest
         ) SELECT repository, digest FROM kept`,
      ).run(options.cutoff, options.keepUntagged ? 1 : 0);
      const gone = db.prepare(
        `SELECT r.name, m.digest, m.repository FROM manifests m JOIN repositories r ON r.id = m.repository
         WHERE NOT EXISTS (SELECT 1 FROM gc_kept k WHERE k.repository = m.repository AND k.digest = m.digest)
         ORDER BY r.name, m.digest`,
      ).all() as Row[];
      const delManifest = db.prepare("DELETE FROM manifests WHERE repository = ? AND digest = ?");
      for (const r of gone) {
        result.manifests.push(`${r.name}@${r.digest}`);
        delManifest.run(r.repository as number, r.digest as string);
      }
      // Links no kept manifest uses, older than the grace period.
      const links = db.prepare(
        `SELECT r.name, l.digest, l.repository FROM blob_links l JOIN repositories r ON r.id = l.repository
         WHERE l.touched < ? AND NOT EXISTS (SELECT 1 FROM manifest_refs m
           WHERE m.repository = l.repository AND m.child = l.digest AND m.kind = 'blob')
         ORDER BY r.name, l.digest`,
      ).all(options.cutoff) as Row[];
      const delLink = db.prepare("DELETE FROM blob_links WHERE repository = ? AND digest = ?");
      for (const r of links) {
        result.links.push(`${r.name}@${r.digest}`);
        delLink.run(r.repository as number, r.digest as string);
      }
      // Sweep: blobs nothing links, no manifest is, and no live writer pins.
      const blobs = db.prepare(
        `SELECT b.digest, b.size FROM blobs b WHERE b.created < ?
           AND NOT EXISTS (SELECT 1 FROM blob_links l WHERE l.digest = b.digest)
           AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)
           AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.digest = b.digest AND p.created >= ?)
         ORDER BY b.digest`,
      ).all(options.cutoff, pinCutoff) as Row[];
      const delBlob = db.prepare("DELETE FROM blobs WHERE digest = ?");
      const now = Date.now();
      for (const r of blobs) {
        result.blobs.push(r.digest as string);
        result.bytes += Number(r.size);
        delBlob.run(r.digest as string);
        this.#s.tombstoneInsert.run(r.digest as string, now);
      }
      // Files without a row (a writer died between its move and its commit).
      const known = db.prepare("SELECT 1 FROM blobs WHERE digest = ?");
      const pinned = db.prepare("SELECT 1 FROM blob_pins WHERE digest = ? AND created >= ?");
      for (const digest of options.filesOnDisk ?? []) {
        if (known.get(digest) || pinned.get(digest, pinCutoff) || this.#s.tombstone.get(digest)) continue;
        result.blobs.push(digest);
        this.#s.tombstoneInsert.run(digest, now);
      }
      db.prepare("DELETE FROM blob_pins WHERE created < ?").run(pinCutoff);
      db.exec("DELETE FROM gc_kept");
    };
    if (!options.dryRun) {
      transaction(db, run);
      return Promise.resolve(result);
    }
    const rollback = new Error("dry run");
    try {
      transaction(db, () => {
        run();
        throw rollback;
      });
    } catch (e) {
      if (e !== rollback) throw e;
    }
    return Promise.resolve(result);
  }

  tombstones(): Promise<string[]> {
    return Promise.resolve((this.#s.tombstones.all() as Row[]).map((r) => r.digest as string));
  }

  claimTombstone(digest: string): Promise<boolean> {
    return Promise.resolve(transaction(this.db, () => {
      if (!this.#s.tombstone.get(digest)) return false;
      this.#s.tombstoneRefresh.run(Date.now(), digest);
      return true;
    }));
  }

  clearTombstone(digest: string): Promise<void> {
    transaction(this.db, () => this.#s.tombstoneDelete.run(digest));
    return Promise.resolve();
  }

  storageStats(): Promise<{ blobs: number; bytes: number; repositories: number; uploads: number }> {
    const r = this.#s.stats.get() as Row;
    return Promise.resolve({
      blobs: Number(r.blobs),
      bytes: Number(r.bytes),
      repositories: Number(r.repositories),
      uploads: Number(r.uploads),
    });
  }

  close(): void {
    this.db.close();
  }
}
