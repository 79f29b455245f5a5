/**
 * Local images: which manifests are images, and which names point at them. The bytes
 * (manifests, configs, layers) live in the {@linkcode ContentStore}; this keeps the index in
 * the metadata database:
 *
 * ```text
 * images       digest (manifest) → config digest, media type, size, index it came from
 * image_names  full reference (docker.io/library/busybox:latest) → manifest digest
 * ```
 *
 * An image is identified by its manifest digest; its ID (what `ctr images` shows) is the
 * config digest, as in Docker. Names are stored fully normalised with a tag or a digest.
 *
 * @module
 */
import { ConflictError, NotFoundError } from "../errors.ts";
import { ContentStore } from "./content_store.ts";
import { type Database, openDatabase, type Schema, transaction } from "./db.ts";
import { type ImageConfig, type Manifest, parseImageConfig, parseManifestDocument } from "./oci.ts";
import { formatReference, parseReference, withDefaultTag } from "./reference.ts";

/** Tables of this module. */
export const imageSchema: Schema = {
  component: "images",
  migrations: [
    `CREATE TABLE images (
       digest TEXT PRIMARY KEY,
       config_digest TEXT NOT NULL,
       media_type TEXT NOT NULL,
       size INTEGER NOT NULL,
       index_digest TEXT,
       created INTEGER NOT NULL
     );
     CREATE INDEX images_config ON images (config_digest);
     CREATE TABLE image_names (
       name TEXT PRIMARY KEY,
       digest TEXT NOT NULL REFERENCES images (digest),
       created INTEGER NOT NULL
     );
     CREATE INDEX image_names_digest ON image_names (digest);`,
  ],
};

/** One local image. */
export interface ImageRecord {
  /** Manifest digest. */
  digest: string;
  /** Config digest: the image ID. */
  configDigest: string;
  mediaType: string;
  /** Manifest size in bytes. */
  size: number;
  /** Index the manifest was selected from, if any. */
  indexDigest?: string;
  /** When the image was first recorded (ms since epoch). */
  created: number;
  /** Full names pointing at it, sorted. */
  names: string[];
}

/** An image with its parsed manifest and config. */
export interface LoadedImage extends ImageRecord {
  manifest: Manifest;
  config: ImageConfig;
}

interface ImageRow {
  digest: string;
  config_digest: string;
  media_type: string;
  size: number;
  index_digest: string | null;
  created: number;
}

/**
 * The image index of one state root.
 *
 * @example
 * ```ts
 * const images = ImageStore.open("/var/lib/ctr");
 * const img = await images.resolve("busybox");
 * ```
 */
export class ImageStore {
  readonly content: ContentStore;
  readonly db: Database;

  constructor(content: ContentStore, db: Database) {
    this.content = content;
    this.db = db;
  }

  /** Opens the store of a state root (database at `<root>/ctr.db`). */
  static open(root: string, extraSchemas: Schema[] = []): ImageStore {
    return new ImageStore(
      new ContentStore(root),
      openDatabase(`${root}/ctr.db`, [imageSchema, ...extraSchemas]),
    );
  }

  /**
   * Records a manifest already in the content store as an image (idempotent). Its config
   * must be in the content store too.
   */
  async addImage(digest: string, options: { indexDigest?: string } = {}): Promise<ImageRecord> {
    const bytes = await this.content.readBytes(digest);
    const doc = parseManifestDocument(bytes);
    if (doc.kind !== "manifest") throw new TypeError(`Not an image manifest: ${digest}`);
    const configDigest = doc.manifest.config.digest;
    if (!(await this.content.has(configDigest))) {
      throw new NotFoundError(`Config blob not found: ${configDigest}`);
    }
    transaction(this.db, () => {
      this.db.prepare(
        `INSERT INTO images (digest, config_digest, media_type, size, index_digest, created)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(digest) DO UPDATE SET
         index_digest = COALESCE(excluded.index_digest, images.index_digest)`,
      ).run(digest, configDigest, doc.mediaType, bytes.length, options.indexDigest ?? null, Date.now());
    });
    return this.get(digest)!;
  }

  /** Points `name` (normalised; `latest` added when untagged) at an image. Returns the full name. */
  tag(name: string, digest: string): string {
    const full = formatReference(withDefaultTag(parseReference(name)));
    transaction(this.db, () => {
      if (!this.db.prepare("SELECT 1 FROM images WHERE digest = ?").get(digest)) {
        throw new NotFoundError(`No such image: ${digest}`);
      }
      this.db.prepare(
        "INSERT INTO image_names (name, digest, created) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET digest = excluded.digest, created = excluded.created",
      ).run(full, digest, Date.now());
    });
    return full;
  }

