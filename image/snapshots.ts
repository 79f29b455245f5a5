/**
 * Snapshots: every layer unpacked once, keyed by its chain ID, shared read-only by every
 * image and container above it (DESIGN.md §6).
 *
 * ```text
 * <root>/snapshots/
 * ├── <id>/                   one layer in overlayfs lower-dir form; never written once here
 * ├── empty/                  the lower dir of an image without layers
 * ├── tmp/<chain-hex>.<rnd>/  unpacks in flight; renamed to <id>/ when complete
 * ├── tmp/trash.<rnd>/        snapshots being deleted
 * └── locks/<chain-hex>       flock: one process unpacks a chain ID at a time
 * ```
 *
 * `<id>` is 16 random base32 characters, so an overlay `lowerdir` of 128 layers given
 * relative to `<root>/snapshots` is 128 × 17 bytes — far under the 4 KiB page that limits
 * mount data (Docker's `l/<26 chars>` links solve the same problem).
 *
 * A snapshot is unpacked into `tmp/`, then renamed into place and recorded in one database
 * transaction: a killed unpack leaves only a stray `tmp/` entry (swept by garbage
 * collection), never a half snapshot under a chain ID. Processes unpacking the same layer
 * serialise on `locks/<chain-hex>`; the second one finds the first one's snapshot.
 *
 * In use: the runtime registers what a container holds with {@linkcode SnapshotStore.addRef}
 * (`holder` like `container:<id>`), garbage collection keeps those snapshots and their
 * ancestors, and `rmi` refuses (without `-f`) to remove an image a holder names.
 *
 * @example Mounting an image's root filesystem (runtime side)
 * ```ts
 * const images = ImageStore.open(root);
 * const snapshots = SnapshotStore.open(root, images);
 * const image = await images.load("busybox");
 * const rootfs = await snapshots.prepare(image, { holder: `container:${id}` });
 * const { data, cwd } = overlayMountData(rootfs, upperDir, workDir);
 * // absolute lower dirs when they fit in a page; else relative ones: chdir(cwd) first on
 * // the mounting thread (the kernel resolves them against the caller's working directory).
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { NotFoundError } from "../errors.ts";
import { type Database, migrate, type Schema, transaction } from "./db.ts";
import type { ImageStore, LoadedImage } from "./image_store.ts";
import { parseDigest } from "./digest.ts";
import { unpackLayer, type UnpackOptions } from "./unpack.ts";
import type { Compression } from "./compression.ts";

/** Tables of the snapshot store. */
export const snapshotSchema: Schema = {
  component: "snapshots",
  migrations: [
    `CREATE TABLE snapshots (
       chain_id TEXT PRIMARY KEY,
       id TEXT NOT NULL UNIQUE,
       parent TEXT,
       diff_id TEXT NOT NULL,
       size INTEGER NOT NULL,
       created INTEGER NOT NULL
     );
     CREATE INDEX snapshots_parent ON snapshots (parent);
     CREATE TABLE snapshot_refs (
       holder TEXT NOT NULL,
       chain_id TEXT NOT NULL,
       image TEXT,
       created INTEGER NOT NULL,
       PRIMARY KEY (holder, chain_id)
     );
     CREATE INDEX snapshot_refs_image ON snapshot_refs (image);`,
  ],
};

/** One unpacked layer. */
export interface SnapshotRecord {
  chainId: string;
  /** Directory name under `<root>/snapshots`. */
  id: string;
  /** Chain ID of the layer below, if any. */
  parent?: string;
  diffId: string;
  /** Bytes of regular files in this layer. */
  size: number;
  /** ms since the epoch. */
  created: number;
}

/** A registered use of a snapshot chain (see {@linkcode SnapshotStore.addRef}). */
export interface SnapshotRef {
  holder: string;
  chainId: string;
  /** Manifest digest of the image the holder was created from. */
  image?: string;
  created: number;
}

