import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { defaultHostConfig } from "./container_config.ts";
import { type Container, containerPaths, initialState } from "./container_store.ts";
import {
  commandText,
  humanDuration,
  inspectContainer,
  matchesFilters,
  parsePsFilters,
  psRow,
  statusText,
} from "./inspect.ts";

function container(overrides: Partial<Container> = {}, state: Partial<Container["State"]> = {}): Container {
  return {
    Id: "a".repeat(64),
    Name: "web",
    Created: 1_000_000,
    ImageId: "sha256:" + "b".repeat(64),
    ImageDigest: "sha256:" + "c".repeat(64),
    Config: {
      Hostname: "aaaaaaaaaaaa",
      Domainname: "",
      User: "",
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: [],
      Cmd: ["sh", "-c", "while :; do sleep 1; done"],
      Entrypoint: null,
      Image: "busybox",
      Volumes: null,
      WorkingDir: "",
      Labels: { tier: "front" },
    },
    HostConfig: defaultHostConfig(),
    LowerDirs: ["/s/1"],
    AnonymousVolumes: [],
    VolumeMap: {},
    ...overrides,
    State: { ...initialState(), ...state },
  };
}

Deno.test("inspect: Docker's human durations", () => {
  const cases: [number, string][] = [
    [500, "Less than a second"],
    [1000, "1 second"],
    [42_000, "42 seconds"],
    [90_000, "About a minute"],
    [600_000, "10 minutes"],
    [3_600_000, "About an hour"],
    [5 * 3_600_000, "5 hours"],
    [3 * 86_400_000, "3 days"],
    [21 * 86_400_000, "3 weeks"],
  ];
  for (const [ms, text] of cases) assertEquals(humanDuration(ms), text);
});

Deno.test("inspect: ps status texts for each state", () => {
  const now = 10_000_000;
  assertEquals(statusText(container({}, { Status: "running", StartedAt: now - 3000 }), now), "Up 3 seconds");
  assertEquals(
    statusText(container({}, { Status: "paused", StartedAt: now - 3000 }), now),
    "Up 3 seconds (Paused)",
  );
  assertEquals(
    statusText(container({}, { Status: "exited", ExitCode: 137, FinishedAt: now - 120_000 }), now),
    "Exited (137) 2 minutes ago",
  );
  assertEquals(statusText(container(), now), "Created");
  assertEquals(commandText(container()), '"sh -c while :; do s…"'); // 19 characters and the ellipsis
  const row = psRow(container({}, { Status: "running", StartedAt: now }), now);
  assertEquals([row.ID, row.Names, row.State, row.Image, row.Labels], [
    "aaaaaaaaaaaa",
    "web",
    "running",
    "busybox",
    "tier=front",
  ]);
});

Deno.test("inspect: ps filters — same key OR'ed, different keys AND'ed", () => {
  const a = container({}, { Status: "exited", ExitCode: 3 });
  const b = container({ Id: "b".repeat(64), Name: "db", Created: 2_000_000 }, { Status: "running" });
  const all = [a, b];
  assert(matchesFilters(a, ["status=exited", "status=running"], all));
  assert(!matchesFilters(a, ["status=exited", "name=db"], all));
  assert(matchesFilters(a, ["exited=3", "label=tier=front", "ancestor=busybox"], all));
  assert(matchesFilters(a, ["before=db"], all));
  assert(matchesFilters(b, ["since=web", "id=bbb"], all));
  assertThrows(() => matchesFilters(a, ["colour=blue"], all), TypeError, "invalid filter");
});

Deno.test("inspect: bad ps filters are refused whole, before any container is looked at", () => {
  assertEquals([...parsePsFilters(["status=exited", "name=w", "status=paused"])], [
    ["status", ["exited", "paused"]],
    ["name", ["w"]],
  ]);
  assertThrows(() => parsePsFilters(["name=web", "colour=blue"]), TypeError, "invalid filter 'colour'");
  assertThrows(
    () => parsePsFilters(["status=bogus"]),
    TypeError,
    "invalid filter 'status=bogus': a status is one of",
  );
  assertThrows(() => parsePsFilters(["exited=abc"]), TypeError, "invalid filter 'exited=abc'");
  assertThrows(() => parsePsFilters(["name=["]), TypeError, "invalid filter 'name=['");
  assertThrows(() => parsePsFilters(["name"]), TypeError, "bad format of filter");
  // A later bad key is found even when an earlier one already rules the container out.
  const a = container({}, { Status: "running" });
  assertThrows(() => matchesFilters(a, ["status=exited", "colour=blue"], [a]), TypeError, "invalid filter");
});

Deno.test("inspect: Docker-shaped document", () => {
  const c = container({}, {
    Status: "exited",
    ExitCode: 137,
    OOMKilled: true,
    StartedAt: 1000,
    FinishedAt: 2000,
    Pid: 0,
  });
  const doc = inspectContainer(c, containerPaths("/r", c.Id));
  assertEquals(doc.State.Status, "exited");
  assertEquals([doc.State.Running, doc.State.ExitCode, doc.State.OOMKilled, doc.State.Pid], [
    false,
    137,
    true,
    0,
  ]);
  assertEquals(doc.State.StartedAt, "1970-01-01T00:00:01.000Z");
  assertEquals(doc.Name, "/web");
  assertEquals(doc.Path, "sh");
  assertEquals(doc.GraphDriver.Data.UpperDir, `/r/containers/${c.Id}/upper`);
  assertEquals(
    inspectContainer(container(), containerPaths("/r", c.Id)).State.StartedAt,
    "0001-01-01T00:00:00Z",
  );
});
