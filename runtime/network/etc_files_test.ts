import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { buildHosts, buildResolvConf, parseExtraHost, parseResolvConf } from "./etc_files.ts";

Deno.test("etc files: hosts has localhost, extra hosts, then the container's addresses and names", () => {
  const text = buildHosts({
    hostname: "3f57d9401f8d",
    domainname: "example.org",
    addresses: ["10.89.0.2", "10.89.1.5"],
    names: ["web", "www"],
    extraHosts: ["db:10.0.0.5", "a,b=10.0.0.6", "gw:host-gateway", "six:[fd00::1]"],
    hostGateway: "10.89.0.1",
  });
  assertEquals(text.split("\n").slice(6), [
    "10.0.0.5\tdb",
    "10.0.0.6\ta b",
    "10.89.0.1\tgw",
    "fd00::1\tsix",
    "10.89.0.2\t3f57d9401f8d.example.org 3f57d9401f8d web www",
    "10.89.1.5\t3f57d9401f8d.example.org 3f57d9401f8d web www",
    "",
  ]);
  assertEquals(text.split("\n")[0], "127.0.0.1\tlocalhost");
  assertEquals(
    buildHosts({ hostname: "h", addresses: [] }).split("\n").length,
    7,
    "network none: localhost only",
  );
});

Deno.test("etc files: bad --add-host values are refused naming the value", () => {
  assertThrows(() => parseExtraHost("nocolon"), TypeError, 'Invalid --add-host value "nocolon"');
  assertThrows(() => parseExtraHost("db:999.1.1.1"), TypeError, 'Invalid IP address "999.1.1.1"');
  assertThrows(() => parseExtraHost("gw:host-gateway"), TypeError, "host-gateway");
  assertThrows(() => parseExtraHost("b@d:1.2.3.4"), TypeError, "Invalid host name");
  assertEquals(parseExtraHost("x:::1"), { names: ["x"], ip: "::1" });
});

const HOST =
  "# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nsearch corp.example\noptions edns0 trust-ad\n";

Deno.test("etc files: resolv.conf for user networks points at the embedded resolver", () => {
  assertEquals(
    buildResolvConf({ host: HOST, mode: "embedded", resolver: "10.89.0.1", dns: ["9.9.9.9"] }),
    "nameserver 10.89.0.1\nsearch corp.example\noptions edns0 trust-ad ndots:0\n",
  );
  assertEquals(
    buildResolvConf({
      host: HOST,
      mode: "embedded",
      resolver: "10.89.0.1",
      dnsSearch: ["a.b"],
      dnsOptions: ["ndots:2"],
    }),
    "nameserver 10.89.0.1\nsearch a.b\noptions ndots:2\n",
  );
});

Deno.test("etc files: resolv.conf for the default bridge drops loopback servers; --dns replaces them", () => {
  assertEquals(
    buildResolvConf({ host: HOST, mode: "direct" }),
    "nameserver 10.255.255.53\nsearch corp.example\noptions edns0 trust-ad\n",
  );
  assertEquals(
    buildResolvConf({ host: HOST, mode: "direct", dns: ["1.1.1.1", "8.8.8.8"], dnsSearch: ["."] }),
    "nameserver 1.1.1.1\nnameserver 8.8.8.8\noptions edns0 trust-ad\n",
  );
  assertEquals(buildResolvConf({ host: HOST, mode: "host" }), HOST);
  assertEquals(parseResolvConf("domain x\nnameserver ::1 # c\n"), {
    nameservers: ["::1"],
    search: ["x"],
    options: [],
  });
});
