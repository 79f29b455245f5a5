/**
 * The one results table of `bench/run`: every benchmark calls {@linkcode record} for each
 * figure it measures; `bench/run` collects the records of all of them and renders one table
 * (figure, ctr, peer, ratio, goal, met?) and one JSON document with the machine it ran on.
 *
 * ```text
 * bench/results/
 * ├── records.jsonl     one JSON record per line, appended by record() during a run
 * ├── latest.json       the last full run: machine, load, duration, every figure
 * └── latest-quick.json the last `bench/run --quick`
 * ```
 *
 * A benchmark run on its own (`deno run -A bench/x.ts`) still prints its own detailed
 * output; `record()` then also prints the figure's row. Under `bench/run` the environment
 * variable `CTR_BENCH_RECORDS` names the file records are appended to.
 *
 * Ratios are always ctr ÷ peer in the figure's own unit; `better` says which way is good
 * (`lower` for times and memory, `higher` for throughput). A goal is either on that ratio
 * (`{ ratio: 1.0 }`: ctr/peer ≤ 1.0 when lower is better) or on ctr's value alone
 * (`{ value: 100 }`: ctr ≤ 100 ms).
 *
 *     deno run -A bench/report.ts summarize RECORDS.jsonl OUT.json [--readme bench/README.md] [--load LOADFILE] [--seconds N] [--quick]
 *
 * @module
 */

/** A goal on the ctr ÷ peer ratio, or on ctr's own value. */
export type Goal = { ratio: number } | { value: number };

/** One measured figure. */
export interface BenchRecord {
  /** What was measured, e.g. `run --rm busybox true (no network)`. */
  figure: string;
  /** Unit of `ctr` and `peer`: `ms`, `s`, `MB/s`, `req/s`, `MB`. */
  unit: string;
  ctr: number;
  /** The peer's value in the same unit, when a peer was measured. */
  peer?: number | null;
  /** Who the peer is (`umoci`, `crun`, `docker`, `skopeo`, `distribution`, `buildkit`…). */
  peerName?: string;
  goal?: Goal;
  better: "lower" | "higher";
  /** Which benchmark file recorded it (filled in by {@linkcode record}). */
  bench?: string;
  /** Free-form remark shown in the JSON (e.g. how many runs). */
  note?: string;
}

/** A record with its derived ratio and goal verdict. */
export interface BenchRow extends BenchRecord {
  ratio: number | null;
  met: boolean | null;
}

/**
 * Records one figure: appended to `$CTR_BENCH_RECORDS` under `bench/run`, and printed.
 *
 * @example
 * ```ts
 * record({ figure: "unpack debian (disk)", unit: "s", ctr: 1.21, peer: 1.93, peerName: "umoci",
 *   goal: { ratio: 1 }, better: "lower" });
 * ```
 */
export function record(r: BenchRecord): void {
  const bench = r.bench ?? new URL(Deno.mainModule).pathname.split("/").pop()?.replace(/\.ts$/, "");
  const full: BenchRecord = { ...r, bench };
  const file = Deno.env.get("CTR_BENCH_RECORDS");
  if (file) Deno.writeTextFileSync(file, JSON.stringify(full) + "\n", { append: true, create: true });
  const row = evaluate(full);
  console.log(`  [record] ${renderTable([row]).split("\n").slice(2).join("\n").trim()}`);
}

/**
 * The ratio (ctr ÷ peer) and whether the goal is met.
 *
 * @example
 * ```ts
 * evaluate({ figure: "x", unit: "ms", ctr: 50, peer: 100, better: "lower", goal: { ratio: 1 } });
 * // → { …, ratio: 0.5, met: true }
 * ```
 */
export function evaluate(r: BenchRecord): BenchRow {
  const ratio = r.peer ? r.ctr / r.peer : null;
  let met: boolean | null = null;
  if (r.goal && "ratio" in r.goal && ratio !== null) {
    met = r.better === "lower" ? ratio <= r.goal.ratio : ratio >= r.goal.ratio;
  } else if (r.goal && "value" in r.goal) {
    met = r.better === "lower" ? r.ctr <= r.goal.value : r.ctr >= r.goal.value;
  }
  return { ...r, ratio, met };
}

