import { assertEquals } from "../../tests/assert.ts";
import { nextLink, parseContentRange, parseLinkHeader, retryAfterMs, uploadedBytes } from "./headers.ts";

Deno.test("parseLinkHeader: registry pagination and RFC 8288 forms", () => {
  const cases: [string, ReturnType<typeof parseLinkHeader>][] = [
    [
      '</v2/a/tags/list?n=2&last=b>; rel="next"',
      [{ url: "/v2/a/tags/list?n=2&last=b", params: { rel: "next" } }],
    ],
    ["<http://x/y>;rel=next", [{ url: "http://x/y", params: { rel: "next" } }]],
    [
      '<a,b>; rel="prev"; title="x, y", <c>; REL=next',
      [{ url: "a,b", params: { rel: "prev", title: "x, y" } }, { url: "c", params: { rel: "next" } }],
    ],
    ['<u>; rel="next last"', [{ url: "u", params: { rel: "next last" } }]],
    ["", []],
    ["garbage, <u>; rel=next", [{ url: "u", params: { rel: "next" } }]],
  ];
  for (const [input, want] of cases) assertEquals(parseLinkHeader(input), want, input);
  assertEquals(
    nextLink('</v2/a/tags/list?last=b>; rel="next"', "http://r:5/v2/a/tags/list?n=1"),
    "http://r:5/v2/a/tags/list?last=b",
  );
  assertEquals(nextLink('<u>; rel="prev"', "http://r/"), undefined);
  assertEquals(nextLink(null, "http://r/"), undefined);
});

Deno.test("uploadedBytes: upload-session Range header", () => {
  const cases: [string | null, number | undefined][] = [
    ["0-1023", 1024],
    ["bytes=0-9", 10],
    ["0-0", 1],
    [" 0-5 ", 6],
    ["5-9", undefined],
    ["9-5", undefined],
    ["x", undefined],
    [null, undefined],
  ];
  for (const [input, want] of cases) assertEquals(uploadedBytes(input), want, String(input));
});

Deno.test("parseContentRange", () => {
  const cases: [string | null, ReturnType<typeof parseContentRange>][] = [
    ["bytes 100-199/200", { first: 100, last: 199, total: 200 }],
    ["bytes 0-0/*", { first: 0, last: 0 }],
    ["BYTES 1-2/3", { first: 1, last: 2, total: 3 }],
    ["bytes 5-1/9", undefined],
    ["bytes */200", undefined],
    [null, undefined],
  ];
  for (const [input, want] of cases) assertEquals(parseContentRange(input), want, String(input));
});

Deno.test("retryAfterMs: seconds and HTTP dates", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assertEquals(retryAfterMs("3", now), 3000);
  assertEquals(retryAfterMs("0", now), 0);
  assertEquals(retryAfterMs("Wed, 21 Oct 2015 07:28:05 GMT", now), 5000);
  assertEquals(retryAfterMs("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
  assertEquals(retryAfterMs("soon", now), undefined);
  assertEquals(retryAfterMs(null, now), undefined);
});
