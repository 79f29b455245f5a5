/**
 * Test helper: Debian's Docker engine as a real client of `ctr serve`, fully isolated
 * (its own data-root, exec-root and socket in a temp dir; no iptables, no bridge), started by
 * `tests/peers/dockerd.sh`. Needs root.
 *
 * @module
 */

const SCRIPT = new URL("./dockerd.sh", import.meta.url).pathname;
/** The packaged CLI that matches the packaged engine. */
export const DOCKER = "/usr/bin/docker";

/** A running isolated dockerd. */
export interface Dockerd {
  /** Environment for the docker CLI: DOCKER_HOST and a private DOCKER_CONFIG. */
  env: Record<string, string>;
  /** Runs the docker CLI; returns code and output. */
  docker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** Whether dockerd can be started here (root and the docker.io package). */
export function canRunDockerd(): boolean {
  if (Deno.uid() !== 0) return false;
  try {
    Deno.statSync("/usr/sbin/dockerd");
    Deno.statSync(DOCKER);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts an isolated dockerd.
 *
 * @example
 * ```ts
 * const d = await startDockerd();
 * await d.docker(["pull", "127.0.0.1:5000/x:1"]);
 * await d.stop();
 * ```
 */
export async function startDockerd(): Promise<Dockerd> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-dockerd-" });
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, "start", `${dir}/d`],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`dockerd did not start: ${new TextDecoder().decode(out.stderr)}`);
  }
  await Deno.mkdir(`${dir}/config`);
  const env = { DOCKER_HOST: `unix://${dir}/d/docker.sock`, DOCKER_CONFIG: `${dir}/config` };
  return {
    env,
    async docker(args) {
      const r = await new Deno.Command(DOCKER, { args, env, stdout: "piped", stderr: "piped" }).output();
      const dec = new TextDecoder();
      return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
    },
    async stop() {
      await new Deno.Command("bash", { args: [SCRIPT, "stop", `${dir}/d`], stdout: "null", stderr: "null" })
        .output();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