/** A number with about three significant digits. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return "-";
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** The goal as text: `ratio ≤ 1.00`, `≤ 100 ms`. */
export function goalText(r: BenchRecord): string {
  if (!r.goal) return "";
  const op = r.better === "lower" ? "≤" : "≥";
  return "ratio" in r.goal
    ? `ratio ${op} ${r.goal.ratio.toFixed(2)}`
    : `${op} ${withUnit(r.goal.value, r.unit)}`;
}

/** A value with its unit: `12.5 ms`, `0.43×`. */
function withUnit(x: number, unit: string): string {
  return unit === "×" ? `${formatNumber(x)}×` : `${formatNumber(x)} ${unit}`;
}

function cells(r: BenchRow): string[] {
  return [
    r.figure,
    withUnit(r.ctr, r.unit),
    r.peer ? withUnit(r.peer, r.unit) : "-",
    r.peerName ?? "-",
    r.ratio === null ? "-" : `${r.ratio.toFixed(2)}×`,
    goalText(r) || "-",
    r.met === null ? "-" : r.met ? "yes" : "NO",
  ];
}

const HEADER = ["figure", "ctr", "peer", "peer is", "ratio", "goal", "met?"];

/**
 * The rows as an aligned plain-text table.
 *
 * @example
 * ```ts
 * console.log(renderTable(records.map(evaluate)));
 * ```
 */
export function renderTable(rows: BenchRow[]): string {
  const all = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => [...r[i]].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(all[0]), widths.map((w) => "-".repeat(w)).join("  "), ...all.slice(1).map(line)].join("\n");
}

/**
 * The rows as a Markdown table (numbers right-aligned).
 *
 * @example
 * ```ts
 * renderMarkdown(rows); // "| figure | ctr | … |\n| --- | ---: | … |\n…"
 * ```
 */
