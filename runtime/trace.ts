/**
 * Phase timings of the supervisor's work, written to its log when `CTR_TRACE=1` is in its
 * environment (set it for the command that starts the supervisor): how the time of a
 * `ctr run` splits between create, start, the init and the cleanup.
 *
 * @module
 */

const enabled = (() => {
  try {
    return Deno.env.get("CTR_TRACE") === "1";
  } catch {
    return false;
  }
})();

/**
 * A stopwatch whose laps are logged when tracing is on.
 *
 * @example
 * ```ts
 * const t = stopwatch("start abc");
 * t.lap("cgroup");
 * t.done();
 * ```
 */
export function stopwatch(what: string): { lap(label: string): void; done(): void } {
  if (!enabled) return { lap() {}, done() {} };
  const t0 = performance.now();
  let last = t0;
  const laps: string[] = [];
  return {
    lap(label) {
      const now = performance.now();
      laps.push(`${label} ${(now - last).toFixed(1)}`);
      last = now;
    },
    done() {
      console.error(`trace ${what}: ${laps.join(", ")} = ${(performance.now() - t0).toFixed(1)} ms`);
    },
  };
}
