import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { DEFAULT_NETWORK_CONFIG, loadNetworkConfig, parseNetworkConfig } from "./config.ts";

Deno.test("network config: Docker's daemon.json keys are read and checked", () => {
  assertEquals(parseNetworkConfig(undefined), DEFAULT_NETWORK_CONFIG);
  const c = parseNetworkConfig({
    bridge: "br-test",
    bip: "10.99.0.254/24",
    "default-address-pools": [{ base: "172.30.0.0/16", size: 26 }],
    iptables: false,
    "ip-forward": false,
    dns: ["192.0.2.53"],
    "insecure-registries": ["ignored:5000"],
  });
  assertEquals(c, {
    bridge: "br-test",
    subnet: "10.99.0.0/24",
    gateway: "10.99.0.254",
    pools: [{ base: "172.30.0.0/16", size: 26 }],
    nftables: false,
    ipForward: false,
    dns: ["192.0.2.53"],
  });
  assertThrows(() => parseNetworkConfig({ bridge: "x".repeat(16) }), TypeError, '"bridge"');
  assertThrows(() => parseNetworkConfig({ bip: "10.0.0.1" }), TypeError, '"bip"');
  assertThrows(
    () => parseNetworkConfig({ "default-address-pools": [{ base: "10.0.0.0/16", size: 8 }] }),
    TypeError,
    "does not fit",
  );
  assertThrows(() => parseNetworkConfig({ iptables: "no" }), TypeError, '"iptables"');
  assertThrows(() => parseNetworkConfig([1] as unknown), TypeError);
});

Deno.test("network config: read from <root>/config.json; a broken file names itself", () => {
  const root = Deno.makeTempDirSync();
  try {
    assertEquals(loadNetworkConfig(root).bridge, undefined);
    Deno.writeTextFileSync(`${root}/config.json`, '{"bridge": "ctrt1"}');
    assertEquals(loadNetworkConfig(root).bridge, "ctrt1");
    Deno.writeTextFileSync(`${root}/config.json`, "{");
    assertThrows(() => loadNetworkConfig(root), SyntaxError, `Invalid ${root}/config.json`);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
