import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { parseNetworkRunFlags, portMappings } from "./run_flags.ts";

Deno.test("run flags: network flags become Docker's HostConfig fields", () => {
  const r = parseNetworkRunFlags({
    network: "web",
    "network-alias": ["api"],
    "net-alias": ["v1"],
    ip: "10.77.0.9",
    publish: ["8080:80", "127.0.0.1::53/udp", "9000-9001:90-91"],
    "publish-all": true,
    expose: ["7000/tcp"],
    dns: ["192.0.2.53"],
    "dns-search": ["corp"],
    "dns-option": ["ndots:2"],
    "add-host": ["db:10.0.0.5", "gw:host-gateway"],
  });
  assertEquals(r.hostConfig, {
    NetworkMode: "web",
    PortBindings: {
      "80/tcp": [{ HostIp: "", HostPort: "8080" }],
      "53/udp": [{ HostIp: "127.0.0.1", HostPort: "" }],
      "90/tcp": [{ HostIp: "", HostPort: "9000" }],
      "91/tcp": [{ HostIp: "", HostPort: "9001" }],
    },
    PublishAllPorts: true,
    Dns: ["192.0.2.53"],
    DnsSearch: ["corp"],
    DnsOptions: ["ndots:2"],
    ExtraHosts: ["db:10.0.0.5", "gw:host-gateway"],
  });
  assertEquals(r.networking, { aliases: ["api", "v1"], ip: "10.77.0.9" });
  assertEquals(r.exposedPorts, ["7000/tcp", "80/tcp", "53/udp", "90/tcp", "91/tcp"]);
  assertEquals(parseNetworkRunFlags({}).hostConfig.NetworkMode, "bridge");
});

Deno.test("run flags: Docker's conflicts and bad values are refused", () => {
  for (const f of ["hostname", "dns", "add-host", "publish"]) {
    const flags: Record<string, unknown> = { network: "container:web" };
    flags[f] = f === "hostname" ? "h" : [f === "add-host" ? "a:1.2.3.4" : f === "publish" ? "80" : "1.1.1.1"];
    assertThrows(
      () => parseNetworkRunFlags(flags),
      TypeError,
      `Conflicting options: ${f} and the network mode`,
    );
  }
  assertThrows(() => parseNetworkRunFlags({ network: "container:" }), TypeError, "needs a container");
  assertThrows(() => parseNetworkRunFlags({ ip: "10.0.0" }), TypeError, "invalid IPv4 address: 10.0.0");
  assertThrows(() => parseNetworkRunFlags({ dns: ["x"] }), TypeError, "x is not an ip address");
  assertThrows(() => parseNetworkRunFlags({ "add-host": ["nope"] }), TypeError, "--add-host");
  assertThrows(() => parseNetworkRunFlags({ publish: ["99999"] }), RangeError);
});

Deno.test("run flags: bindings and -P turn back into the mappings a start binds", () => {
  const r = parseNetworkRunFlags({
    publish: ["8080:80", "127.0.0.1::53/udp", "[::1]:8443:443", "6000-6010:60"],
  });
  assertEquals(portMappings(r.hostConfig.PortBindings, true, ["80/tcp", "3000/tcp"]), [
    { hostIp: "", hostPortStart: 8080, hostPortEnd: 8080, containerPort: 80, proto: "tcp" },
    { hostIp: "127.0.0.1", hostPortStart: 0, hostPortEnd: 0, containerPort: 53, proto: "udp" },
    { hostIp: "::1", hostPortStart: 8443, hostPortEnd: 8443, containerPort: 443, proto: "tcp" },
    { hostIp: "", hostPortStart: 6000, hostPortEnd: 6010, containerPort: 60, proto: "tcp" },
    { hostIp: "", hostPortStart: 0, hostPortEnd: 0, containerPort: 3000, proto: "tcp" },
  ]);
  assertEquals(portMappings(undefined, false, ["80/tcp"]), []);
});
