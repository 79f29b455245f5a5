import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import {
  bigIntToIP,
  broadcastOf,
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIP,
  ipToBigInt,
  networkOf,
  parseCidr,
  parseIP,
  parseIPv4,
  parseIPv6,
} from "./inet.ts";

Deno.test("inet: IPv4 parses and formats; bad input is refused", () => {
  assertEquals([...parseIPv4("10.88.0.1")!], [10, 88, 0, 1]);
  assertEquals(formatIP(parseIP("255.255.255.255")), "255.255.255.255");
  for (const bad of ["10.88.0", "10.88.0.256", "10.88.0.01", "a.b.c.d", "1.2.3.4.5", "", " 1.2.3.4"]) {
    assertEquals(parseIPv4(bad), null, bad);
  }
});

Deno.test("inet: IPv6 parses with :: and IPv4 tails, formats as RFC 5952", () => {
  const cases: [string, string][] = [
    ["::", "::"],
    ["::1", "::1"],
    ["fd00::1", "fd00::1"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["::ffff:10.1.2.3", "::ffff:a01:203"],
    ["fe80::1:0:0:0", "fe80::1:0:0:0"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
    ["1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"],
  ];
  for (const [input, want] of cases) assertEquals(formatIP(parseIPv6(input)!), want, input);
  for (const bad of ["1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7::8", "fe80::1%eth0"]) {
    assertEquals(parseIPv6(bad), null, bad);
  }
  assertThrows(() => parseIP("nope"), TypeError, "Invalid IP address: nope");
});

Deno.test("inet: CIDR math: network, broadcast, containment, overlap", () => {
  const c = parseCidr("10.88.3.7/16");
  assertEquals(formatCidr(networkOf(c)), "10.88.0.0/16");
  assertEquals(formatIP(broadcastOf(c)), "10.88.255.255");
  assert(cidrContains(c, parseIP("10.88.200.1")));
  assert(!cidrContains(c, parseIP("10.89.0.1")));
  assert(!cidrContains(c, parseIP("::1")));
  assert(cidrsOverlap(parseCidr("10.0.0.0/8"), parseCidr("10.88.0.0/16")));
  assert(cidrsOverlap(parseCidr("10.88.0.0/16"), parseCidr("10.0.0.0/8")));
  assert(!cidrsOverlap(parseCidr("10.88.0.0/16"), parseCidr("10.89.0.0/16")));
  assertEquals(formatCidr(networkOf(parseCidr("fd00:1:2:3::5/64"))), "fd00:1:2:3::/64");
  assertThrows(() => parseCidr("10.0.0.0"), TypeError, "no prefix length");
  assertThrows(() => parseCidr("10.0.0.0/33"), TypeError, "Invalid CIDR address: 10.0.0.0/33");
  assertThrows(() => parseCidr("10.0.0.0/x"), TypeError);
});

Deno.test("inet: addresses convert to and from bigints", () => {
  assertEquals(ipToBigInt(parseIP("0.0.1.2")), 258n);
  assertEquals(formatIP(bigIntToIP(ipToBigInt(parseIP("10.88.0.255")) + 1n, 4)), "10.88.1.0");
  assertEquals(formatIP(bigIntToIP(1n, 16)), "::1");
});
