/**
 * A concurrency limit for async jobs (layer downloads and uploads).
 *
 * @module
 */

/**
 * Runs async jobs with at most `limit` at once, in the order they were submitted.
 *
 * @example
 * ```ts
 * const limiter = new Limiter(3);
 * await Promise.all(layers.map((l) => limiter.run(() => download(l))));
 * ```
 */
export class Limiter {
  #limit: number;
  #running = 0;
  #queue: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Whether a job started now would have to wait. */
  get busy(): boolean {
    return this.#running >= this.#limit;
  }

  /** Runs `job` when a slot is free; settles as it does. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((r) => this.#queue.push(r));
    this.#running++;
    try {
      return await job();
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
  }
}
