/**
 * A bounded in-memory cache of immutable byte strings.
 *
 * @module
 */

/**
 * A byte-bounded least-recently-used cache of immutable values (manifests and small blobs,
 * which never change under their digest).
 *
 * @example
 * ```ts
 * const cache = new ByteCache(64 << 20);
 * cache.set(digest, bytes);
 * cache.get(digest);
 * ```
 */
export class ByteCache {
  #max: number;
  #used = 0;
  #map = new Map<string, Uint8Array>();

  constructor(max: number) {
    this.#max = max;
  }

  /** The value, refreshed as most recently used. */
  get(key: string): Uint8Array | undefined {
    const v = this.#map.get(key);
    if (v) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  /** Adds a value (values over an eighth of the budget are not kept). */
  set(key: string, value: Uint8Array): void {
    if (value.length > this.#max / 8 || this.#map.has(key)) return;
    this.#map.set(key, value);
    this.#used += value.length;
    for (const [k, v] of this.#map) {
      if (this.#used <= this.#max) break;
      this.#map.delete(k);
      this.#used -= v.length;
    }
  }
}