/** What {@linkcode SnapshotStore.prepare} returns: the lower dirs of an image's rootfs. */
export interface PreparedRootfs {
  /** Absolute snapshot directories, topmost layer first (overlay `lowerdir` order). */
  lowerDirs: string[];
  /** The same, relative to {@linkcode PreparedRootfs.snapshotsDir} (short; for mount data). */
  relativeLowerDirs: string[];
  /** `<root>/snapshots`. */
  snapshotsDir: string;
  /** Chain IDs, bottom layer first. Empty for an image without layers. */
  chainIds: string[];
  /** Chain ID of the top layer ("" for an image without layers): what to pass to addRef. */
  topChainId: string;
  /** Sum of the layers' content sizes. */
  size: number;
}

/** Options for {@linkcode SnapshotStore.prepare}. */
export interface PrepareOptions {
  /** Register this holder on the image's top snapshot in the same step (see addRef). */
  holder?: string;
  /** Device-node policy and warnings for unpacking (see `unpack.ts`). */
  devices?: UnpackOptions["devices"];
  onWarning?: UnpackOptions["onWarning"];
  /** Called when a layer is being unpacked (not when it already was). */
  onLayer?: (event: { index: number; total: number; chainId: string; diffId: string }) => void;
}

interface Row {
  chain_id: string;
  id: string;
  parent: string | null;
  diff_id: string;
  size: number;
  created: number;
}

