/**
 * Containers and volumes in the metadata database (component `containers`), and where each
 * container keeps its files. The supervisor is the only writer of container state; other
 * parts of ctr may read (e.g. `image rm` asks which images containers use: `image_id`).
 *
 * ```text
 * <root>/
 * ├── containers/<id>/
 * │   ├── upper/  work/        overlay upper and work dirs (the container's own writes)
 * │   ├── rootfs/              overlay mount point (mounted only inside the container's mount namespace)
 * │   ├── hostname  hosts  resolv.conf     bind-mounted onto /etc/…
 * │   └── <id>-json.log        stdout/stderr, one JSON object per line (Docker's json-file)
 * └── volumes/<name>/_data     named and anonymous volumes
 * ```
 *
 * @module
 */
import { ConflictError, NotFoundError } from "../errors.ts";
import { type Database, type Schema, transaction } from "../image/db.ts";
import type { ContainerConfig, HostConfig } from "./container_config.ts";

/** Tables of the `containers` component. */
export const containerSchema: Schema = {
  component: "containers",
  migrations: [
    `CREATE TABLE containers (
       id TEXT PRIMARY KEY,
       name TEXT NOT NULL UNIQUE,
       created INTEGER NOT NULL,
       image_id TEXT NOT NULL,
       record TEXT NOT NULL,
       state TEXT NOT NULL
     );
     CREATE INDEX containers_image ON containers (image_id);
     CREATE TABLE volumes (
       name TEXT PRIMARY KEY,
       created INTEGER NOT NULL,
       driver TEXT NOT NULL,
       labels TEXT NOT NULL,
       options TEXT NOT NULL,
       anonymous INTEGER NOT NULL
     );`,
  ],
};

/** Docker's container states. */
export type ContainerStatus =
  | "created"
  | "running"
  | "paused"
  | "restarting"
  | "removing"
  | "exited"
  | "dead";

/** The changing part of a container. */
export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  /** `/proc/<pid>/stat` start time, telling a live container from a reused pid. */
  PidStartTime: number;
  ExitCode: number;
  OOMKilled: boolean;
  Error: string;
  /** ms since epoch; 0 = never. */
  StartedAt: number;
  FinishedAt: number;
  RestartCount: number;
  /** Stopped or killed by a user: restart policies (except after a restart) leave it alone. */
  StoppedByUser: boolean;
}

/** The fixed part of a container. */
export interface ContainerRecord {
  Id: string;
  Name: string;
  /** ms since epoch. */
  Created: number;
  /** Image ID (config digest). */
  ImageId: string;
  /** Manifest digest of the image. */
  ImageDigest: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  /** Host paths of the image's snapshots, topmost first. */
  LowerDirs: string[];
  /** Names of the anonymous volumes made for this container (removed by `rm -v`). */
  AnonymousVolumes: string[];
  /** Volume name of every volume mount (explicit or from the image's VOLUME), by container path. */
  VolumeMap: Record<string, string>;
}

/** A container with its state. */
export interface Container extends ContainerRecord {
  State: ContainerState;
}

/** A fresh state. */
export function initialState(): ContainerState {
  return {
    Status: "created",
    Pid: 0,
    PidStartTime: 0,
    ExitCode: 0,
    OOMKilled: false,
    Error: "",
    StartedAt: 0,
    FinishedAt: 0,
    RestartCount: 0,
    StoppedByUser: false,
  };
}

interface Row {
  id: string;
  name: string;
  record: string;
  state: string;
}

function fromRow(row: Row): Container {
  return { ...JSON.parse(row.record), State: JSON.parse(row.state) };
}

/** Host paths of one container's files. */
export interface ContainerPaths {
  dir: string;
  upper: string;
  work: string;
  rootfs: string;
  hostname: string;
  hosts: string;
  resolvConf: string;
  log: string;
}

/**
 * Paths of container `id` under `root`.
 *
 * @example
 * ```ts
 * containerPaths("/var/lib/ctr", id).upper; // "/var/lib/ctr/containers/<id>/upper"
 * ```
 */
