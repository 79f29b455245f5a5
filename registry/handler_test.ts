import { assertEquals, assertThrows } from "../tests/assert.ts";
import { parseContentRange, parseRangeHeader } from "./handler.ts";
import { RegistryError } from "./errors.ts";

Deno.test("handler: Range request headers", () => {
  assertEquals(parseRangeHeader(null, 10), undefined);
  assertEquals(parseRangeHeader("bytes=0-4", 10), { start: 0, end: 4 });
  assertEquals(parseRangeHeader("bytes=5-", 10), { start: 5, end: 9 });
  assertEquals(parseRangeHeader("bytes=-3", 10), { start: 7, end: 9 });
  assertEquals(parseRangeHeader("bytes=-30", 10), { start: 0, end: 9 });
  assertEquals(parseRangeHeader("bytes=8-100", 10), { start: 8, end: 9 });
  assertEquals(parseRangeHeader("bytes=10-", 10), "unsatisfiable");
  assertEquals(parseRangeHeader("bytes=5-2", 10), "unsatisfiable");
  assertEquals(parseRangeHeader("bytes=-0", 10), "unsatisfiable");
  assertEquals(parseRangeHeader("bytes=0-1,4-5", 10), undefined);
  assertEquals(parseRangeHeader("lines=1-2", 10), undefined);
});

Deno.test("handler: upload Content-Range, in every form clients send", () => {
  assertEquals(parseContentRange(null), undefined);
  assertEquals(parseContentRange("0-4"), { start: 0, end: 4 });
  assertEquals(parseContentRange("bytes 5-9/11"), { start: 5, end: 9 });
  assertEquals(parseContentRange("bytes=5-9"), { start: 5, end: 9 });
  assertEquals(parseContentRange("bytes 5-9/*"), { start: 5, end: 9 });
  for (const bad of ["5", "a-b", "9-5", "-3"]) {
    const e = assertThrows(() => parseContentRange(bad), RegistryError);
    assertEquals([e.status, e.code], [416, "BLOB_UPLOAD_INVALID"]);
  }
});