/**
 * Chain IDs of a list of diff IDs (bottom first), as the OCI image spec defines them:
 * `ChainID(L0) = DiffID(L0)`, `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
 *
 * @example
 * ```ts
 * chainIds([a, b]); // [a, "sha256:" + sha256(`${a} ${b}`)]
 * ```
 */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    parseDigest(d);
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash("sha256").update(`${prev} ${d}`).digest("hex")}`);
  }
  return out;
}

/** Mount data longer than this does not fit the kernel's one page (minus a margin). */
const MOUNT_DATA_MAX = 4000;

/**
 * The overlayfs mount data for a prepared rootfs with a container's upper and work dirs:
 * absolute lower dirs when they fit in one page, else relative ones with `cwd` — the
 * directory the mounting thread must `chdir` into first (and back afterwards).
 *
 * @example
 * ```ts
 * const { data, cwd } = overlayMountData(rootfs, `${c}/upper`, `${c}/work`);
 * if (cwd) libc.chdir(cwd);
 * libc.mount("overlay", `${c}/rootfs`, "overlay", 0, data);
 * ```
 */
export function overlayMountData(
  rootfs: PreparedRootfs,
  upperDir?: string,
  workDir?: string,
  extra = "",
): { data: string; cwd?: string } {
  const tail = `${upperDir ? `,upperdir=${upperDir},workdir=${workDir}` : ""}${extra ? `,${extra}` : ""}`;
  const absolute = `lowerdir=${rootfs.lowerDirs.join(":")}${tail}`;
  if (absolute.length <= MOUNT_DATA_MAX) return { data: absolute };
  const relative = `lowerdir=${rootfs.relativeLowerDirs.join(":")}${tail}`;
  if (relative.length > MOUNT_DATA_MAX) {
    throw new RangeError(`Overlay mount data of ${relative.length} bytes does not fit in one page`);
  }
  return { data: relative, cwd: rootfs.snapshotsDir };
}

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

function randomId(length = 16): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let s = "";
  for (const b of bytes) s += BASE32[b & 31];
  return s;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * The snapshots of one state root.
 *
 * @example
 * ```ts
 * const snapshots = SnapshotStore.open("/var/lib/ctr", images);
 * const { lowerDirs } = await snapshots.prepare(await images.load("debian"));
 * ```
 */
export class SnapshotStore {
  /** `<root>/snapshots`. */
  readonly dir: string;
  readonly images: ImageStore;
  readonly db: Database;

  constructor(root: string, images: ImageStore) {
    this.dir = `${root}/snapshots`;
    this.images = images;
    this.db = images.db;
    migrate(this.db, [snapshotSchema]);
  }

  /** Opens the snapshot store of a state root, sharing the image store's database. */
  static open(root: string, images: ImageStore): SnapshotStore {
    return new SnapshotStore(root, images);
  }

  /** Directory of a snapshot by its id. */
  path(id: string): string {
    return `${this.dir}/${id}`;
  }

  #record(row: Row): SnapshotRecord {
    const r: SnapshotRecord = {
      chainId: row.chain_id,
      id: row.id,
      diffId: row.diff_id,
      size: Number(row.size),
      created: Number(row.created),
    };
    if (row.parent) r.parent = row.parent;
    return r;
  }

  /** The snapshot of a chain ID, if unpacked. */
  get(chainId: string): SnapshotRecord | undefined {
    const row = this.db.prepare("SELECT * FROM snapshots WHERE chain_id = ?").get(chainId) as Row | undefined;
    return row ? this.#record(row) : undefined;
  }

  /** Every snapshot. */
  list(): SnapshotRecord[] {
    return (this.db.prepare("SELECT * FROM snapshots ORDER BY created").all() as unknown as Row[]).map((r) =>
      this.#record(r)
    );
  }

  /**
   * Makes sure every layer of `image` is unpacked (unpacking the missing ones, bottom up) and
   * returns its lower dirs. Safe to call from several processes at once.
   */
  async prepare(image: LoadedImage, options: PrepareOptions = {}): Promise<PreparedRootfs> {
    const diffIds = image.config.rootfs.diff_ids;
    const layers = image.manifest.layers;
    if (diffIds.length !== layers.length) {
      throw new TypeError(
        `Image ${image.digest} has ${layers.length} layers but its config lists ${diffIds.length} diff IDs`,
      );
    }
    const chains = chainIds(diffIds);
    const records: SnapshotRecord[] = [];
    for (let i = 0; i < chains.length; i++) {
      records.push(
        await this.#ensure(chains[i], i ? chains[i - 1] : undefined, diffIds[i], layers[i].digest, records, {
          ...options,
          index: i,
          total: chains.length,
        }),
      );
    }
    let relative = records.map((r) => r.id).reverse();
    if (!relative.length) {
      await Deno.mkdir(`${this.dir}/empty`, { recursive: true, mode: 0o755 });
      relative = ["empty"];
    }
    const top = chains[chains.length - 1] ?? "";
    if (options.holder) this.addRef(options.holder, top, image.digest);
    return {
      lowerDirs: relative.map((id) => this.path(id)),
      relativeLowerDirs: relative,
      snapshotsDir: this.dir,
      chainIds: chains,
      topChainId: top,
      size: records.reduce((n, r) => n + r.size, 0),
    };
  }

  async #ensure(
    chainId: string,
    parent: string | undefined,
    diffId: string,
    blobDigest: string,
    below: SnapshotRecord[],
    options: PrepareOptions & { index: number; total: number },
  ): Promise<SnapshotRecord> {
    const ready = async () => {
      const rec = this.get(chainId);
      if (rec && await exists(this.path(rec.id))) return rec;
      if (rec) {
        // The directory vanished (deleted by hand): forget the record and unpack again.
        transaction(this.db, () => this.db.prepare("DELETE FROM snapshots WHERE chain_id = ?").run(chainId));
      }
      return undefined;
    };
    const found = await ready();
    if (found) return found;

    const hex = parseDigest(chainId).hex;
    await Deno.mkdir(`${this.dir}/locks`, { recursive: true, mode: 0o700 });
    using lock = await Deno.open(`${this.dir}/locks/${hex}`, { write: true, create: true });
    await lock.lock(true);
    const raced = await ready();
    if (raced) return raced;
    options.onLayer?.({ index: options.index, total: options.total, chainId, diffId });
    const { tmp, size, done } = await this.#unpack(blobDigest, below, { ...options, expectedDiffId: diffId });
    try {
      return await this.#commit(tmp, { chainId, parent, diffId, size });
    } finally {
      done();
    }
  }

  /**
   * Unpacks a blob into a fresh `tmp/<name>/`, holding `locks/unpack.<name>` for as long as
   * the directory is in flight (the sweep removes only unlocked ones: their process died).
   */
  async #unpack(
    blobDigest: string,
    below: SnapshotRecord[],
    options: PrepareOptions & { expectedDiffId?: string },
  ): Promise<{ tmp: string; size: number; diffId: string; compression: Compression; done: () => void }> {
    const blob = this.images.content.path(blobDigest);
    if (!(await exists(blob))) {
      throw new NotFoundError(`Layer blob ${blobDigest} is missing from the content store`);
    }
    await Deno.mkdir(`${this.dir}/tmp`, { recursive: true, mode: 0o700 });
    await Deno.mkdir(`${this.dir}/locks`, { recursive: true, mode: 0o700 });
    const name = randomId(12);
    const lockPath = `${this.dir}/locks/unpack.${name}`;
    const lock = await Deno.open(lockPath, { write: true, create: true });
    await lock.lock(true);
    const done = () => {
      lock.close();
      try {
        Deno.removeSync(lockPath);
      } catch { /* gone */ }
    };
    const tmp = `${this.dir}/tmp/${name}`;
    try {
      await Deno.mkdir(tmp, { mode: 0o700 });
      const r = await unpackLayer(blob, tmp, {
        lowerDirs: below.map((r) => this.path(r.id)).reverse(),
        expectedDiffId: options.expectedDiffId,
        devices: options.devices,
        onWarning: options.onWarning,
      });
      return { tmp, size: r.contentSize, diffId: r.diffId, compression: r.compression, done };
    } catch (e) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      done();
      throw e;
    }
  }

  /**
   * Unpacks a layer blob whose diff ID is not known in advance (`ctr import`) on top of the
   * chain `parent` (or as a bottom layer), and records it. When another process recorded
   * the same chain meanwhile, its snapshot is used and this unpack discarded.
   */
  async unpackBlob(
    blobDigest: string,
    options: PrepareOptions & { parent?: string } = {},
  ): Promise<SnapshotRecord & { compression: Compression }> {
    const below: SnapshotRecord[] = [];
    for (let c = options.parent; c;) {
      const rec = this.get(c);
      if (!rec) throw new NotFoundError(`Snapshot ${c} does not exist`);
      below.unshift(rec);
      c = rec.parent;
    }
    const { tmp, size, diffId, compression, done } = await this.#unpack(blobDigest, below, options);
    try {
      return await this.#commitUnlessRecorded(tmp, { parent: options.parent, diffId, size, compression });
    } finally {
      done();
    }
  }

  /**
   * Records `dir` — a directory that already holds the layer `diffId` in lower-dir form,
   * such as a build step's overlay upper dir — as the snapshot of that layer on top of the
   * chain `parent`, by moving it into place: the layer blob just written from it is not
   * unpacked again. The caller vouches that `dir` holds what the blob holds (owners, modes,
   * mtimes, whiteouts as 0/0 devices, opaque xattrs; no other `*.overlay.*` xattrs), and
   * that its root directory has the metadata of the root below.
   *
   * `dir` must be on the store's filesystem: otherwise the move fails (EXDEV) and `dir` is
   * left untouched, so the caller can fall back to unpacking the blob. When the chain is
   * recorded already, `dir` is removed and the existing snapshot returned. Callers hold the
   * GC lease (`gc.ts`), as for any write that is recorded afterwards.
   *
   * @example
   * ```ts
   * const blob = await writeLayerBlob(images.content, upperDir, { sourceDateEpoch: 0 });
   * await snapshots.adopt(upperDir, { parent: topChainId, diffId: blob.diffId, size });
   * ```
   */
  async adopt(
    dir: string,
    layer: { parent?: string; diffId: string; size: number },
  ): Promise<SnapshotRecord> {
    parseDigest(layer.diffId);
    if (layer.parent) {
      const below = this.get(layer.parent);
      if (!below || !(await exists(this.path(below.id)))) {
        throw new NotFoundError(`Snapshot ${layer.parent} does not exist`);
      }
    }
    await Deno.mkdir(`${this.dir}/tmp`, { recursive: true, mode: 0o700 });
    const tmp = `${this.dir}/tmp/${randomId(12)}`;
    await Deno.rename(dir, tmp);
    const { compression: _, ...rec } = await this.#commitUnlessRecorded(tmp, {
      ...layer,
      compression: "none",
    });
    return rec;
  }

  async #commitUnlessRecorded(
    tmp: string,
    s: { parent?: string; diffId: string; size: number; compression: Compression },
  ): Promise<SnapshotRecord & { compression: Compression }> {
    const { parent, diffId, size, compression } = s;
    const chainId = parent ? chainIds([parent, diffId])[1] : diffId;
    const hex = parseDigest(chainId).hex;
    await Deno.mkdir(`${this.dir}/locks`, { recursive: true, mode: 0o700 });
    using lock = await Deno.open(`${this.dir}/locks/${hex}`, { write: true, create: true });
    await lock.lock(true);
    const existing = this.get(chainId);
    if (existing && await exists(this.path(existing.id))) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      return { ...existing, compression };
    }
    if (existing) {
      transaction(this.db, () => this.db.prepare("DELETE FROM snapshots WHERE chain_id = ?").run(chainId));
    }
    return { ...await this.#commit(tmp, { chainId, parent, diffId, size }), compression };
  }

  /** Renames an unpacked directory into place and records it, atomically as seen by readers. */
  async #commit(
    tmp: string,
    s: { chainId: string; parent?: string; diffId: string; size: number },
  ): Promise<SnapshotRecord> {
    for (let attempt = 0;; attempt++) {
      const id = randomId();
      try {
        return transaction(this.db, () => {
          Deno.renameSync(tmp, this.path(id));
          try {
            this.db.prepare(
              "INSERT INTO snapshots (chain_id, id, parent, diff_id, size, created) VALUES (?, ?, ?, ?, ?, ?)",
            ).run(s.chainId, id, s.parent ?? null, s.diffId, s.size, Date.now());
          } catch (e) {
            Deno.renameSync(this.path(id), tmp);
            throw e;
          }
          return this.get(s.chainId)!;
        });
      } catch (e) {
        // An id already taken (the rename fails on a non-empty directory): draw another.
        if (
          attempt < 5 &&
          (e instanceof Deno.errors.AlreadyExists || /ENOTEMPTY|not empty|UNIQUE/i.test(String(e)))
        ) {
          continue;
        }
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
        throw e;
      }
    }
  }

  /**
   * Records that `holder` (e.g. `container:<id>`) uses the snapshot chain ending at
   * `chainId` (and so all its ancestors); `image` is the manifest digest it came from.
   * Garbage collection keeps referenced chains; `rmi` refuses to remove a held image.
   */
  addRef(holder: string, chainId: string, image?: string): void {
    transaction(this.db, () => {
      this.db.prepare(
        `INSERT INTO snapshot_refs (holder, chain_id, image, created) VALUES (?, ?, ?, ?)
         ON CONFLICT(holder, chain_id) DO UPDATE SET image = excluded.image`,
      ).run(holder, chainId, image ?? null, Date.now());
    });
  }

  /** Drops every reference `holder` registered. */
  removeRef(holder: string): void {
    transaction(this.db, () => this.db.prepare("DELETE FROM snapshot_refs WHERE holder = ?").run(holder));
  }

  /** Registered references, optionally only those naming an image. */
  refs(image?: string): SnapshotRef[] {
    const rows =
      (image === undefined
        ? this.db.prepare("SELECT * FROM snapshot_refs ORDER BY holder").all()
        : this.db.prepare("SELECT * FROM snapshot_refs WHERE image = ? ORDER BY holder").all(image)) as {
          holder: string;
          chain_id: string;
          image: string | null;
          created: number;
        }[];
    return rows.map((r) => {
      const ref: SnapshotRef = { holder: r.holder, chainId: r.chain_id, created: Number(r.created) };
      if (r.image) ref.image = r.image;
      return ref;
    });
  }

  /** Chain IDs kept alive by references: each referenced chain and all its ancestors. */
  referencedChains(): Set<string> {
    const live = new Set<string>();
    const parentOf = this.db.prepare("SELECT parent FROM snapshots WHERE chain_id = ?");
    for (const ref of this.refs()) {
      let c: string | undefined = ref.chainId;
      while (c && !live.has(c)) {
        live.add(c);
        c = (parentOf.get(c) as { parent: string | null } | undefined)?.parent ?? undefined;
      }
    }
    return live;
  }

  /**
   * Removes every snapshot whose chain ID is not in `keep`, plus leftovers of killed
   * unpacks and deletions. Returns the removed records. Callers hold the GC lock (gc.ts).
   */
  async prune(keep: Set<string>): Promise<SnapshotRecord[]> {
    const removed: SnapshotRecord[] = [];
    for (const rec of this.list()) {
      if (keep.has(rec.chainId)) continue;
      await this.#delete(rec);
      removed.push(rec);
    }
    await this.#sweep();
    return removed;
  }

  async #delete(rec: SnapshotRecord): Promise<void> {
    await Deno.mkdir(`${this.dir}/tmp`, { recursive: true, mode: 0o700 });
    const trash = `${this.dir}/tmp/trash.${randomId(8)}`;
    transaction(this.db, () => {
      this.db.prepare("DELETE FROM snapshots WHERE chain_id = ?").run(rec.chainId);
      try {
        Deno.renameSync(this.path(rec.id), trash);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    });
    await Deno.remove(trash, { recursive: true }).catch(() => {});
  }

  /** Removes directories no record names, stale unpacks and trash. */
  async #sweep(): Promise<void> {
    const known = new Set(this.list().map((r) => r.id));
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.dir));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      if (!e.isDirectory || known.has(e.name) || ["tmp", "locks", "empty"].includes(e.name)) continue;
      // Renamed into place but never recorded (killed between the two): re-check under the
      // write lock, since a concurrent commit does both inside one transaction.
      const orphan = transaction(
        this.db,
        () => !this.db.prepare("SELECT 1 FROM snapshots WHERE id = ?").get(e.name),
      );
      if (orphan) await Deno.remove(this.path(e.name), { recursive: true }).catch(() => {});
    }
    let tmpEntries: Deno.DirEntry[] = [];
    try {
      tmpEntries = await Array.fromAsync(Deno.readDir(`${this.dir}/tmp`));
    } catch { /* none */ }
    for (const e of tmpEntries) {
      const p = `${this.dir}/tmp/${e.name}`;
      if (e.name.startsWith("trash.")) {
        await Deno.remove(p, { recursive: true }).catch(() => {});
        continue;
      }
      // An unpack in flight holds locks/unpack.<name>; a stale one's process is gone.
      const lockPath = `${this.dir}/locks/unpack.${e.name}`;
      let lock: Deno.FsFile | undefined;
      try {
        lock = await Deno.open(lockPath, { write: true, create: true });
        if (await lock.tryLock(true)) {
          await Deno.remove(p, { recursive: true }).catch(() => {});
          await Deno.remove(lockPath).catch(() => {});
        }
      } catch {
        /* leave it */
      } finally {
        lock?.close();
      }
    }
  }
}
