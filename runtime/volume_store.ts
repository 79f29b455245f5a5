/**
 * Local volumes: a directory `<root>/volumes/<name>/_data` plus a row in the `volumes` table
 * (see `container_store.ts` for the schema). Named volumes are made by `ctr volume create` or
 * on first use by `-v NAME:/path`; anonymous ones (an image's `VOLUME`, `-v /path`) get a
 * random 64-hex name and go away with `rm -v` or `volume prune`.
 *
 * @module
 */
import { ConflictError, NotFoundError } from "../errors.ts";
import { type Database, transaction } from "../image/db.ts";

/** One volume, shaped as `docker volume inspect` prints it. */
export interface VolumeInfo {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string>;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string>;
  Scope: "local";
  /** Internal: made for a single container. */
  Anonymous: boolean;
}

interface Row {
  name: string;
  created: number;
  driver: string;
  labels: string;
  options: string;
  anonymous: number;
}

/**
 * The volumes of a state root.
 *
 * @example
 * ```ts
 * const volumes = new VolumeStore(root, db);
 * const v = volumes.create("data");
 * ```
 */
export class VolumeStore {
  #root: string;
  #db: Database;
  constructor(root: string, db: Database) {
    this.#root = root;
    this.#db = db;
  }

  /** Host directory holding a volume's data. */
  dataPath(name: string): string {
    return `${this.#root}/volumes/${name}/_data`;
  }

  #info(row: Row): VolumeInfo {
    return {
      CreatedAt: new Date(Number(row.created)).toISOString().replace(/\.\d+Z$/, "Z"),
      Driver: row.driver,
      Labels: JSON.parse(row.labels),
      Mountpoint: this.dataPath(row.name),
      Name: row.name,
      Options: JSON.parse(row.options),
      Scope: "local",
      Anonymous: row.anonymous === 1,
    };
  }

  /** Creates a volume (idempotent for an existing name, as Docker). A missing name makes an anonymous volume. */
  create(
    name = "",
    options: {
      labels?: Record<string, string>;
      driver?: string;
      opts?: Record<string, string>;
      anonymous?: boolean;
    } = {},
  ): VolumeInfo {
    const driver = options.driver ?? "local";
    if (driver !== "local") throw new TypeError(`Volume driver not supported: ${driver}`);
    const anonymous = options.anonymous ?? name === "";
    if (!name) name = randomHex(32);
    const existing = this.get(name);
    if (existing) return existing;
    Deno.mkdirSync(this.dataPath(name), { recursive: true, mode: 0o755 });
    transaction(this.#db, () => {
      this.#db.prepare(
        "INSERT INTO volumes (name, created, driver, labels, options, anonymous) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
      ).run(
        name,
        Date.now(),
        driver,
        JSON.stringify(options.labels ?? {}),
        JSON.stringify(options.opts ?? {}),
        anonymous ? 1 : 0,
      );
    });
    return this.get(name)!;
  }

  /** A volume, or undefined. */
  get(name: string): VolumeInfo | undefined {
    const row = this.#db.prepare("SELECT * FROM volumes WHERE name = ?").get(name) as Row | undefined;
    return row ? this.#info(row) : undefined;
  }

  /** A volume, or {@linkcode NotFoundError}. */
  find(name: string): VolumeInfo {
    const v = this.get(name);
    if (!v) throw new NotFoundError(`get ${name}: no such volume`);
    return v;
  }

  /** All volumes, by name. */
  list(): VolumeInfo[] {
    return (this.#db.prepare("SELECT * FROM volumes ORDER BY name").all() as unknown as Row[]).map((r) =>
      this.#info(r)
    );
  }

  /** Removes a volume and its data; `inUseBy` names a container using it (→ conflict). */
  remove(name: string, inUseBy?: string[]): void {
    this.find(name);
    if (inUseBy?.length) {
      throw new ConflictError(`remove ${name}: volume is in use - [${inUseBy.join(", ")}]`);
    }
    transaction(this.#db, () => {
      this.#db.prepare("DELETE FROM volumes WHERE name = ?").run(name);
    });
    Deno.removeSync(`${this.#root}/volumes/${name}`, { recursive: true });
  }
}

/** `n` random bytes as hex. */
export function randomHex(n: number): string {
  const b = crypto.getRandomValues(new Uint8Array(n));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}
