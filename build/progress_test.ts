import { assertEquals, assertStringIncludes } from "../tests/assert.ts";
import type { BuildEvent } from "./builder.ts";
import { BuildProgress } from "./progress.ts";

const enc = new TextEncoder();

function render(mode: "plain" | "tty", events: BuildEvent[], columns = 60): string {
  let now = 1000;
  let out = "";
  const p = new BuildProgress({ mode, write: (t) => (out += t), columns, now: () => now });
  for (const e of events) {
    now += 100;
    p.handle(e);
  }
  p.close();
  return out;
}

const EVENTS: BuildEvent[] = [
  { type: "warning", message: "Dockerfile:2: Empty continuation line found" },
  { type: "step", id: 1, label: "[1/3] FROM busybox" },
  { type: "done", id: 1, ms: 0 },
  { type: "step", id: 2, label: "[2/3] COPY app/ /app/" },
  { type: "cached", id: 2 },
  { type: "step", id: 3, label: "[3/3] RUN make" },
  { type: "output", id: 3, chunk: enc.encode("cc -o app ma") },
  { type: "output", id: 3, chunk: enc.encode("in.c\nlinked\npartial") },
  { type: "done", id: 3, ms: 1234 },
  { type: "step", id: 4, label: "exporting to image" },
  { type: "status", id: 4, text: "naming to docker.io/library/app:latest done" },
  { type: "done", id: 4, ms: 40 },
];

Deno.test("BuildProgress plain: numbered vertices, timed output lines, CACHED/DONE, partial lines flushed", () => {
  assertEquals(
    render("plain", EVENTS),
    [
      "WARNING: Dockerfile:2: Empty continuation line found",
      "#1 [1/3] FROM busybox",
      "#1 DONE 0.0s",
      "",
      "#2 [2/3] COPY app/ /app/",
      "#2 CACHED",
      "",
      "#3 [3/3] RUN make",
      "#3 0.200 cc -o app main.c",
      "#3 0.200 linked",
      "#3 0.300 partial",
      "#3 DONE 1.2s",
      "",
      "#4 exporting to image",
      "#4 naming to docker.io/library/app:latest done",
      "#4 DONE 0.0s",
      "",
    ].join("\n") + "\n",
  );
});

Deno.test("BuildProgress plain: an error ends its vertex with ERROR", () => {
  const out = render("plain", [
    { type: "step", id: 7, label: "[2/2] RUN false" },
    {
      type: "error",
      id: 7,
      message: 'process "/bin/sh -c false" did not complete successfully: exit code: 1',
    },
  ]);
  assertEquals(
    out,
    '#7 [2/2] RUN false\n#7 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1\n\n',
  );
});

Deno.test("BuildProgress tty: finished steps become permanent lines with times; a FINISHED header last", () => {
  // deno-lint-ignore no-control-regex
  const out = render("tty", EVENTS).replace(/\x1b\[\d+A\x1b\[J/g, "");
  const lines = out.split("\n");
  assertStringIncludes(out, "WARNING: Dockerfile:2: Empty continuation line found\n");
  const finished = lines.filter((l) => l.startsWith(" => "));
  assertEquals(finished.map((l) => l.replace(/\s+\d+\.\ds$/, "")), [
    " => [1/3] FROM busybox",
    " => CACHED [2/3] COPY app/ /app/",
    " => [3/3] RUN make",
    " => exporting to image",
  ]);
  assertEquals(finished[2].length, 60);
  assertEquals(finished[2].slice(-4), "1.2s");
  assertEquals(lines.filter((l) => l.startsWith("[+] Building")).pop(), "[+] Building 1.2s (4/4) FINISHED");
});

Deno.test("BuildProgress tty: a failed step shows its last output lines and the error", () => {
  const out = render("tty", [
    { type: "step", id: 1, label: "[2/2] RUN make" },
    { type: "output", id: 1, chunk: enc.encode("one\ntwo\nthree\n") },
    { type: "error", id: 1, message: "exit code: 2" },
  ]);
  assertStringIncludes(out, " => => # one\n => => # two\n => => # three\n => ERROR: exit code: 2\n");
});
