import { assertEquals } from "../../tests/assert.ts";
import { Limiter } from "./limiter.ts";

Deno.test("Limiter: never more than the limit at once, all jobs run, failures stay with their job", async () => {
  const limiter = new Limiter(3);
  let running = 0, peak = 0;
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) =>
    limiter.run(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (i === 4) throw new Error("job 4");
      return i;
    })));
  assertEquals(peak, 3);
  assertEquals(results.filter((r) => r.status === "fulfilled").length, 9);
  assertEquals((results[4] as PromiseRejectedResult).reason.message, "job 4");
  assertEquals(new Limiter(0).busy, false);
});
