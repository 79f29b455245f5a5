import { assertEquals, assertThrows } from "../tests/assert.ts";
import { parseConfig, parseDuration } from "./config.ts";

Deno.test("config: durations", () => {
  assertEquals(parseDuration("90s"), 90_000);
  assertEquals(parseDuration("1h30m"), 5_400_000);
  assertEquals(parseDuration("250ms"), 250);
  assertEquals(parseDuration(5), 5000);
  assertThrows(() => parseDuration("soon"), RangeError);
  assertThrows(() => parseDuration(-1), RangeError);
});

Deno.test("config: a full file parses; JSON is accepted too", () => {
  const c = parseConfig(`
addr: 0.0.0.0:5000
root: /srv/registry
read_only: true
tls: { cert: /c.pem, key: /k.pem }
auth:
  htpasswd: /h
  token: { realm: "https://r/token", service: s, issuer: i, expiration: 10m, secret_file: /k }
  access:
    - { account: "*", repository: "team/*", actions: [pull] }
uploads: { ttl: 2h }
log: { access: false }
limits: { requests_in_flight: 64 }
`);
  assertEquals(c, {
    addr: "0.0.0.0:5000",
    root: "/srv/registry",
    readOnly: true,
    tls: { cert: "/c.pem", key: "/k.pem" },
    auth: {
      htpasswd: "/h",
      token: {
        realm: "https://r/token",
        service: "s",
        issuer: "i",
        expirationSeconds: 600,
        secretFile: "/k",
      },
      access: [{ account: "*", repository: "team/*", actions: ["pull"] }],
    },
    uploads: { ttlMs: 7_200_000 },
    log: { access: false },
    limits: { requestsInFlight: 64 },
  });
  assertEquals(parseConfig('{"uploads": {"ttl": "1h"}}'), { uploads: { ttlMs: 3_600_000 } });
  assertEquals(parseConfig(""), {});
});

Deno.test("config: errors name file:line and the key", () => {
  const cases: [string, string][] = [
    ["addr: x\nbogus: 1\n", "r.yaml:2: bogus: unknown key"],
    [
      "auth:\n  access:\n    - account: a\n      actions: [fly]\n",
      "r.yaml:4: auth.access.0.actions: must be a list of pull, push, delete",
    ],
    ["uploads:\n  ttl: never\n", 'r.yaml:2: uploads.ttl: invalid duration "never"'],
    ["read_only: maybe\n", "r.yaml:1: read_only: must be true or false"],
    ["tls: {cert: /c}\n", "r.yaml:1: tls.key: must be a non-empty string"],
    ["a: [\n", "r.yaml:"],
  ];
  for (const [text, want] of cases) {
    const e = assertThrows(() => parseConfig(text, "r.yaml"), SyntaxError);
    assertEquals(e.message.startsWith(want), true, `${e.message} should start with ${want}`);
  }
});
