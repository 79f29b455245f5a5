import { assertEquals } from "../../tests/assert.ts";
import {
  buildQuery,
  buildResponse,
  errorResponse,
  parseAnswers,
  parseQuery,
  QTYPE,
  RCODE,
} from "./dns_message.ts";

Deno.test("dns message: a query's question is read back, lower-cased", () => {
  const q = parseQuery(buildQuery(0x1234, "Web.MyNet", QTYPE.AAAA))!;
  assertEquals([q.id, q.name, q.type, q.class, q.recursionDesired, q.opcode], [
    0x1234,
    "web.mynet",
    28,
    1,
    true,
    0,
  ]);
  assertEquals(q.end, 12 + 1 + 3 + 1 + 5 + 1 + 4);
});

Deno.test("dns message: malformed input and responses are not queries", () => {
  assertEquals(parseQuery(new Uint8Array(5)), null);
  const q = buildQuery(1, "a", QTYPE.A);
  assertEquals(parseQuery(q.subarray(0, q.length - 2)), null, "truncated question");
  const resp = q.slice();
  resp[2] |= 0x80;
  assertEquals(parseQuery(resp), null);
  const bad = q.slice();
  bad[12] = 0xc0; // compression pointer in the question
  assertEquals(parseQuery(bad), null);
});

Deno.test("dns message: answers carry A and AAAA records with the TTL; errors carry the rcode", () => {
  const query = buildQuery(77, "db", QTYPE.A);
  const q = parseQuery(query)!;
  const r = parseAnswers(
    buildResponse(query, q, [Uint8Array.of(10, 88, 0, 2), Uint8Array.of(10, 88, 0, 3)], 0, 600),
  );
  assertEquals(r.id, 77);
  assertEquals(r.rcode, RCODE.NOERROR);
  assertEquals(r.answers.map((a) => [a.type, a.ttl, [...a.data].join(".")]), [
    [1, 600, "10.88.0.2"],
    [1, 600, "10.88.0.3"],
  ]);
  const six = parseAnswers(buildResponse(query, q, [new Uint8Array(16)], 0)).answers[0];
  assertEquals([six.type, six.data.length], [QTYPE.AAAA, 16]);
  assertEquals(parseAnswers(errorResponse(query, RCODE.SERVFAIL)), { id: 77, rcode: 2, answers: [] });
  const junk = errorResponse(Uint8Array.of(0xab, 0xcd, 1), RCODE.FORMERR);
  assertEquals([junk[0], junk[1], junk[3] & 0xf], [0xab, 0xcd, 1]);
});
