import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { formatNanos, LogWriter, nowNano, parseSince, readLogs, timeMs } from "./container_logs.ts";

Deno.test("logs: lines are written one JSON object each, streams apart, partial lines kept until complete", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = await LogWriter.open(`${dir}/c-json.log`);
    const seen: string[] = [];
    log.subscribe(({ entry }) => seen.push(`${entry.stream}:${entry.log}`));
    const enc = new TextEncoder();
    log.write("stdout", enc.encode("one\ntw"));
    log.write("stderr", enc.encode("err\n"));
    log.write("stdout", enc.encode("o\nthree"));
    await log.close();
    assertEquals(seen, ["stdout:one\n", "stderr:err\n", "stdout:two\n", "stdout:three"]);
    const entries = await readLogs(`${dir}/c-json.log`);
    assertEquals(entries.map((e) => [e.stream, e.log]), [
      ["stdout", "one\n"],
      ["stderr", "err\n"],
      ["stdout", "two\n"],
      ["stdout", "three"],
    ]);
    assertEquals((await readLogs(`${dir}/c-json.log`, { tail: 2 })).map((e) => e.log), ["two\n", "three"]);
    assertEquals(await readLogs(`${dir}/c-json.log`, { since: Date.now() + 60_000 }), []);
    assertEquals(await readLogs(`${dir}/missing.log`), []);
    // Multi-byte characters split across chunks survive.
    const log2 = await LogWriter.open(`${dir}/u.log`);
    const bytes = enc.encode("é\n");
    log2.write("stdout", bytes.subarray(0, 1));
    log2.write("stdout", bytes.subarray(1));
    await log2.close();
    assertEquals((await readLogs(`${dir}/u.log`))[0].log, "é\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logs: timestamps are RFC 3339 with nanoseconds, strictly increasing", () => {
  const a = nowNano(), b = nowNano();
  assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/.test(a), a);
  assert(b > a);
  assertEquals(formatNanos(1_714_557_600_123_456_789n), "2024-05-01T10:00:00.123456789Z");
  assertEquals(timeMs("2024-05-01T10:00:00.123456789Z"), 1714557600123);
});

Deno.test("logs: --since takes durations, Unix seconds and dates", () => {
  const now = 1_714_557_600_000;
  assertEquals(parseSince("10m", now), now - 600_000);
  assertEquals(parseSince("1h30m", now), now - 5_400_000);
  assertEquals(parseSince("1714557000.5", now), 1_714_557_000_500);
  assertEquals(parseSince("2024-05-01T10:00:00Z", now), now);
  assertThrows(() => parseSince("yesterday", now), TypeError);
});
