import { assertEquals, assertThrows } from "../tests/assert.ts";
import { daemonLogOpts, logRotation, mergeLogConfig, parseLogOptFlags, parseLogSize } from "./log_options.ts";

Deno.test("log options: sizes in Docker's binary units; -1 is unlimited", () => {
  assertEquals(parseLogSize("10m"), 10 * 1024 * 1024);
  assertEquals(parseLogSize("512k"), 512 * 1024);
  assertEquals(parseLogSize("1g"), 1024 ** 3);
  assertEquals(parseLogSize("100"), 100);
  assertEquals(parseLogSize("-1"), -1);
  for (const bad of ["", "ten", "10x", "0", "-5m"]) assertThrows(() => parseLogSize(bad), RangeError);
});

Deno.test("log options: flags, defaults merged key by key, and Docker's errors", () => {
  assertEquals(parseLogOptFlags(["max-size=1m", "max-file=3"]), { "max-size": "1m", "max-file": "3" });
  assertThrows(() => parseLogOptFlags(["max-size"]), TypeError, "KEY=VALUE");
  assertThrows(() => parseLogOptFlags(["compress=true"]), TypeError, "unknown log opt 'compress'");
  assertThrows(
    () => parseLogOptFlags(["max-file=3"]),
    TypeError,
    "max-file can only be set if max-size is set",
  );
  assertThrows(() => parseLogOptFlags(["max-size=1m", "max-file=0"]), RangeError);
  assertEquals(mergeLogConfig({ "max-size": "1m" }, { "max-size": "10m", "max-file": "3" }), {
    Type: "json-file",
    Config: { "max-size": "1m", "max-file": "3" },
  });
  assertEquals(mergeLogConfig({}, {}), { Type: "json-file", Config: {} });
  assertEquals(logRotation(undefined), { maxSize: -1, maxFile: 1 });
  assertEquals(logRotation({ Type: "json-file", Config: { "max-size": "2k", "max-file": "4" } }), {
    maxSize: 2048,
    maxFile: 4,
  });
});

Deno.test("log options: the daemon's log-opts are checked, naming the file", () => {
  assertEquals(daemonLogOpts({}), {});
  assertEquals(daemonLogOpts({ "log-opts": { "max-size": "10m", "max-file": "2" } }), {
    "max-size": "10m",
    "max-file": "2",
  });
  assertThrows(() => daemonLogOpts({ "log-opts": ["x"] }, "/r/config.json"), TypeError, "/r/config.json");
  assertThrows(() => daemonLogOpts({ "log-opts": { "max-size": 10 } }), TypeError, "must be a string");
  assertThrows(() => daemonLogOpts({ "log-opts": { "max-size": "big" } }), TypeError, "max-size");
});
