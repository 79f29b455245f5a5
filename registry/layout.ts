/**
 * Where the registry keeps things under its storage root (`ctr serve --root DIR`, default
 * `<state root>/registry`). Storage keys are relative to the root and go through the
 * {@linkcode StorageDriver}; the metadata database sits beside them.
 *
 * ```text
 * <root>/
 * ├── registry.db            metadata (SQLite, WAL): repositories, blob links, manifests,
 * │                          tags, upload sessions, GC pins and tombstones
 * ├── blobs/
 * │   ├── sha256/<hex>       every blob and manifest, once for all repositories, written
 * │   └── sha512/<hex>       only by an atomic move of fully verified bytes
 * ├── uploads/<id>           bytes received so far by upload session <id> (a UUID)
 * └── tmp/<random>           small whole-key writes in flight (moved into place when done)
 * ```
 *
 * A blob key appears only after its bytes were hashed, matched the digest the client gave,
 * and were made durable; so a push killed at any point leaves at most an upload file (which
 * expires) and never a wrong or partial blob.
 *
 * @module
 */
import type { StorageDriver } from "./driver.ts";
import { parseDigest } from "../image/digest.ts";

/** File name of the metadata database inside the root. */
export const DATABASE_FILE = "registry.db";

/**
 * The storage key of a blob.
 *
 * @example
 * ```ts
 * blobKey("sha256:" + "a".repeat(64)); // "blobs/sha256/aaaa…"
 * ```
 */
export function blobKey(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/**
 * The storage key of an upload session's data.
 *
 * @example
 * ```ts
 * uploadKey("0b8f…"); // "uploads/0b8f…"
 * ```
 */
export function uploadKey(id: string): string {
  if (!UPLOAD_ID_RE.test(id)) throw new RangeError(`Invalid upload id: ${JSON.stringify(id)}`);
  return `uploads/${id}`;
}

/** Upload session ids are lowercase UUIDs. */
export const UPLOAD_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Every committed blob digest the driver holds (the directories under `blobs/`).
 *
 * @example
 * ```ts
 * for (const d of await listBlobDigests(driver)) console.log(d);
 * ```
 */
export async function listBlobDigests(driver: StorageDriver): Promise<string[]> {
  const out: string[] = [];
  for (const algorithm of ["sha256", "sha512"]) {
    for (const hex of await driver.list(`blobs/${algorithm}`)) out.push(`${algorithm}:${hex}`);
  }
  return out;
}
