import { assertEquals, assertThrows } from "../tests/assert.ts";
import { isFiltered, matchesPruneFilter, parseGoDuration, parsePruneFilters } from "./prune_filter.ts";

Deno.test("Go durations", () => {
  const table: [string, number | undefined][] = [
    ["24h", 86_400_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["90s", 90_000],
    ["250ms", 250],
    ["10", undefined],
    ["h", undefined],
    ["1d", undefined],
    ["", undefined],
  ];
  for (const [text, ms] of table) assertEquals(parseGoDuration(text), ms, text);
});

Deno.test("until takes a duration, a Unix time or an RFC 3339 time", () => {
  const now = Date.parse("2024-06-01T00:00:00Z");
  assertEquals(parsePruneFilters(["until=24h"], now).until, now - 86_400_000);
  assertEquals(parsePruneFilters(["until=1700000000"], now).until, 1_700_000_000_000);
  assertEquals(
    parsePruneFilters(["until=2024-01-01T00:00:00Z"], now).until,
    Date.parse("2024-01-01T00:00:00Z"),
  );
  assertThrows(() => parsePruneFilters(["until=yesterday"], now), TypeError, "invalid until filter");
  assertThrows(() => parsePruneFilters(["until=1h", "until=2h"], now), TypeError, "more than one until");
});

Deno.test("label filters: presence, value, negation; bad filters are refused", () => {
  const f = parsePruneFilters(["label=env", "label!=keep=1"]);
  assertEquals(f.labels, [{ key: "env", negate: false }, { key: "keep", value: "1", negate: true }]);
  assertEquals(matchesPruneFilter(f, 0, { env: "x" }), true);
  assertEquals(matchesPruneFilter(f, 0, { env: "x", keep: "1" }), false);
  assertEquals(matchesPruneFilter(f, 0, { env: "x", keep: "2" }), true);
  assertEquals(matchesPruneFilter(f, 0, {}), false);
  assertThrows(() => parsePruneFilters(["color=red"]), TypeError, "invalid filter 'color'");
  assertThrows(() => parsePruneFilters(["label"]), TypeError, "bad format of filter");
  assertThrows(() => parsePruneFilters(["label="]), TypeError, "invalid label filter");
  assertThrows(() => parsePruneFilters(["until!=1h"]), TypeError, "invalid filter 'until!'");
});

Deno.test("until keeps what is newer, and what has no creation time", () => {
  const f = parsePruneFilters(["until=2024-01-01T00:00:00Z"]);
  assertEquals(matchesPruneFilter(f, "2023-12-31T23:59:59Z"), true);
  assertEquals(matchesPruneFilter(f, Date.parse("2024-01-01T00:00:00Z")), false);
  assertEquals(matchesPruneFilter(f, undefined), false);
  assertEquals(isFiltered(f), true);
  assertEquals(isFiltered(parsePruneFilters([])), false);
  assertEquals(matchesPruneFilter(parsePruneFilters([]), undefined), true);
});