  /** Removes a name. Returns the digest it pointed at, or undefined if it did not exist. */
  untag(name: string): string | undefined {
    const full = formatReference(withDefaultTag(parseReference(name)));
    return transaction(this.db, () => {
      const row = this.db.prepare("SELECT digest FROM image_names WHERE name = ?").get(full) as
        | { digest: string }
        | undefined;
      if (row) this.db.prepare("DELETE FROM image_names WHERE name = ?").run(full);
      return row?.digest;
    });
  }

  /** The record of a manifest digest, or undefined. */
  get(digest: string): ImageRecord | undefined {
    const row = this.db.prepare("SELECT * FROM images WHERE digest = ?").get(digest) as ImageRow | undefined;
    return row ? this.#record(row) : undefined;
  }

  #record(row: ImageRow): ImageRecord {
    const names =
      (this.db.prepare("SELECT name FROM image_names WHERE digest = ? ORDER BY name").all(row.digest) as {
        name: string;
      }[]).map((r) => r.name);
    const rec: ImageRecord = {
      digest: row.digest,
      configDigest: row.config_digest,
      mediaType: row.media_type,
      size: Number(row.size),
      created: Number(row.created),
      names,
    };
    if (row.index_digest) rec.indexDigest = row.index_digest;
    return rec;
  }

  /** All images, newest first. */
  list(): ImageRecord[] {
    const rows = this.db.prepare("SELECT * FROM images ORDER BY created DESC, digest")
      .all() as unknown as ImageRow[];
    return rows.map((r) => this.#record(r));
  }

  /**
   * Finds an image by name (`busybox`, `busybox:1`, `host/x@sha256:…`), by manifest digest,
   * or by image ID / unique ID prefix (`sha256:3f57…`, `3f57d9401f8d`). Throws
   * {@linkcode NotFoundError} with Docker's wording when there is none.
   */
  find(nameOrId: string): ImageRecord {
    const byDigest = (d: string) => this.get(d);
    if (/^sha256:[a-f0-9]{64}$/.test(nameOrId)) {
      const rec = byDigest(nameOrId) ?? this.#byConfig(nameOrId);
      if (rec) return rec;
    }
    const idPrefix = nameOrId.replace(/^sha256:/, "");
    if (/^[a-f0-9]{4,64}$/.test(idPrefix)) {
      const rows = this.db.prepare(
        "SELECT * FROM images WHERE substr(config_digest, 8, ?) = ? OR substr(digest, 8, ?) = ?",
      ).all(idPrefix.length, idPrefix, idPrefix.length, idPrefix) as unknown as ImageRow[];
      const ids = new Set(rows.map((r) => r.config_digest));
      if (ids.size > 1) throw new ConflictError(`Ambiguous image ID prefix: ${nameOrId}`);
      if (rows.length) return this.#record(rows[0]);
    }
    let ref;
    try {
      ref = withDefaultTag(parseReference(nameOrId));
    } catch (e) {
      if (/^[a-f0-9]{4,64}$/.test(idPrefix)) throw new NotFoundError(`No such image: ${nameOrId}`);
      throw e;
    }
    if (ref.digest) {
      const rec = byDigest(ref.digest);
      if (rec) return rec;
      // name@digest where the digest is the index the image came from
      const row = this.db.prepare("SELECT * FROM images WHERE index_digest = ?").get(ref.digest) as
        | ImageRow
        | undefined;
      if (row) return this.#record(row);
      throw new NotFoundError(`No such image: ${nameOrId}`);
    }
    const row = this.db.prepare(
      "SELECT images.* FROM image_names JOIN images ON images.digest = image_names.digest WHERE image_names.name = ?",
    ).get(formatReference(ref)) as ImageRow | undefined;
    if (!row) throw new NotFoundError(`No such image: ${nameOrId}`);
    return this.#record(row);
  }

  #byConfig(configDigest: string): ImageRecord | undefined {
    const row = this.db.prepare("SELECT * FROM images WHERE config_digest = ? ORDER BY created DESC").get(
      configDigest,
    ) as ImageRow | undefined;
    return row ? this.#record(row) : undefined;
  }

  /** {@linkcode find} plus the parsed manifest and config. */
  async load(nameOrId: string): Promise<LoadedImage> {
    const rec = this.find(nameOrId);
    const doc = parseManifestDocument(await this.content.readBytes(rec.digest));
    if (doc.kind !== "manifest") throw new TypeError(`Not an image manifest: ${rec.digest}`);
    const config = parseImageConfig(await this.content.readBytes(rec.configDigest));
    return { ...rec, manifest: doc.manifest, config };
  }

  /** Forgets an image record and all its names (blobs stay until garbage collection). */
  remove(digest: string): void {
    transaction(this.db, () => {
      this.db.prepare("DELETE FROM image_names WHERE digest = ?").run(digest);
      this.db.prepare("DELETE FROM images WHERE digest = ?").run(digest);
    });
  }

  /** Closes the database. */
  close(): void {
    this.db.close();
  }
}
