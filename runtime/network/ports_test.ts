import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { formatPortLines, formatPsPorts, parseExposed, parsePublish, publishAll } from "./ports.ts";

const m = (hostIp: string, hs: number, he: number, cp: number, proto: "tcp" | "udp" = "tcp") => ({
  hostIp,
  hostPortStart: hs,
  hostPortEnd: he,
  containerPort: cp,
  proto,
});

Deno.test("ports: -p forms parse as Docker's", () => {
  const cases: [string, ReturnType<typeof m>[]][] = [
    ["80", [m("", 0, 0, 80)]],
    ["8080:80", [m("", 8080, 8080, 80)]],
    ["8080:80/udp", [m("", 8080, 8080, 80, "udp")]],
    ["8080:80/TCP", [m("", 8080, 8080, 80)]],
    ["127.0.0.1:8080:80", [m("127.0.0.1", 8080, 8080, 80)]],
    ["127.0.0.1::80", [m("127.0.0.1", 0, 0, 80)]],
    [":80", [m("", 0, 0, 80)]],
    ["[::1]:8080:80", [m("::1", 8080, 8080, 80)]],
    ["[::]::53/udp", [m("::", 0, 0, 53, "udp")]],
    ["8000-8001:80-81", [m("", 8000, 8000, 80), m("", 8001, 8001, 81)]],
    ["8000-8010:80", [m("", 8000, 8010, 80)]],
    ["80-81", [m("", 0, 0, 80), m("", 0, 0, 81)]],
  ];
  for (const [spec, want] of cases) assertEquals(parsePublish(spec), want, spec);
});

Deno.test("ports: bad -p values are refused naming the spec", () => {
  assertThrows(
    () => parsePublish("0"),
    RangeError,
    "Invalid container port 0 in port spec 0: must be 1-65535",
  );
  assertThrows(() => parsePublish("70000:80"), RangeError, "Invalid host port 70000");
  assertThrows(() => parsePublish("x:80"), TypeError, 'Invalid host port "x" in port spec x:80');
  assertThrows(() => parsePublish("80/sctp"), TypeError, "sctp is not supported");
  assertThrows(() => parsePublish("80/icmp"), TypeError, 'Invalid protocol "icmp"');
  assertThrows(() => parsePublish("1.2.3:80:80"), TypeError, "Invalid IP address 1.2.3");
  assertThrows(() => parsePublish("::1:80:80"), TypeError, "too many colons");
  assertThrows(() => parsePublish("8080:"), TypeError, "No container port");
  assertThrows(() => parsePublish("8000-8002:80-81"), RangeError, "differ in size");
  assertThrows(() => parsePublish("90-80"), RangeError, "end before start");
});

Deno.test("ports: exposed ports parse; -P adds the unpublished ones", () => {
  assertEquals(parseExposed("80"), [{ port: 80, proto: "tcp" }]);
  assertEquals(parseExposed("53/udp"), [{ port: 53, proto: "udp" }]);
  assertEquals(parseExposed("7000-7001/tcp").map((e) => e.port), [7000, 7001]);
  assertEquals(
    publishAll(
      [{ port: 80, proto: "tcp" }, { port: 443, proto: "tcp" }, { port: 443, proto: "tcp" }, {
        port: 53,
        proto: "udp",
      }],
      parsePublish("8080:80"),
    ),
    [m("", 0, 0, 443), m("", 0, 0, 53, "udp")],
  );
});

Deno.test("ports: ctr port and ctr ps formats", () => {
  const bound = [
    { containerPort: 443, proto: "tcp" as const, hostIp: "0.0.0.0", hostPort: 32769 },
    { containerPort: 80, proto: "tcp" as const, hostIp: "0.0.0.0", hostPort: 32768 },
    { containerPort: 53, proto: "udp" as const, hostIp: "127.0.0.1", hostPort: 5353 },
  ];
  assertEquals(formatPortLines(bound), [
    "53/udp -> 127.0.0.1:5353",
    "80/tcp -> 0.0.0.0:32768",
    "443/tcp -> 0.0.0.0:32769",
  ]);
  assertEquals(formatPortLines(bound, "80"), ["0.0.0.0:32768"]);
  assertEquals(formatPortLines(bound, "53/udp"), ["127.0.0.1:5353"]);
  assertEquals(formatPortLines(bound, "53"), []);
  assertEquals(
    formatPsPorts(bound, [{ port: 9000, proto: "tcp" }, { port: 80, proto: "tcp" }]),
    "9000/tcp, 0.0.0.0:32768->80/tcp, 0.0.0.0:32769->443/tcp, 127.0.0.1:5353->53/udp",
  );
  const run = [0, 1, 2].map((i) => ({
    containerPort: 80 + i,
    proto: "tcp" as const,
    hostIp: "0.0.0.0",
    hostPort: 8000 + i,
  }));
  assertEquals(formatPsPorts(run), "0.0.0.0:8000-8002->80-82/tcp");
  assertEquals(formatPsPorts([], [{ port: 1, proto: "udp" }, { port: 2, proto: "udp" }]), "1-2/udp");
  assertEquals(
    formatPsPorts([{ containerPort: 80, proto: "tcp", hostIp: "::", hostPort: 1 }]),
    "[::]:1->80/tcp",
  );
});
