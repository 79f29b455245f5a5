import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  DEFAULT_REGISTRY_CONFIG,
  endpointsFor,
  isInsecureHost,
  isLoopbackHost,
  parseRegistryConfig,
  type RegistryConfig,
} from "./config.ts";

Deno.test("isLoopbackHost", () => {
  const cases: [string, boolean][] = [
    ["localhost", true],
    ["localhost:5000", true],
    ["LOCALHOST:1", true],
    ["127.0.0.1:5000", true],
    ["127.255.1.2", true],
    ["[::1]:5000", true],
    ["::1", true],
    ["128.0.0.1:5000", false],
    ["10.0.0.1", false],
    ["localhost.example.com", false],
    ["127.0.0.1.nip.io:5000", false],
    ["docker.io", false],
  ];
  for (const [host, want] of cases) assertEquals(isLoopbackHost(host), want, host);
});

Deno.test("isInsecureHost: host, host:port and CIDR entries", () => {
  const config: RegistryConfig = {
    ...DEFAULT_REGISTRY_CONFIG,
    insecureRegistries: ["myhost:5000", "bare.example", "10.0.0.0/8", "http://scheme.example:80/"],
  };
  const cases: [string, boolean][] = [
    ["myhost:5000", true],
    ["myhost:5001", false],
    ["myhost", false],
    ["bare.example", true],
    ["bare.example:443", true],
    ["10.2.3.4:5000", true],
    ["11.2.3.4:5000", false],
    ["scheme.example:80", true],
  ];
  for (const [host, want] of cases) assertEquals(isInsecureHost(host, config), want, host);
});

Deno.test("parseRegistryConfig: Docker's daemon.json keys, validated", () => {
  assertEquals(parseRegistryConfig(undefined), DEFAULT_REGISTRY_CONFIG);
  assertEquals(
    parseRegistryConfig({
      "insecure-registries": ["h:1"],
      "registry-mirrors": ["https://m.example"],
      "registry-host-mirrors": { "quay.io": ["http://127.0.0.1:9"] },
      "max-concurrent-downloads": 6,
      "unrelated-key": true,
    }),
    {
      insecureRegistries: ["h:1"],
      mirrors: { "docker.io": ["https://m.example"], "quay.io": ["http://127.0.0.1:9"] },
      maxConcurrentDownloads: 6,
      maxConcurrentUploads: 5,
      maxAttempts: 5,
      idleTimeoutMs: 30_000,
    },
  );
  assertThrows(() => parseRegistryConfig({ "max-concurrent-downloads": 0 }), TypeError, "positive integer");
  assertThrows(() => parseRegistryConfig({ "insecure-registries": "h" }), TypeError, "list of strings");
  assertThrows(() => parseRegistryConfig({ "registry-mirrors": ["ftp://x"] }), TypeError, "http or https");
  assertThrows(() => parseRegistryConfig([]), TypeError, "not a JSON object");
});

Deno.test("endpointsFor: schemes, Docker Hub and mirrors", () => {
  const config = parseRegistryConfig({
    "insecure-registries": ["10.0.0.0/8"],
    "registry-mirrors": ["http://127.0.0.1:7/"],
  });
  assertEquals(endpointsFor("127.0.0.1:5000", config, "pull"), [
    { registry: "127.0.0.1:5000", bases: ["http://127.0.0.1:5000", "https://127.0.0.1:5000"], mirror: false },
  ]);
  assertEquals(endpointsFor("quay.io", config, "pull"), [
    { registry: "quay.io", bases: ["https://quay.io"], mirror: false },
  ]);
  assertEquals(endpointsFor("10.1.1.1:5000", config, "push"), [
    { registry: "10.1.1.1:5000", bases: ["https://10.1.1.1:5000", "http://10.1.1.1:5000"], mirror: false },
  ]);
  assertEquals(endpointsFor("docker.io", config, "pull"), [
    { registry: "docker.io", bases: ["http://127.0.0.1:7"], mirror: true },
    { registry: "docker.io", bases: ["https://registry-1.docker.io"], mirror: false },
  ]);
  assertEquals(endpointsFor("docker.io", config, "push"), [
    { registry: "docker.io", bases: ["https://registry-1.docker.io"], mirror: false },
  ]);
});
