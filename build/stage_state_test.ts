import { assertEquals, assertThrows } from "../tests/assert.ts";
import type { ImageConfig } from "../image/oci.ts";
import { globalScope, platformArgs } from "./build_args.ts";
import { parseDockerfileStages } from "./dockerfile/instructions.ts";
import { DockerfileParseError } from "./dockerfile/parser.ts";
import { DEFAULT_PATH, exposedPorts, type RunStep, StageState, type Step } from "./stage_state.ts";

const amd64 = { os: "linux", architecture: "amd64" };
const EPOCH = "1970-01-01T00:00:00Z";

function states(text: string, buildArgs: Record<string, string> = {}, base?: ImageConfig): StageState[] {
  const df = parseDockerfileStages(text);
  const args = new Map(Object.entries(buildArgs));
  const globals = globalScope(df.metaArgs, args, platformArgs(amd64, amd64));
  return df.stages.map((stage) =>
    new StageState({
      stage,
      base: { config: base },
      platform: amd64,
      globals,
      buildArgs: args,
      created: EPOCH,
    })
  );
}

function run(state: StageState): Step[] {
  const steps: Step[] = [];
  for (const s of state.steps()) {
    steps.push(s);
    if (s.kind !== "meta") state.commitLayer(s, `sha256:${"0".repeat(63)}${steps.length % 10}`);
  }
  return steps;
}

function runSteps(text: string, buildArgs: Record<string, string> = {}): RunStep[][] {
  return states(text, buildArgs).map((s) => run(s).filter((x): x is RunStep => x.kind === "run"));
}

const CASE02 = `ARG BASE_IMAGE
ARG GREETING=hello
ARG ONLY_GLOBAL=from-global
FROM \${BASE_IMAGE} AS first
ARG GREETING
ARG STAGE_LOCAL=one
RUN printf '%s|%s|%s' "$GREETING" "$ONLY_GLOBAL" "$STAGE_LOCAL" > /first.txt

FROM \${BASE_IMAGE}
COPY --from=first /first.txt /first.txt
RUN printf '%s|%s' "$GREETING" "$STAGE_LOCAL" > /second.txt
ARG GREETING
RUN printf '%s' "$GREETING" > /third.txt
`;