export function containerPaths(root: string, id: string): ContainerPaths {
  const dir = `${root}/containers/${id}`;
  return {
    dir,
    upper: `${dir}/upper`,
    work: `${dir}/work`,
    rootfs: `${dir}/rootfs`,
    hostname: `${dir}/hostname`,
    hosts: `${dir}/hosts`,
    resolvConf: `${dir}/resolv.conf`,
    log: `${dir}/${id}-json.log`,
  };
}

/**
 * The containers table.
 *
 * @example
 * ```ts
 * const store = new ContainerStore(db);
 * const c = store.find("web"); // by name, full ID or unique ID prefix
 * ```
 */
export class ContainerStore {
  #db: Database;
  constructor(db: Database) {
    this.#db = db;
  }

  /** Inserts a new container; a taken name is a {@linkcode ConflictError} in Docker's words. */
  insert(c: Container): void {
    transaction(this.#db, () => {
      const other = this.#db.prepare("SELECT id FROM containers WHERE name = ?").get(c.Name) as
        | { id: string }
        | undefined;
      if (other) {
        throw new ConflictError(
          `Conflict. The container name "/${c.Name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      const { State, ...record } = c;
      this.#db.prepare(
        "INSERT INTO containers (id, name, created, image_id, record, state) VALUES (?, ?, ?, ?, ?, ?)",
      ).run(c.Id, c.Name, c.Created, c.ImageId, JSON.stringify(record), JSON.stringify(State));
    });
  }

  /** Saves a container's state. */
  saveState(id: string, state: ContainerState): void {
    transaction(this.#db, () => {
      this.#db.prepare("UPDATE containers SET state = ? WHERE id = ?").run(JSON.stringify(state), id);
    });
  }

  /** Renames; a taken name is a {@linkcode ConflictError}. */
  rename(id: string, name: string): void {
    transaction(this.#db, () => {
      const other = this.#db.prepare("SELECT id FROM containers WHERE name = ?").get(name) as
        | { id: string }
        | undefined;
      if (other && other.id !== id) {
        throw new ConflictError(
          `Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      const row = this.#db.prepare("SELECT record FROM containers WHERE id = ?").get(id) as
        | { record: string }
        | undefined;
      if (!row) throw new NotFoundError(`No such container: ${id}`);
      const record = JSON.parse(row.record);
      record.Name = name;
      this.#db.prepare("UPDATE containers SET name = ?, record = ? WHERE id = ?").run(
        name,
        JSON.stringify(record),
        id,
      );
    });
  }

  /** Deletes a container's row. */
  delete(id: string): void {
    transaction(this.#db, () => {
      this.#db.prepare("DELETE FROM containers WHERE id = ?").run(id);
    });
  }

  /** A container by exact ID. */
  get(id: string): Container | undefined {
    const row = this.#db.prepare("SELECT * FROM containers WHERE id = ?").get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /**
   * A container by full ID, name (with or without `/`) or unique ID prefix. Throws
   * {@linkcode NotFoundError} (`No such container: x`).
   */
  find(ref: string): Container {
    const c = this.tryFind(ref);
    if (!c) throw new NotFoundError(`No such container: ${ref}`);
    return c;
  }

  /** Like {@linkcode find}, but undefined when there is none. */
  tryFind(ref: string): Container | undefined {
    if (!ref) return undefined;
    const name = ref.replace(/^\//, "");
    const exact = (this.#db.prepare("SELECT * FROM containers WHERE id = ? OR name = ?").get(ref, name)) as
      | Row
      | undefined;
    if (exact) return fromRow(exact);
    if (!/^[a-f0-9]{1,63}$/.test(ref)) return undefined;
    const rows = this.#db.prepare("SELECT * FROM containers WHERE substr(id, 1, ?) = ?").all(
      ref.length,
      ref,
    ) as unknown as Row[];
    if (rows.length > 1) throw new ConflictError(`Multiple IDs found with provided prefix: ${ref}`);
    return rows.length ? fromRow(rows[0]) : undefined;
  }

  /** Every container, newest first. */
  list(): Container[] {
    return (this.#db.prepare("SELECT * FROM containers ORDER BY created DESC").all() as unknown as Row[]).map(
      fromRow,
    );
  }
}
