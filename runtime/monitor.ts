/**
 * The monitor: a small, long-lived process above the supervisor, so that containers outlive
 * a supervisor that crashes or is killed.
 *
 * ```text
 * ctr CLI ──spawns, detached──▶ monitor (child subreaper) ──spawns, respawns──▶ supervisor ──▶ containers
 * ```
 *
 * - It is `PR_SET_CHILD_SUBREAPER`: when the supervisor dies, its containers are re-parented
 *   to the monitor instead of to the host's init, so their exit status is not lost. The
 *   monitor reaps exactly those adopted pids (`waitid(P_PID)` per child listed in
 *   `/proc/self/task/<tid>/children`, never `P_ALL`, which would steal the status of the
 *   supervisor from Deno) and records each as `<root>/run/exits/<pid>` (JSON), then tells
 *   the supervisor `exit <pid> <code>` on its stdin.
 * - It holds an extra read end of every container's stdout/stderr pipe (`hold <pid>`, opened
 *   through `/proc/<pid>/fd/{1,2}` while the init has not exec'd yet), so a container never
 *   gets SIGPIPE while the supervisor is down; a restarted supervisor reads through those
 *   (`held <pid> <fd> <fd>` tells it where) until the container exits. A `-t` container's
 *   pty master is copied the same way (`holdpty <pid> <supervisor fd>`, with pidfd_getfd;
 *   `heldpty <pid> <fd>` on restart), or its terminal would hang up.
 * - It respawns a supervisor that died from a signal or crashed; a supervisor that exits 0
 *   (asked to shut down, or idle) ends the monitor too.
 *
 * The CLI reads `ready` from the monitor's stdout once the first supervisor listens.
 *
 * @module
 */
import { libc } from "../ffi/libc.ts";
import { O, PR } from "../ffi/constants.ts";

const WEXITED = 4, WNOHANG = 1, P_PID = 1;

/** Where the monitor records exits of containers it adopted. */
export function exitsDir(root: string): string {
  return `${root}/run/exits`;
}

/** The lock file a live monitor holds (flock) for its lifetime. */
export function monitorLockPath(root: string): string {
  return `${root}/run/monitor.lock`;
}

/** Whether a monitor runs for `root` (its lock is held). */
export function monitorAlive(root: string): boolean {
  let fd: number;
  try {
    fd = libc.open(monitorLockPath(root), O.RDWR | O.CLOEXEC);
  } catch {
    return false;
  }
  try {
    return !libc.tryLock(fd);
  } finally {
    libc.close(fd); // closing drops the probe lock, if we got it
  }
}

/** One recorded exit. */
export interface ExitRecord {
  pid: number;
  /** Docker-style exit code (128+signal when killed). */
  code: number;
  /** ms since epoch. */
  time: number;
}

function supervisorCommand(root: string): { command: string; args: string[] } {
  if (Deno.build.standalone) return { command: Deno.execPath(), args: ["__supervisor", root] };
  const main = new URL("./supervisor_main.ts", import.meta.url).pathname;
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-all",
      "--unstable-worker-options",
      "--no-config",
      "--no-lock",
      main,
      root,
    ],
  };
}

/**
 * Runs the monitor of `root` until its supervisor shuts down.
 *
 * @example
 * ```ts
 * await runMonitor("/var/lib/ctr");
 * ```
 */
