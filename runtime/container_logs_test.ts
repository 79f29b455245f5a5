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

Deno.test("logs: max-size rotates as Docker's json-file (max-file kept in all), and reading spans the files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/c-json.log`;
    const enc = new TextEncoder();
    // Each entry is ~90 bytes: a 200-byte cap holds three (a file is rotated once it has
    // reached the cap, before the next entry).
    const log = await LogWriter.open(path, { maxSize: 200, maxFile: 3 });
    for (let i = 0; i < 20; i++) log.write("stdout", enc.encode(`line ${String(i).padStart(2, "0")}\n`));
    await log.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, ["c-json.log", "c-json.log.1", "c-json.log.2"]);
    for (const n of names) assert(Deno.statSync(`${dir}/${n}`).size < 200 + 100, n);
    const lines = (await readLogs(path)).map((e) => e.log.trim());
    // The oldest entries are gone; what is left is in order and ends with the last line.
    assertEquals(lines.at(-1), "line 19");
    assertEquals(lines, lines.toSorted());
    assert(lines.length >= 6 && lines.length < 20, String(lines.length));
    assertEquals((await readLogs(path, { tail: 4 })).map((e) => e.log.trim()), lines.slice(-4));
    // max-file=1: the file starts afresh, nothing is kept beside it.
    const one = `${dir}/one.log`;
    const log1 = await LogWriter.open(one, { maxSize: 100, maxFile: 1 });
    for (let i = 0; i < 5; i++) log1.write("stdout", enc.encode(`l${i}\n`));
    await log1.close();
    assert(!(await Deno.stat(`${one}.1`).then(() => true, () => false)));
    assertEquals((await readLogs(one)).at(-1)?.log, "l4\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logs: an end offset in a file rotated since then reads up to it in that file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/c-json.log`;
    const enc = new TextEncoder();
    const log = await LogWriter.open(path, { maxSize: 150, maxFile: 5 });
    log.write("stdout", enc.encode("a\nb\n"));
    const end = log.position;
    log.write("stdout", enc.encode("c\nd\ne\nf\n"));
    await log.flushed();
    const endFile = log.rotated - end.generation;
    assert(endFile >= 1, `rotated ${endFile}`);
    const got = await readLogs(path, { endOffset: end.offset, endFile });
    assertEquals(got.map((e) => e.log), ["a\n", "b\n"]);
    await log.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
