import { assertEquals, assertThrows } from "../tests/assert.ts";
import {
  buildCreateRequest,
  parseBytes,
  parseEnvFile,
  parseEnvFlags,
  parseMountFlag,
  parseRestartPolicy,
  parseTmpfsFlag,
  parseUlimit,
  parseVolumeFlag,
  type RunOptionsHost,
} from "./run_options.ts";

const host: RunOptionsHost = {
  readFile: (p) => (p === "env.list" ? "A=1\n# comment\n\nFROM_HOST\n" : ""),
  getEnv: (k) => (k === "FROM_HOST" ? "yes" : undefined),
  resolvePath: (p) => (p.startsWith("/") ? p : `/cwd/${p.replace(/^\.\//, "")}`),
  cpuCount: 2,
};

Deno.test("parseBytes: Docker's binary units", () => {
  assertEquals(parseBytes("32m"), 32 * 1024 * 1024);
  assertEquals(parseBytes("1g"), 1024 ** 3);
  assertEquals(parseBytes("512k"), 512 * 1024);
  assertEquals(parseBytes("1.5g"), 1.5 * 1024 ** 3);
  assertEquals(parseBytes("64MB"), 64 * 1024 * 1024);
  assertEquals(parseBytes("100"), 100);
  assertThrows(() => parseBytes("lots"), RangeError);
});

Deno.test("-v: anonymous, named and bind volumes with options", () => {
  assertEquals(parseVolumeFlag("/data", host.resolvePath), {
    Type: "volume",
    Source: "",
    Target: "/data",
    ReadOnly: false,
  });
  assertEquals(parseVolumeFlag("cache:/var/cache:ro,nocopy", host.resolvePath), {
    Type: "volume",
    Source: "cache",
    Target: "/var/cache",
    ReadOnly: true,
    VolumeNoCopy: true,
  });
  assertEquals(parseVolumeFlag("./src:/src:rshared", host.resolvePath), {
    Type: "bind",
    Source: "/cwd/src",
    Target: "/src",
    ReadOnly: false,
    BindPropagation: "rshared",
  });
  assertThrows(
    () => parseVolumeFlag("x:relative", host.resolvePath),
    TypeError,
    "mount path must be absolute",
  );
  assertThrows(() => parseVolumeFlag("bad name:/x", host.resolvePath), TypeError, "invalid characters");
  assertThrows(() => parseVolumeFlag("/a:/b:rx", host.resolvePath), TypeError, "invalid mode");
});

Deno.test("--mount and --tmpfs", () => {
  assertEquals(parseMountFlag("type=bind,src=/h,dst=/c,readonly", host.resolvePath), {
    Type: "bind",
    Source: "/h",
    Target: "/c",
    ReadOnly: true,
  });
  assertEquals(parseMountFlag("type=tmpfs,target=/run,tmpfs-size=1m,tmpfs-mode=700", host.resolvePath), {
    Type: "tmpfs",
    Source: "",
    Target: "/run",
    ReadOnly: false,
    TmpfsOptions: { SizeBytes: 1024 * 1024, Mode: 0o700 },
  });
  assertThrows(
    () => parseMountFlag("type=bind,target=/c", host.resolvePath),
    TypeError,
    "Source must not be empty",
  );
  assertThrows(() => parseMountFlag("type=nfs,target=/c", host.resolvePath), TypeError, "invalid mount type");
  assertThrows(() => parseMountFlag("source=v", host.resolvePath), TypeError, "target is required");
  assertEquals(parseTmpfsFlag("/scratch:size=2m,mode=1777").TmpfsOptions, {
    SizeBytes: 2 * 1024 * 1024,
    Mode: 0o1777,
  });
});