export async function runMonitor(root: string): Promise<void> {
  // One monitor per root, for as long as it lives (the CLI tests this lock, not a pid file).
  const lock = libc.open(monitorLockPath(root), O.RDWR | O.CREAT | O.CLOEXEC, 0o600);
  if (!libc.tryLock(lock)) {
    console.error("ctr monitor: another monitor runs for this root");
    Deno.exit(1);
  }
  libc.prctl(PR.SET_CHILD_SUBREAPER, 1);
  Deno.mkdirSync(exitsDir(root), { recursive: true });
  Deno.writeTextFileSync(`${root}/run/monitor.pid`, String(Deno.pid));
  const held = new Map<number, number[]>();
  /** Copies of the pty masters of -t containers, by container pid. */
  const ptys = new Map<number, number>();
  let supervisor: Deno.ChildProcess | undefined;
  let toSupervisor: WritableStreamDefaultWriter<Uint8Array> | undefined;
  let announced = false;
  let stopping = false;
  const crashes: number[] = [];
  const encoder = new TextEncoder();

  const tell = (line: string) => {
    toSupervisor?.write(encoder.encode(line + "\n")).catch(() => {});
  };

  const release = (pid: number) => {
    for (const fd of [...(held.get(pid) ?? []), ...(ptys.has(pid) ? [ptys.get(pid)!] : [])]) {
      try {
        libc.close(fd);
      } catch { /* closed */ }
    }
    held.delete(pid);
    ptys.delete(pid);
  };

  const reapAdopted = () => {
    const children = new Set<number>();
    try {
      for (const t of Deno.readDirSync("/proc/self/task")) {
        const text = Deno.readTextFileSync(`/proc/self/task/${t.name}/children`);
        for (const p of text.split(" ").filter((x) => x.trim())) children.add(Number(p));
      }
    } catch { /* racing with exits */ }
    for (const pid of children) {
      if (pid === supervisor?.pid) continue;
      let w;
      try {
        w = libc.waitid(P_PID, pid, WEXITED | WNOHANG);
      } catch {
        continue;
      }
      if (!w) continue;
      const code = w.code === 1 ? w.status : 128 + w.status;
      const rec: ExitRecord = { pid, code, time: Date.now() };
      const file = `${exitsDir(root)}/${pid}`;
      Deno.writeTextFileSync(`${file}.tmp`, JSON.stringify(rec));
      Deno.renameSync(`${file}.tmp`, file);
      release(pid);
      tell(`exit ${pid} ${code}`);
    }
  };

  Deno.addSignalListener("SIGCHLD", reapAdopted);
  // A safety net for a missed signal.
  const sweep = setInterval(reapAdopted, 5000);
  for (const sig of ["SIGINT", "SIGHUP", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      stopping = true;
      tell("shutdown");
    });
  }

  const handle = (line: string) => {
    const [cmd, ...rest] = line.trim().split(" ");
    if (cmd === "ready") {
      if (!announced) {
        announced = true;
        try {
          libc.write(1, encoder.encode("ready\n"));
        } catch { /* the CLI went away */ }
        // Drop the CLI's pipe so it sees end-of-file and may exit.
        const devNull = libc.open("/dev/null", O.WRONLY | O.CLOEXEC);
        libc.dup3(devNull, 1, 0);
        libc.close(devNull);
      }
      for (const [pid, fds] of held) tell(`held ${pid} ${fds.join(" ")}`);
      for (const [pid, fd] of ptys) tell(`heldpty ${pid} ${fd}`);
    } else if (cmd === "hold") {
      const pid = Number(rest[0]);
      const fds: number[] = [];
      for (const n of [1, 2]) {
        try {
          if (!Deno.readLinkSync(`/proc/${pid}/fd/${n}`).startsWith("pipe:")) continue;
          fds.push(libc.open(`/proc/${pid}/fd/${n}`, O.RDONLY | O.NONBLOCK | O.CLOEXEC));
        } catch { /* gone */ }
      }
      held.set(pid, fds);
    } else if (cmd === "holdpty" && supervisor) {
      // A -t container's pty master: without a copy here its terminal would hang up (SIGHUP
      // to the container) when the supervisor dies.
      try {
        const pidfd = libc.pidfdOpen(supervisor.pid);
        try {
          const old = ptys.get(Number(rest[0]));
          if (old !== undefined) libc.close(old);
          ptys.set(Number(rest[0]), libc.pidfdGetfd(pidfd, Number(rest[1])));
        } finally {
          libc.close(pidfd);
        }
      } catch (e) {
        console.error(`ctr monitor: cannot hold the pty of ${rest[0]}: ${(e as Error).message}`);
      }
    } else if (cmd === "release") {
      release(Number(rest[0]));
    } else if (cmd === "stop") {
      stopping = true;
    }
  };

  for (;;) {
    const { command, args } = supervisorCommand(root);
    supervisor = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    toSupervisor = supervisor.stdin.getWriter();
    const reading = (async () => {
      let buf = "";
      for await (const chunk of supervisor!.stdout.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) !== -1) {
          handle(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      }
    })();
    const status = await supervisor.status;
    await reading.catch(() => {});
    toSupervisor = undefined;
    reapAdopted();
    if (status.success || stopping) break;
    console.error(
      `ctr monitor: supervisor ended (code ${status.code}${
        status.signal ? `, ${status.signal}` : ""
      }), restarting`,
    );
    const now = Date.now();
    crashes.push(now);
    while (crashes.length && crashes[0] < now - 10_000) crashes.shift();
    if (crashes.length > 5) {
      console.error("ctr monitor: supervisor keeps failing, giving up");
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  clearInterval(sweep);
  // Containers we adopted and that still run keep their records; the next supervisor finds them.
  try {
    Deno.removeSync(`${root}/run/monitor.pid`);
  } catch { /* gone */ }
  Deno.exit(0);
}
