import { assertEquals, assertNotEquals } from "../tests/assert.ts";
import { globalScope, platformArgs } from "./build_args.ts";
import { baseCacheKey, canonicalJson, contentDigest, stepCacheKey } from "./cache_key.ts";
import type { CopyItem } from "./copy_plan.ts";
import { parseDockerfileStages } from "./dockerfile/instructions.ts";
import { StageState } from "./stage_state.ts";

const amd64 = { os: "linux", architecture: "amd64" };

/** The chain of cache keys of the first stage, with `content` standing for every COPY's sources. */
function keys(text: string, buildArgs: Record<string, string> = {}, content = "sha256:c"): string[] {
  const df = parseDockerfileStages(text);
  const args = new Map(Object.entries(buildArgs));
  const globals = globalScope(df.metaArgs, args, platformArgs(amd64, amd64));
  const s = new StageState({
    stage: df.stages[0],
    base: {},
    platform: amd64,
    globals,
    buildArgs: args,
    created: "1970-01-01T00:00:00Z",
  });
  let parent = baseCacheKey("scratch", "linux/amd64");
  const out: string[] = [];
  for (const step of s.steps()) {
    parent = stepCacheKey(parent, step, step.kind === "copy" ? { content } : {});
    out.push(parent);
  }
  return out;
}

const DF = "FROM scratch\nARG V=1\nRUN echo a\nCOPY . /app\nRUN echo $V\nENV E=1\nRUN echo b\n";

Deno.test("cache keys: identical inputs give identical keys", () => {
  assertEquals(keys(DF), keys(DF));
});

Deno.test("cache keys: a changed source changes that COPY and everything after, nothing before", () => {
  const a = keys(DF);
  const b = keys(DF, {}, "sha256:other");
  assertEquals(a.slice(0, 2), b.slice(0, 2));
  for (let i = 2; i < a.length; i++) assertNotEquals(a[i], b[i], `step ${i}`);
});

Deno.test("cache keys: a changed ARG value changes the steps after the ARG", () => {
  const a = keys(DF);
  const b = keys(DF, { V: "2" });
  for (let i = 0; i < a.length; i++) assertNotEquals(a[i], b[i], `step ${i}`);
  const c = keys("FROM scratch\nRUN echo a\nARG V=1\nRUN echo b\n");
  const d = keys("FROM scratch\nRUN echo a\nARG V=1\nRUN echo b\n", { V: "2" });
  assertEquals(c[0], d[0]);
  assertNotEquals(c[2], d[2]);
});

Deno.test("cache keys: an undeclared build arg changes nothing; proxies stay out", () => {
  assertEquals(keys(DF), keys(DF, { UNUSED: "x", HTTP_PROXY: "http://p" }));
});

Deno.test("cache keys: base image and platform matter", () => {
  assertNotEquals(baseCacheKey("sha256:a", "linux/amd64"), baseCacheKey("sha256:b", "linux/amd64"));
  assertNotEquals(baseCacheKey("sha256:a", "linux/amd64"), baseCacheKey("sha256:a", "linux/arm64"));
});

Deno.test("contentDigest covers paths, modes, owners and bytes", () => {
  const item = (to: string, mode = 0o644): CopyItem => ({
    from: "f",
    to,
    entry: { path: "f", type: "file", mode, uid: 0, gid: 0, size: 1, mtimeMs: 5 },
  });
  const d = (items: CopyItem[], bytes = "sha256:1", owner?: { uid: number; gid: number }) =>
    contentDigest(items, () => bytes, owner);
  const base = d([item("/a")]);
  assertEquals(base, d([item("/a")]));
  assertNotEquals(base, d([item("/b")]));
  assertNotEquals(base, d([item("/a", 0o755)]));
  assertNotEquals(base, d([item("/a")], "sha256:2"));
  assertNotEquals(base, d([item("/a")], "sha256:1", { uid: 1, gid: 1 }));
});

Deno.test("canonicalJson sorts keys and drops undefined", () => {
  assertEquals(canonicalJson({ b: 1, a: [1, { d: undefined, c: "x" }] }), '{"a":[1,{"c":"x"}],"b":1}');
});
