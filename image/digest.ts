/**
 * Content digests (`algorithm:hex`) as the OCI image spec defines them: parsing, validation
 * and hashing. Hashing uses `node:crypto`, which streams several times faster than WebCrypto
 * (DESIGN.md §1).
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

/** Algorithms ctr accepts, with the length of their lowercase hex encoding. */
export const DIGEST_ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };

/** A parsed digest. */
export interface Digest {
  algorithm: "sha256" | "sha512";
  hex: string;
}

const DIGEST_RE = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/**
 * Parses and validates a digest; throws `TypeError` naming the problem.
 *
 * @example
 * ```ts
 * parseDigest("sha256:" + "a".repeat(64)); // { algorithm: "sha256", hex: "aaa…" }
 * ```
 */
export function parseDigest(s: string): Digest {
  const m = DIGEST_RE.exec(s);
  if (!m) throw new TypeError(`Invalid digest: ${JSON.stringify(s)}`);
  const [, algorithm, hex] = m;
  const len = DIGEST_ALGORITHMS[algorithm];
  if (len === undefined) throw new TypeError(`Unsupported digest algorithm: ${algorithm}`);
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) {
    throw new TypeError(`Invalid ${algorithm} digest: ${JSON.stringify(s)}`);
  }
  return { algorithm: algorithm as Digest["algorithm"], hex };
}

/**
 * Whether `s` is a valid digest ctr can verify.
 *
 * @example
 * ```ts
 * isDigest("sha256:abc"); // false (too short)
 * ```
 */
export function isDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Digest of some bytes.
 *
 * @example
 * ```ts
 * digestOf(new TextEncoder().encode("hello world"));
 * // "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
 * ```
 */
export function digestOf(data: Uint8Array | string, algorithm: Digest["algorithm"] = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

/**
 * An incremental hasher for bytes that arrive in chunks.
 *
 * @example
 * ```ts
 * const h = new Hasher();
 * for await (const chunk of stream) h.update(chunk);
 * h.digest(); // "sha256:…"
 * ```
 */
export class Hasher {
  #hash: Hash;
  #algorithm: Digest["algorithm"];
  /** Bytes hashed so far. */
  size = 0;

  constructor(algorithm: Digest["algorithm"] = "sha256") {
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.size += chunk.length;
  }

  /** The digest of everything hashed; the hasher cannot be used afterwards. */
  digest(): string {
    return `${this.#algorithm}:${this.#hash.digest("hex")}`;
  }
}
