import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { SubnetClaims } from "./subnet_claims.ts";

Deno.test("subnet claims: roots side by side cannot claim overlapping subnets; stale claims go", () => {
  const dir = Deno.makeTempDirSync();
  const rootA = Deno.makeTempDirSync(), rootB = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${rootA}/ctr.db`, "");
  Deno.writeTextFileSync(`${rootB}/ctr.db`, "");
  try {
    const claims = new SubnetClaims(`${dir}/subnets`);
    claims.withLock(() => claims.claim("10.77.0.0/16", rootA, "net-a"));
    claims.withLock(() => claims.claim("10.77.0.0/16", rootA, "net-a")); // again: fine
    assertThrows(
      () => claims.claim("10.77.5.0/24", rootB, "net-b"),
      RangeError,
      `Subnet 10.77.5.0/24 overlaps 10.77.0.0/16 of another ctr state root (${rootA})`,
    );
    claims.claim("10.78.0.0/24", rootB, "net-b");
    assertEquals(claims.othersOf(rootA), ["10.78.0.0/24"]);
    claims.release("10.78.0.0/24", rootA); // not A's: stays
    assertEquals(claims.list().length, 2);
    Deno.removeSync(rootA, { recursive: true }); // root A is deleted: its claim is stale
    assertEquals(claims.list().map((c) => c.subnet), ["10.78.0.0/24"]);
    claims.claim("10.77.5.0/24", rootB, "net-c");
    claims.release("10.78.0.0/24", rootB);
    assertEquals(claims.othersOf("/elsewhere"), ["10.77.5.0/24"]);
  } finally {
    for (const d of [dir, rootA, rootB]) {
      try {
        Deno.removeSync(d, { recursive: true });
      } catch { /* removed by the test */ }
    }
  }
});
