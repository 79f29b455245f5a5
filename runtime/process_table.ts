/**
 * Process information from /proc, for `top` (Docker's `ps -ef` columns) and `stats`.
 *
 * @module
 */

const CLK_TCK = 100;

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

function bootTimeMs(): number {
  const m = read("/proc/stat")?.match(/^btime (\d+)$/m);
  return m ? Number(m[1]) * 1000 : 0;
}

function clock(ticks: number): string {
  const s = Math.floor(ticks / CLK_TCK);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

/**
 * `ps -ef`-style rows (UID PID PPID C STIME TTY TIME CMD) of the given host pids.
 *
 * @example
 * ```ts
 * const { Titles, Processes } = processTable([1234, 1240]);
 * ```
 */
export function processTable(pids: number[]): { Titles: string[]; Processes: string[][] } {
  const boot = bootTimeMs();
  const uptime = Number(read("/proc/uptime")?.split(" ")[0] ?? 0);
  const rows: string[][] = [];
  for (const pid of pids.sort((a, b) => a - b)) {
    const stat = read(`/proc/${pid}/stat`);
    const status = read(`/proc/${pid}/status`);
    if (!stat || !status) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(fields[1]);
    const ttyNr = Number(fields[4]);
    const cpuTicks = Number(fields[11]) + Number(fields[12]);
    const start = Number(fields[19]);
    const uid = status.match(/^Uid:\s+(\d+)/m)?.[1] ?? "0";
    let cmd = (read(`/proc/${pid}/cmdline`) ?? "").split("\0").filter((x) => x).join(" ");
    if (!cmd) cmd = `[${stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))}]`;
    const elapsed = uptime - start / CLK_TCK;
    const c = elapsed > 0 ? Math.floor((cpuTicks / CLK_TCK / elapsed) * 100) : 0;
    const started = new Date(boot + (start / CLK_TCK) * 1000);
    const stime = `${String(started.getHours()).padStart(2, "0")}:${
      String(started.getMinutes()).padStart(2, "0")
    }`;
    const tty = ttyNr === 0
      ? "?"
      : (ttyNr >> 8) === 136
      ? `pts/${(ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00)}`
      : "?";
    rows.push([
      uid === "0" ? "root" : uid,
      String(pid),
      String(ppid),
      String(c),
      stime,
      tty,
      clock(cpuTicks),
      cmd,
    ]);
  }
  return { Titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], Processes: rows };
}

/** Total CPU time of the host in nanoseconds (from /proc/stat), as Docker's system usage. */
export function systemCpuNs(): number {
  const line = read("/proc/stat")?.split("\n")[0] ?? "";
  const ticks = line.split(/\s+/).slice(1, 8).reduce((n, x) => n + Number(x || 0), 0);
  return (ticks / CLK_TCK) * 1e9;
}

/** Bytes received and sent on the non-loopback interfaces of `pid`'s network namespace. */
export function networkIo(pid: number): { rx: number; tx: number } {
  let rx = 0, tx = 0;
  for (const line of (read(`/proc/${pid}/net/dev`) ?? "").split("\n").slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === "lo") continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    rx += f[0];
    tx += f[8];
  }
  return { rx, tx };
}