export function renderMarkdown(rows: BenchRow[]): string {
  const md = (r: string[]) => `| ${r.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [md(HEADER), "| --- | ---: | ---: | --- | ---: | --- | --- |", ...rows.map((r) => md(cells(r)))]
    .join(
      "\n",
    );
}

/** The machine a run happened on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  deno: string;
}

/** CPU model, cores, RAM, kernel and OS of this machine. */
export function machineInfo(): MachineInfo {
  const read = (p: string) => {
    try {
      return Deno.readTextFileSync(p);
    } catch {
      return "";
    }
  };
  const cpuinfo = read("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].trim() ?? "unknown";
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1] ?? 0);
  const cpu = mhz ? `${model} (${(mhz / 1000).toFixed(1)} GHz)` : model;
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(read("/proc/meminfo"))?.[1] ?? 0);
  const os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(read("/etc/os-release"))?.[1] ?? Deno.build.os;
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(memKb / 1024 / 1024 * 10) / 10,
    kernel: read("/proc/sys/kernel/osrelease").trim(),
    os,
    deno: Deno.version.deno,
  };
}

/** Load averages sampled during a run (the 1-minute figure of `/proc/loadavg`). */
export interface LoadSummary {
  samples: number;
  mean: number;
  max: number;
  min: number;
}

/** Summarizes lines of `/proc/loadavg` (one sample per line). */
export function summarizeLoad(text: string): LoadSummary | null {
  const nums = text.split("\n").filter((l) => l.trim()).map((l) => Number(l.split(" ")[0]))
    .filter((x) => Number.isFinite(x));
  if (!nums.length) return null;
  const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
  return {
    samples: nums.length,
    mean: Math.round(mean * 100) / 100,
    max: Math.max(...nums),
    min: Math.min(...nums),
  };
}

/** The JSON document `bench/run` writes. */
export interface BenchReport {
  date: string;
  commit: string;
  quick: boolean;
  seconds: number;
  machine: MachineInfo;
  load: LoadSummary | null;
  failed: string[];
  figures: BenchRow[];
}

const README_BEGIN = "<!-- bench-table:begin -->";
const README_END = "<!-- bench-table:end -->";

/** The Markdown block `bench/README.md` shows between its markers. */
export function readmeBlock(report: BenchReport): string {
  const m = report.machine;
  const load = report.load
    ? `1-minute load average during the run: mean ${report.load.mean}, min ${report.load.min}, max ${report.load.max} ` +
      `(${report.load.samples} samples; the machine is shared with other engineers' test runs)`
    : "load average not sampled";
  const minutes = (report.seconds / 60).toFixed(1);
  const met = report.figures.filter((f) => f.met === true).length;
  const goals = report.figures.filter((f) => f.met !== null).length;
  return [
    README_BEGIN,
    `Last full run: ${report.date} (commit \`${report.commit}\`), ${minutes} minutes, ${met} of ${goals} goals met` +
    (report.failed.length ? `; failed benchmarks: ${report.failed.join(", ")}` : "") + ".",
    "",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}, ${m.os}, Deno ${m.deno}.`,
    `${load}.`,
    "",
    renderMarkdown(report.figures),
    README_END,
  ].join("\n");
}

/** Replaces the table block of a README (between its markers) with `block`. */
export function replaceReadmeBlock(readme: string, block: string): string {
  const a = readme.indexOf(README_BEGIN), b = readme.indexOf(README_END);
  if (a === -1 || b === -1) return readme.trimEnd() + "\n\n" + block + "\n";
  return readme.slice(0, a) + block + readme.slice(b + README_END.length);
}

async function git(args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "";
  }
}

async function summarize(args: string[]): Promise<void> {
  const [recordsFile, outFile] = args;
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i === -1 ? undefined : args[i + 1];
  };
  const text = await Deno.readTextFile(recordsFile).catch(() => "");
  const figures = text.split("\n").filter((l) => l.trim()).map((l) => evaluate(JSON.parse(l)));
  const loadFile = opt("--load");
  const failed = (opt("--failed") ?? "").split(",").filter(Boolean);
  const commit = await git(["rev-parse", "--short", "HEAD"]);
  const dirty = (await git(["status", "--porcelain", "--untracked-files=no"])) !== "";
  const report: BenchReport = {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    commit: commit + (dirty ? "+changes" : ""),
    quick: args.includes("--quick"),
    seconds: Number(opt("--seconds") ?? 0),
    machine: machineInfo(),
    load: loadFile ? summarizeLoad(await Deno.readTextFile(loadFile).catch(() => "")) : null,
    failed,
    figures,
  };
  await Deno.writeTextFile(outFile, JSON.stringify(report, null, 2) + "\n");
  const m = report.machine;
  console.log(
    `\n${"=".repeat(20)} ctr benchmarks${
      report.quick ? " (quick mode: fewer runs, not for the README)" : ""
    }`,
  );
  console.log(renderTable(figures));
  console.log(
    `\n${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; ${
      (report.seconds / 60).toFixed(1)
    } min` +
      (report.load ? `; load average mean ${report.load.mean} (max ${report.load.max})` : ""),
  );
  if (failed.length) console.log(`failed benchmarks: ${failed.join(", ")}`);
  console.log(`written to ${outFile}`);
  const readme = opt("--readme");
  if (readme && !report.quick) {
    const before = await Deno.readTextFile(readme).catch(() => "# Benchmarks\n");
    await Deno.writeTextFile(readme, replaceReadmeBlock(before, readmeBlock(report)));
    console.log(`table updated in ${readme}`);
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "summarize") await summarize(Deno.args.slice(1));
  else {
    console.error("usage: deno run -A bench/report.ts summarize RECORDS.jsonl OUT.json [options]");
    Deno.exit(2);
  }
}