Deno.test("--ulimit, --restart and env files", () => {
  assertEquals(parseUlimit("nofile=1024:2048"), { Name: "nofile", Soft: 1024, Hard: 2048 });
  assertEquals(parseUlimit("nproc=64"), { Name: "nproc", Soft: 64, Hard: 64 });
  assertThrows(() => parseUlimit("nofile=10:5"), TypeError, "soft limit");
  assertThrows(() => parseUlimit("bogus=1"), TypeError, "invalid ulimit type");
  assertEquals(parseRestartPolicy("on-failure:3"), { Name: "on-failure", MaximumRetryCount: 3 });
  assertEquals(parseRestartPolicy("unless-stopped"), { Name: "unless-stopped", MaximumRetryCount: 0 });
  assertThrows(() => parseRestartPolicy("always:2"), TypeError);
  assertThrows(() => parseRestartPolicy("sometimes"), TypeError, "unknown policy");
  assertEquals(parseEnvFile("A=1\n# c\nB\nC=x=y\n", (k) => (k === "B" ? "2" : undefined)), [
    "A=1",
    "B=2",
    "C=x=y",
  ]);
  assertThrows(() => parseEnvFile("BAD KEY=1\n", () => undefined, "e.env"), TypeError, "e.env:1");
  assertThrows(
    () => parseEnvFile("A=1\n=x\n", () => undefined, "e.env"),
    TypeError,
    "e.env:2: no variable name in '=x'",
  );
  assertEquals(parseEnvFlags(["A=1", "B", "C", "D="], (k) => (k === "B" ? "2" : undefined)), [
    "A=1",
    "B=2",
    "D=",
  ]);
  assertThrows(() => parseEnvFlags(["=x"], () => undefined), TypeError, "invalid environment variable: =x");
  assertThrows(() => parseEnvFlags([""], () => undefined), TypeError, "invalid environment variable: ");
});

Deno.test("buildCreateRequest: flags into Docker's HostConfig, refused before anything exists", () => {
  const req = buildCreateRequest(
    {
      name: "web",
      env: ["B=2", "FROM_HOST"],
      "env-file": ["env.list"],
      memory: "32m",
      cpus: "0.5",
      "pids-limit": 20,
      rm: true,
      volume: ["/h:/c:ro"],
      label: ["k=v"],
      interactive: true,
      tty: true,
    },
    ["busybox", "echo", "hi"],
    host,
  );
  assertEquals(req.image, "busybox");
  assertEquals(req.cmd, ["echo", "hi"]);
  assertEquals(req.env, ["A=1", "FROM_HOST=yes", "B=2", "FROM_HOST=yes"]);
  assertEquals(req.hostConfig.Memory, 32 * 1024 * 1024);
  assertEquals(req.hostConfig.NanoCpus, 5e8);
  assertEquals(req.hostConfig.PidsLimit, 20);
  assertEquals(req.hostConfig.AutoRemove, true);
  assertEquals(req.hostConfig.Binds, ["/h:/c:ro"]);
  assertEquals(req.hostConfig.NetworkMode, "bridge"); // Docker's default
  assertEquals([req.labels, req.tty, req.openStdin], [{ k: "v" }, true, true]);
  const bad: [Record<string, unknown>, string][] = [
    [
      { workdir: "relative/dir" },
      "the working directory 'relative/dir' is invalid, it needs to be an absolute path",
    ],
    [{ memory: "1m" }, "Minimum memory limit allowed is 6MB"],
    [{ "memory-swap": "64m" }, "You should always set the Memory limit when using Memoryswap limit"],
    [{ memory: "64m", "memory-swap": "32m" }, "Minimum memoryswap limit should be larger than memory limit"],
    [{ cpus: "3" }, "range of CPUs is from 0.01 to 2.00"],
    [{ rm: true, restart: "always" }, "Conflicting options: --restart and --rm"],
    [{ name: "bad name!" }, "Invalid container name"],
    [{ "stop-signal": "SIGNOPE" }, "Invalid signal"],
    [{ volume: ["/a:/x"], tmpfs: ["/x"] }, "Duplicate mount point: /x"],
  ];
  for (const [flags, message] of bad) {
    assertThrows(() => buildCreateRequest(flags as never, ["busybox"], host), Error, message);
  }
});
