import { assertEquals } from "../../tests/assert.ts";
import { createProgress, humanSize, progressBar } from "./progress.ts";

Deno.test("humanSize: Docker's decimal units, four significant digits", () => {
  const cases: [number, string][] = [
    [0, "0B"],
    [999, "999B"],
    [1000, "1kB"],
    [528_000, "528kB"],
    [3_146_000, "3.146MB"],
    [27_140_000, "27.14MB"],
    [1_500_000_000, "1.5GB"],
  ];
  for (const [n, want] of cases) assertEquals(humanSize(n), want, String(n));
});

Deno.test("progressBar: 50 columns with a head", () => {
  assertEquals(progressBar({ current: 0, total: 100 }), `[>${" ".repeat(49)}]       0B/100B`);
  assertEquals(
    progressBar({ current: 50, total: 100 }),
    `[${"=".repeat(25)}>${" ".repeat(24)}]      50B/100B`,
  );
  assertEquals(progressBar({ current: 100, total: 100 }), `[${"=".repeat(49)}>]     100B/100B`);
});

Deno.test("createProgress: plain lines without bars outside a terminal", () => {
  let out = "";
  const p = createProgress({ tty: false, write: (t) => out += t });
  p.message("1: Pulling from team/app");
  p.update("aaa", "Pulling fs layer");
  p.update("aaa", "Downloading", { current: 1, total: 2 });
  p.update("aaa", "Downloading", { current: 2, total: 2 });
  p.update("aaa", "Download complete");
  p.update("aaa", "Download complete");
  p.update("bbb", "Already exists");
  p.close();
  assertEquals(
    out,
    "1: Pulling from team/app\naaa: Pulling fs layer\naaa: Download complete\nbbb: Already exists\n",
  );
});

Deno.test("createProgress: a terminal gets each layer's line redrawn in place", () => {
  let out = "";
  const p = createProgress({ tty: true, write: (t) => out += t, throttleMs: 0 });
  p.update("aaa", "Waiting");
  p.update("bbb", "Waiting");
  out = "";
  p.update("aaa", "Downloading", { current: 1, total: 2 });
  // two lines up, clear, draw, two lines down
  assertEquals(out, `\x1b[2A\r\x1b[2Kaaa: Downloading ${progressBar({ current: 1, total: 2 })}\r\x1b[2B`);
  out = "";
  p.update("bbb", "Pull complete");
  assertEquals(out, "\x1b[1A\r\x1b[2Kbbb: Pull complete\r\x1b[1B");
});
