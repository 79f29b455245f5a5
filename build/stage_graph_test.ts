import { assertEquals, assertThrows } from "../tests/assert.ts";
import { parseDockerfileStages } from "./dockerfile/instructions.ts";
import { DockerfileParseError } from "./dockerfile/parser.ts";
import { globalScope, parseBuildArgs, platformArgs } from "./build_args.ts";
import { stageGraph } from "./stage_graph.ts";

const amd64 = { os: "linux", architecture: "amd64" };

function graph(text: string, target?: string, buildArgs: Record<string, string> = {}) {
  const df = parseDockerfileStages(text);
  const args = new Map(Object.entries(buildArgs));
  const globals = globalScope(df.metaArgs, args, platformArgs(amd64, amd64));
  return stageGraph(df, { globals, buildArgs: args, target });
}

Deno.test("stageGraph: independent stages build in one wave; the target waits", () => {
  const g = graph("FROM busybox AS a\nRUN x\nFROM busybox AS b\nRUN y\nFROM a\nCOPY --from=b /y /y\n");
  assertEquals(g.waves, [[0, 1], [2]]);
  assertEquals(g.nodes[2].base, { stage: 0 });
  assertEquals(g.nodes[2].dependsOn, [0, 1]);
});

Deno.test("stageGraph: stages the target does not need are skipped", () => {
  const g = graph("FROM busybox AS a\nFROM busybox AS unused\nFROM busybox AS c\nCOPY --from=a /x /x\n");
  assertEquals(g.needed, [0, 2]);
  const t = graph(
    "FROM busybox AS a\nFROM busybox AS unused\nFROM busybox AS c\nCOPY --from=a /x /x\n",
    "unused",
  );
  assertEquals(t.needed, [1]);
  assertEquals(t.target, 1);
});

Deno.test("stageGraph: --from by index, by image, and via ARG", () => {
  const g = graph(
    "FROM busybox\nFROM scratch\nARG SRC=0\nCOPY --from=$SRC /a /a\nCOPY --from=registry.local/tools:1 /b /b\n",
  );
  assertEquals(g.nodes[1].base, { scratch: true });
  assertEquals(g.nodes[1].dependsOn, [0]);
  assertEquals(g.nodes[1].copyImages, ["registry.local/tools:1"]);
  const h = graph("FROM busybox AS x\nFROM scratch\nARG SRC\nCOPY --from=$SRC /a /a\n", undefined, {
    SRC: "x",
  });
  assertEquals(h.nodes[1].dependsOn, [0]);
});

Deno.test("stageGraph: FROM uses global ARGs and platform args; names are case-insensitive", () => {
  const g = graph(
    "ARG BASE=Build\nFROM busybox AS build\nFROM ${BASE}\nFROM --platform=$BUILDPLATFORM img:$TARGETARCH\n",
  );
  assertEquals(g.nodes[1].base, { stage: 0 });
  assertEquals(g.nodes[2].base, { image: "img:amd64" });
  assertEquals(g.nodes[2].platform, "linux/amd64");
  const h = graph("ARG BASE=x\nFROM busybox AS build\nFROM ${BASE}\n", undefined, { BASE: "alpine:3" });
  assertEquals(h.nodes[1].base, { image: "alpine:3" });
});

Deno.test("stageGraph: a name defined later, or the stage itself, is an image", () => {
  const g = graph("FROM later AS first\nFROM busybox AS later\n");
  assertEquals(g.nodes[0].base, { image: "later" });
  const s = graph("FROM busybox AS busybox\n");
  assertEquals(s.nodes[0].base, { image: "busybox" });
});

Deno.test("stageGraph: mount from= is a dependency", () => {
  const g = graph("FROM busybox AS tools\nFROM busybox\nRUN --mount=type=bind,from=tools,target=/t true\n");
  assertEquals(g.nodes[1].dependsOn, [0]);
});

Deno.test("stageGraph: errors", () => {
  assertThrows(
    () => graph("FROM a\n", "nope"),
    DockerfileParseError,
    'target stage "nope" could not be found',
  );
  assertThrows(
    () => graph("ARG X\nFROM $X\n"),
    DockerfileParseError,
    "Dockerfile:2: base name ($X) should not be blank",
  );
  assertThrows(
    () => graph("FROM a\nCOPY --from=1 /a /b\n"),
    DockerfileParseError,
    "refers to current or future build stage",
  );
  assertThrows(() => graph("FROM ${X\n"), DockerfileParseError, "Dockerfile:1: failed to process");
});

Deno.test("globalScope: case 02 global ARG values", () => {
  const df = parseDockerfileStages(
    "ARG BASE_IMAGE\nARG GREETING=hello\nARG ONLY_GLOBAL=from-global\nARG D=${GREETING}-x\nFROM ${BASE_IMAGE}\n",
  );
  const g1 = globalScope(df.metaArgs, new Map([["BASE_IMAGE", "bb"], ["ONLY_GLOBAL", "cli"]]), new Map());
  assertEquals(Object.fromEntries(g1), {
    BASE_IMAGE: "bb",
    GREETING: "hello",
    ONLY_GLOBAL: "cli",
    D: "hello-x",
  });
  const g2 = globalScope(df.metaArgs, new Map([["GREETING", "hi"], ["UNDECLARED", "u"]]), new Map());
  assertEquals(Object.fromEntries(g2), { GREETING: "hi", ONLY_GLOBAL: "from-global", D: "hi-x" });
});

Deno.test("parseBuildArgs and platformArgs", () => {
  assertEquals(
    Object.fromEntries(parseBuildArgs(["A=1", "B=", "C=x=y", "HOME", "NOPE"], { HOME: "/root" })),
    {
      A: "1",
      B: "",
      C: "x=y",
      HOME: "/root",
    },
  );
  assertThrows(() => parseBuildArgs(["=x"], {}), TypeError);
  const p = platformArgs({ os: "linux", architecture: "arm", variant: "v7" }, amd64);
  assertEquals(p.get("TARGETPLATFORM"), "linux/arm/v7");
  assertEquals(p.get("TARGETVARIANT"), "v7");
  assertEquals(p.get("BUILDARCH"), "amd64");
  assertEquals(p.get("BUILDVARIANT"), "");
});
