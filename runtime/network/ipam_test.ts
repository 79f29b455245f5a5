import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  allocateAddress,
  checkRequestedAddress,
  macForAddress,
  pickSubnet,
  prefixLengthOf,
  subnetConfig,
  subnetsOverlap,
} from "./ipam.ts";

Deno.test("ipam: subnet and gateway are validated as Docker does", () => {
  assertEquals(subnetConfig("10.88.0.0/16"), { subnet: "10.88.0.0/16", gateway: "10.88.0.1" });
  assertEquals(subnetConfig("10.88.0.0/16", "10.88.255.254"), {
    subnet: "10.88.0.0/16",
    gateway: "10.88.255.254",
  });
  assertEquals(subnetConfig("fd00:1::/64"), { subnet: "fd00:1::/64", gateway: "fd00:1::1" });
  assertThrows(
    () => subnetConfig("10.88.0.5/16"),
    TypeError,
    "Invalid subnet 10.88.0.5/16: it should be 10.88.0.0/16",
  );
  assertThrows(
    () => subnetConfig("10.88.0.0/16", "10.89.0.1"),
    RangeError,
    "Gateway 10.89.0.1 is not in subnet",
  );
  assertThrows(() => subnetConfig("10.88.0.0/24", "10.88.0.255"), RangeError, "broadcast");
  assertThrows(() => subnetConfig("10.88.0.0/24", "10.88.0.0"), RangeError, "network or broadcast");
  assertThrows(() => subnetConfig("10.88.0.0/31"), RangeError, "too small");
  assertThrows(() => subnetConfig("10.88.0.0"), TypeError, "no prefix length");
  assertThrows(() => subnetConfig("10.88.0.0/16", "nope"), TypeError, "Invalid IP address: nope");
});

Deno.test("ipam: allocation takes the lowest free address, skipping gateway and used ones", () => {
  const c = { subnet: "10.88.0.0/24", gateway: "10.88.0.1" };
  assertEquals(allocateAddress(c, new Set()), "10.88.0.2");
  assertEquals(allocateAddress(c, new Set(["10.88.0.2", "10.88.0.3"])), "10.88.0.4");
  assertEquals(allocateAddress(c, new Set(["10.88.0.3"])), "10.88.0.2", "a released address is reused");
  const high = { subnet: "10.88.0.0/24", gateway: "10.88.0.254" };
  assertEquals(allocateAddress(high, new Set()), "10.88.0.1");
  const used = new Set(Array.from({ length: 252 }, (_, i) => `10.88.0.${i + 2}`));
  assertEquals(allocateAddress(c, used), "10.88.0.254");
  used.add("10.88.0.254");
  assertThrows(() => allocateAddress(c, used), RangeError, "No free address left in subnet 10.88.0.0/24");
  assertEquals(
    allocateAddress({ subnet: "fd00::/120", gateway: "fd00::1" }, new Set(["fd00::2"])),
    "fd00::3",
  );
});

Deno.test("ipam: allocating 50 addresses in a row gives 50 distinct ones", () => {
  const c = subnetConfig("10.88.0.0/16");
  const used = new Set<string>();
  for (let i = 0; i < 50; i++) used.add(allocateAddress(c, used));
  assertEquals(used.size, 50);
});

Deno.test("ipam: a requested address must be inside, unreserved, not the gateway and free", () => {
  const c = { subnet: "10.88.0.0/24", gateway: "10.88.0.1" };
  assertEquals(checkRequestedAddress(c, "10.88.0.9", new Set()), "10.88.0.9");
  assertThrows(() => checkRequestedAddress(c, "10.89.0.9", new Set()), RangeError, "not in subnet");
  assertThrows(() => checkRequestedAddress(c, "10.88.0.1", new Set()), RangeError, "is the gateway");
  assertThrows(() => checkRequestedAddress(c, "10.88.0.255", new Set()), RangeError, "broadcast");
  assertThrows(
    () => checkRequestedAddress(c, "10.88.0.9", new Set(["10.88.0.9"])),
    RangeError,
    "already in use",
  );
  assertThrows(() => checkRequestedAddress(c, "x", new Set()), TypeError);
});

Deno.test("ipam: new networks get the first /24 of the pool that overlaps nothing", () => {
  assertEquals(pickSubnet([]), "10.89.0.0/24");
  assertEquals(pickSubnet(["10.89.0.0/24", "10.89.2.0/24"]), "10.89.1.0/24");
  assertEquals(pickSubnet(["10.89.0.0/23"]), "10.89.2.0/24");
  assertEquals(pickSubnet(["10.89.0.7"]), "10.89.1.0/24", "a host address counts as taken");
  assertEquals(pickSubnet(["10.0.0.0/8"], { base: "172.20.0.0/16", size: 24 }), "172.20.0.0/24");
  assertThrows(() => pickSubnet(["10.89.0.0/16"]), RangeError, "give one with --subnet");
  assertEquals(subnetsOverlap("10.89.0.0/16", "10.89.3.0/24"), true);
  assertEquals(subnetsOverlap("10.89.0.0/24", "10.89.1.0/24"), false);
});

Deno.test("ipam: MACs follow the address; prefix lengths are read", () => {
  assertEquals(macForAddress("10.88.0.2"), "02:42:0a:58:00:02");
  assertEquals(prefixLengthOf("10.88.0.0/16"), 16);
});
