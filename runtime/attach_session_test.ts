import { assertEquals, assertThrows } from "../tests/assert.ts";
import { parseDetachKeys } from "./attach_session.ts";

Deno.test("detach keys: Docker's syntax", () => {
  assertEquals([...parseDetachKeys("ctrl-p,ctrl-q")], [16, 17]);
  assertEquals([...parseDetachKeys("ctrl-@,a,ctrl-_")], [0, 97, 31]);
  assertEquals([...parseDetachKeys("")], []);
  assertThrows(() => parseDetachKeys("ctrl-pp"), TypeError, "Invalid detach keys");
});