function envOf(step: RunStep): Record<string, string> {
  return Object.fromEntries(step.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

Deno.test("StageState: case 02 — ARG scope before FROM and per stage (build 1)", () => {
  const [[first], [second, third]] = runSteps(CASE02, { BASE_IMAGE: "bb", ONLY_GLOBAL: "cli" });
  const e1 = envOf(first);
  assertEquals([e1.GREETING, e1.ONLY_GLOBAL, e1.STAGE_LOCAL], ["hello", undefined, "one"]);
  const e2 = envOf(second);
  assertEquals([e2.GREETING, e2.STAGE_LOCAL], [undefined, undefined]);
  assertEquals(envOf(third).GREETING, "hello");
  assertEquals(first.createdBy.startsWith("RUN |2 GREETING=hello STAGE_LOCAL=one /bin/sh -c printf"), true);
  assertEquals(second.createdBy.startsWith("RUN /bin/sh -c printf"), true);
  assertEquals(third.createdBy.startsWith("RUN |1 GREETING=hello /bin/sh -c"), true);
});

Deno.test("StageState: case 02 — command-line value reaches a re-declared ARG (build 2)", () => {
  const [[first], [second, third]] = runSteps(CASE02, { BASE_IMAGE: "bb", GREETING: "hi" });
  assertEquals(envOf(first).GREETING, "hi");
  assertEquals(envOf(second).GREETING, undefined);
  assertEquals(envOf(third).GREETING, "hi");
});

Deno.test("StageState: RUN shell and exec forms, env, user, workdir, PATH default", () => {
  const [steps] = runSteps(
    'FROM x\nENV A=1\nUSER 1000\nWORKDIR /app\nRUN echo $A\nRUN ["ls", "-l"]\nSHELL ["/bin/bash","-eo","pipefail","-c"]\nRUN false | true\n',
  );
  assertEquals(steps[0].argv, ["/bin/sh", "-c", "echo $A"]);
  assertEquals(steps[0].user, "1000");
  assertEquals(steps[0].workdir, "/app");
  assertEquals(envOf(steps[0]), { PATH: DEFAULT_PATH, A: "1" });
  assertEquals(steps[1].argv, ["ls", "-l"]);
  assertEquals(steps[1].createdBy, "RUN ls -l # buildkit");
  assertEquals(steps[2].argv, ["/bin/bash", "-eo", "pipefail", "-c", "false | true"]);
});

Deno.test("StageState: ENV pairs see the environment before the instruction; ENV and ARG order", () => {
  const [s] = states("FROM x\nENV A=hello\nENV A=bye B=$A\nARG C=$B-arg\nENV D=${C}\nRUN true\n");
  const steps = run(s);
  const r = steps.find((x) => x.kind === "run") as RunStep;
  const e = envOf(r);
  assertEquals([e.A, e.B, e.C, e.D], ["bye", "hello", "hello-arg", "hello-arg"]);
  const cfg = s.imageConfig();
  assertEquals(cfg.config!.Env, [`PATH=${DEFAULT_PATH}`, "A=bye", "B=hello", "D=hello-arg"]);
});

Deno.test("StageState: image config fields as Docker fills them", () => {
  const [s] = states(
    `FROM x
LABEL a=1 "b c"="d e"
MAINTAINER me
EXPOSE 80 53/udp
ENV P=8000
EXPOSE $P-8001
VOLUME /data
USER app
WORKDIR /srv
WORKDIR sub
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo triggered
ENTRYPOINT ["/entry"]
CMD ["arg"]
`,
    { IGNORED: "x" },
  );
  run(s);
  const img = s.imageConfig({ extra: "label" });
  assertEquals(img.author, "me");
  assertEquals(img.created, EPOCH);
  assertEquals(img.config, {
    Env: [`PATH=${DEFAULT_PATH}`, "P=8000"],
    WorkingDir: "/srv/sub",
    Labels: { a: "1", "b c": "d e", extra: "label" },
    ExposedPorts: { "80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {} },
    Volumes: { "/data": {} },
    User: "app",
    StopSignal: "SIGINT",
    Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 5e9 },
    OnBuild: ["RUN echo triggered"],
    Entrypoint: ["/entry"],
    Cmd: ["arg"],
  });
  assertEquals(img.history!.map((h) => h.created_by), [
    "LABEL a=1 b c=d e",
    "MAINTAINER me",
    "EXPOSE 80 53/udp",
    "ENV P=8000",
    "EXPOSE 8000-8001",
    "VOLUME [/data]",
    "USER app",
    "WORKDIR /srv",
    "WORKDIR /srv/sub",
    "STOPSIGNAL SIGINT",
    'HEALTHCHECK ["CMD-SHELL" "true"]',
    "ONBUILD RUN echo triggered",
    'ENTRYPOINT ["/entry"]',
    'CMD ["arg"]',
  ]);
  assertEquals(img.history!.filter((h) => h.empty_layer).length, 12);
  assertEquals(img.rootfs.diff_ids.length, 2);
  assertEquals(img.history![0].comment, "buildkit.dockerfile.v0");
});

Deno.test("StageState: ENTRYPOINT drops an inherited CMD; shell-form CMD uses SHELL", () => {
  const base: ImageConfig = {
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["sh"], Env: ["PATH=/bin"] },
    rootfs: { type: "layers", diff_ids: ["sha256:" + "a".repeat(64)] },
    history: [{ created_by: "base" }],
  };
  const [s] = states("FROM x\nENTRYPOINT top -b\n", {}, base);
  run(s);
  const img = s.imageConfig();
  assertEquals(img.config!.Entrypoint, ["/bin/sh", "-c", "top -b"]);
  assertEquals(img.config!.Cmd, undefined);
  assertEquals(img.rootfs.diff_ids, ["sha256:" + "a".repeat(64)]);
  assertEquals(img.history!.length, 2);
  const [t] = states('FROM x\nCMD ["a"]\nENTRYPOINT ["b"]\n', {}, base);
  run(t);
  assertEquals(t.imageConfig().config!.Cmd, ["a"]);
});

Deno.test("StageState: ONBUILD triggers of the base run first and are not inherited", () => {
  const base: ImageConfig = {
    architecture: "amd64",
    os: "linux",
    config: { OnBuild: ["RUN echo from-trigger", "ENV T=1"] },
    rootfs: { type: "layers", diff_ids: [] },
  };
  const [s] = states("FROM x\nRUN echo own\n", {}, base);
  const steps = run(s);
  assertEquals(steps.map((x) => [x.kind, x.trigger]), [["run", true], ["meta", true], ["run", false]]);
  assertEquals((steps[0] as RunStep).argv, ["/bin/sh", "-c", "echo from-trigger"]);
  assertEquals(s.imageConfig().config!.OnBuild, undefined);
  assertEquals(envOf(steps[2] as RunStep).T, "1");
});

Deno.test("StageState: WORKDIR makes a layer step with the current USER (case 04)", () => {
  const [s] = states("FROM x\nWORKDIR /existing\nUSER 1001:1001\nWORKDIR /made/by/user\nWORKDIR /\n");
  const steps = [...s.steps()];
  assertEquals(steps.map((x) => x.kind), ["workdir", "meta", "workdir", "meta"]);
  assertEquals(steps[0].kind === "workdir" && [steps[0].path, steps[0].user], ["/existing", ""]);
  assertEquals(steps[2].kind === "workdir" && [steps[2].path, steps[2].user], ["/made/by/user", "1001:1001"]);
});

Deno.test("StageState: an empty layer is dropped and marked empty_layer", () => {
  const [s] = states("FROM x\nWORKDIR /a\nRUN true\n");
  const steps = [...s.steps()];
  s.commitLayer(steps[0] as RunStep, null);
  s.commitLayer(steps[1] as RunStep, "sha256:" + "b".repeat(64));
  const img = s.imageConfig();
  assertEquals(img.rootfs.diff_ids, ["sha256:" + "b".repeat(64)]);
  assertEquals(img.history!.map((h) => [h.created_by, h.empty_layer ?? false]), [
    ["WORKDIR /a", true],
    ["RUN /bin/sh -c true # buildkit", false],
  ]);
});

Deno.test("StageState: COPY/ADD expansion and history text", () => {
  const [s] = states(
    "FROM x\nARG V=1\nENV D=/opt/app U=1000\nCOPY --chown=$U:$U --chmod=644 src-$V/ $D/\nCOPY --from=build-$V /out /\nADD --checksum=sha256:abc https://h/x.tgz /x\nCOPY <<EOF <<'RAW' /etc/\nv=$V \"q\"\nEOF\nv=$V\nRAW\n",
  );
  const steps = [...s.steps()].filter((x) => x.kind === "copy");
  if (
    steps[0].kind !== "copy" || steps[1].kind !== "copy" || steps[2].kind !== "copy" ||
    steps[3].kind !== "copy"
  ) {
    throw new Error("expected copy steps");
  }
  assertEquals([steps[0].sources, steps[0].dest, steps[0].chown, steps[0].chmod], [
    ["src-1/"],
    "/opt/app/",
    "1000:1000",
    "644",
  ]);
  assertEquals(steps[0].createdBy, "COPY --chown=1000:1000 --chmod=644 src-1/ /opt/app/ # buildkit");
  assertEquals(steps[1].from, "build-1");
  assertEquals(steps[1].createdBy, "COPY /out / # buildkit");
  assertEquals([steps[2].add, steps[2].checksum], [true, "sha256:abc"]);
  assertEquals(steps[3].contents.map((c) => c.data), ['v=1 "q"\n', "v=$V\n"]);
  assertEquals(steps[3].createdBy, "COPY <<EOF <<RAW /etc/ # buildkit");
});

Deno.test("StageState: RUN heredocs", () => {
  const [steps] = runSteps(
    "FROM x\nRUN <<EOF\necho a\necho b\nEOF\nRUN <<-EOF\n\t#!/usr/bin/env sh\n\techo c\n\tEOF\nRUN cat <<A > /a && cat <<B > /b\n1\nA\n2\nB\n",
  );
  assertEquals(steps[0].argv, ["/bin/sh", "-c", "echo a\necho b\n"]);
  assertEquals(steps[1].argv, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
  assertEquals(steps[1].files, [{
    path: "/dev/pipes/EOF",
    data: "#!/usr/bin/env sh\necho c\n",
    mode: 0o755,
  }]);
  assertEquals(steps[2].argv, ["/bin/sh", "-c", "cat <<A > /a && cat <<B > /b\n1\nA\n2\nB"]);
});

Deno.test("StageState: RUN mounts and network", () => {
  const [steps] = runSteps(
    "FROM x\nARG C=/cache\nWORKDIR /w\nRUN --mount=type=cache,target=$C --mount=type=secret,id=tok --mount=type=bind,from=b,source=/o,target=rel --network=none true\n",
  );
  assertEquals(steps[0].network, "none");
  assertEquals(steps[0].mounts.map((m) => [m.type, m.target, m.readonly]), [
    ["cache", "/cache", false],
    ["secret", "/run/secrets/tok", true],
    ["bind", "/w/rel", true],
  ]);
});

Deno.test("StageState: proxy args reach RUN without ARG and stay out of history", () => {
  const [steps] = runSteps("FROM x\nRUN true\n", { HTTP_PROXY: "http://p:3128", OTHER: "x" });
  assertEquals(envOf(steps[0]).HTTP_PROXY, "http://p:3128");
  assertEquals(envOf(steps[0]).OTHER, undefined);
  assertEquals(steps[0].createdBy, "RUN /bin/sh -c true # buildkit");
});

Deno.test("StageState: errors carry the instruction's line", () => {
  const bad: [string, string][] = [
    ["FROM x\n\nEXPOSE abc\n", "Dockerfile:3: invalid containerPort: abc"],
    ["FROM x\nSTOPSIGNAL NOPE\n", "Dockerfile:2: Invalid signal: NOPE"],
    ["FROM x\nENV A=${B:?unset}\n", "Dockerfile:2: failed to process"],
    ["FROM x\nRUN --mount=type=nfs,target=/x true\n", 'Dockerfile:2: unsupported mount type "nfs"'],
    ["FROM x\nRUN --network=bridge true\n", 'Dockerfile:2: unsupported network mode "bridge"'],
    ["FROM x\nCOPY --chmod=abc a b\n", 'Dockerfile:2: invalid chmod parameter: "abc"'],
  ];
  for (const [text, want] of bad) {
    assertThrows(() => states(text).forEach((s) => run(s)), DockerfileParseError, want);
  }
});

Deno.test("exposedPorts", () => {
  assertEquals(exposedPorts(["80", "443/TCP", "53/udp", "1-3/sctp", "127.0.0.1:8080:80"]), [
    "80/tcp",
    "443/tcp",
    "53/udp",
    "1/sctp",
    "2/sctp",
    "3/sctp",
    "80/tcp",
  ]);
  assertThrows(() => exposedPorts(["70000"]));
  assertThrows(() => exposedPorts(["5-1"]));
});
