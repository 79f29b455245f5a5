/**
 * Interchange with Docker itself (Debian's docker.io, an isolated dockerd from
 * `tests/peers/dockerd.sh`): `docker load` reads `ctr save` output and sees the same image
 * ID; `ctr load` reads `docker save` output (the legacy `<id>/layer.tar` layout) and unpacks
 * the same tree.
 *
 * @module
 */
import { assertEquals, assertStringIncludes } from "./assert.ts";
import { ctr, fixture, IS_ROOT, REPO, withRoot } from "./helpers.ts";
import { describeTree, diffTrees } from "./tree.ts";

const dec = new TextDecoder();

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

const haveDocker = await new Deno.Command("bash", { args: ["-c", "command -v dockerd && command -v docker"] })
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "docker load reads ctr save; ctr load reads docker save (root, dockerd)",
  ignore: !IS_ROOT || !haveDocker,
  async fn() {
    const busybox = await fixture("busybox");
    await withRoot(async (state) => {
      const dockerDir = `${state}/dockerd`;
      const started = await run("bash", [`${REPO}/tests/peers/dockerd.sh`, "start", dockerDir]);
      const env = { DOCKER_HOST: started.trim().replace(/^export DOCKER_HOST=/, "") };
      try {
        const id = (await ctr(state, ["import", busybox, "ctrbb:1"])).stdout.trim();
        const r = await ctr(state, ["save", "-o", `${state}/ctr.tar`, "ctrbb:1"]);
        assertEquals(r.code, 0, r.stderr);
        assertStringIncludes(
          await run("docker", ["load", "-i", `${state}/ctr.tar`], env),
          "Loaded image: ctrbb:1",
        );
        assertEquals((await run("docker", ["image", "inspect", "-f", "{{.Id}}", "ctrbb:1"], env)).trim(), id);
        await run("docker", ["tag", "ctrbb:1", "fromdocker:2"], env);
        await run("docker", ["save", "-o", `${state}/docker.tar`, "fromdocker:2"], env);
        await withRoot(async (fresh) => {
          const loaded = await ctr(fresh, ["load", "-i", `${state}/docker.tar`]);
          assertEquals([loaded.code, loaded.stdout], [0, "Loaded image: fromdocker:2\n"], loaded.stderr);
          const ids = await ctr(fresh, ["images", "--no-trunc", "-q"]);
          assertEquals(ids.stdout.trim(), id);
          const dirs = async (s: string, img: string) =>
            JSON.parse((await ctr(s, ["inspect", "-f", "{{json .GraphDriver.Data}}", img])).stdout).LowerDir;
          assertEquals(
            diffTrees(
              describeTree(await dirs(state, "ctrbb:1")),
              describeTree(await dirs(fresh, "fromdocker:2")),
            ),
            [],
          );
        });
      } finally {
        await run("bash", [`${REPO}/tests/peers/dockerd.sh`, "stop", dockerDir]).catch(() => {});
      }
    });
  },
});
