import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import {
  type BenchReport,
  evaluate,
  readmeBlock,
  record,
  renderMarkdown,
  renderTable,
  replaceReadmeBlock,
  summarizeLoad,
} from "./report.ts";

Deno.test("ratios are ctr ÷ peer; goals on the ratio or on ctr's value, either direction", () => {
  const r = (x: Parameters<typeof evaluate>[0]) => evaluate(x);
  assertEquals(r({ figure: "t", unit: "s", ctr: 1, peer: 2, better: "lower", goal: { ratio: 1 } }).met, true);
  assertEquals(
    r({ figure: "t", unit: "s", ctr: 3, peer: 2, better: "lower", goal: { ratio: 1 } }).ratio,
    1.5,
  );
  assertEquals(
    r({ figure: "t", unit: "s", ctr: 3, peer: 2, better: "lower", goal: { ratio: 1 } }).met,
    false,
  );
  assertEquals(
    r({ figure: "b", unit: "MB/s", ctr: 300, peer: 100, better: "higher", goal: { ratio: 3 } }).met,
    true,
  );
  assertEquals(
    r({ figure: "b", unit: "MB/s", ctr: 299, peer: 100, better: "higher", goal: { ratio: 3 } }).met,
    false,
  );
  assertEquals(
    r({ figure: "v", unit: "ms", ctr: 101, peer: 10, better: "lower", goal: { value: 100 } }).met,
    false,
  );
  assertEquals(r({ figure: "v", unit: "ms", ctr: 90, better: "lower", goal: { value: 100 } }), {
    figure: "v",
    unit: "ms",
    ctr: 90,
    better: "lower",
    goal: { value: 100 },
    ratio: null,
    met: true,
  });
  // A ratio goal without a peer cannot be judged.
  assertEquals(
    r({ figure: "n", unit: "ms", ctr: 90, peer: null, better: "lower", goal: { ratio: 1 } }).met,
    null,
  );
  assertEquals(r({ figure: "n", unit: "ms", ctr: 90, peer: 80, better: "lower" }).met, null);
});

Deno.test("the table and the Markdown table hold every column", () => {
  const rows = [
    evaluate({
      figure: "unpack",
      unit: "s",
      ctr: 1.234,
      peer: 2,
      peerName: "umoci",
      better: "lower",
      goal: { ratio: 1 },
    }),
    evaluate({
      figure: "ratio",
      unit: "×",
      ctr: 0.9,
      peer: 1.01,
      peerName: "podman",
      better: "higher",
      goal: { value: 0.8 },
    }),
  ];
  const text = renderTable(rows);
  assertStringIncludes(text, "figure");
  assertStringIncludes(text, "1.23 s");
  assertStringIncludes(text, "0.62×");
  assertStringIncludes(text, "ratio ≤ 1.00");
  assertStringIncludes(text, "≥ 0.800×");
  const md = renderMarkdown(rows);
  assertEquals(md.split("\n").length, 4);
  assertStringIncludes(md, "| unpack | 1.23 s | 2.00 s | umoci | 0.62× | ratio ≤ 1.00 | yes |");
});

Deno.test("load samples are summarized; the README block is replaced between its markers", () => {
  assertEquals(summarizeLoad("1.00 0.5 0.2 1/100 5\n3.00 1 1 1/100 6\n"), {
    samples: 2,
    mean: 2,
    max: 3,
    min: 1,
  });
  assertEquals(summarizeLoad(""), null);
  const report: BenchReport = {
    date: "2025-01-01T00:00:00Z",
    commit: "abc",
    quick: false,
    seconds: 600,
    machine: { cpu: "CPU", cores: 2, memoryGiB: 8, kernel: "6.1", os: "Debian", deno: "2" },
    load: { samples: 1, mean: 1, max: 1, min: 1 },
    failed: [],
    figures: [evaluate({ figure: "f", unit: "ms", ctr: 1, better: "lower", goal: { value: 2 } })],
  };
  const block = readmeBlock(report);
  assertStringIncludes(block, "CPU, 2 cores, 8 GiB RAM, Linux 6.1");
  assertStringIncludes(block, "1 of 1 goals met");
  const readme = `# Bench\n\nintro\n\n${readmeBlock({ ...report, commit: "old" })}\n\nafter\n`;
  const updated = replaceReadmeBlock(readme, block);
  assert(updated.startsWith("# Bench\n\nintro\n\n"));
  assert(updated.endsWith("\n\nafter\n"));
  assertStringIncludes(updated, "`abc`");
  assert(!updated.includes("`old`"));
  assertStringIncludes(replaceReadmeBlock("# Bench\n", block), block);
});

Deno.test("record() appends to $CTR_BENCH_RECORDS", async () => {
  const file = await Deno.makeTempFile();
  const before = Deno.env.get("CTR_BENCH_RECORDS");
  Deno.env.set("CTR_BENCH_RECORDS", file);
  try {
    record({ figure: "a", unit: "ms", ctr: 1, better: "lower", bench: "x" });
    record({ figure: "b", unit: "ms", ctr: 2, better: "lower", bench: "x" });
    const lines = (await Deno.readTextFile(file)).trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines.map((l) => [l.figure, l.ctr, l.bench]), [["a", 1, "x"], ["b", 2, "x"]]);
  } finally {
    if (before === undefined) Deno.env.delete("CTR_BENCH_RECORDS");
    else Deno.env.set("CTR_BENCH_RECORDS", before);
    await Deno.remove(file);
  }
});
