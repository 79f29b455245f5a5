/**
 * `--log-opt max-size/max-file` (and the daemon's `log-opts`): the json-file log rotates as
 * Docker's does, and `logs` reads across the rotated files.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { ctr } from "./helpers.ts";
import { inspectField, ok, rootTest, until } from "./runtime_helpers.ts";

rootTest(
  "runtime: --log-opt max-size/max-file rotate the log; logs reads across the files",
  async ({ root, image }) => {
    const id = (await ok(root, [
      "run",
      "-d",
      "--log-opt",
      "max-size=2k",
      "--log-opt",
      "max-file=3",
      image,
      "sh",
      "-c",
      'i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); done',
    ])).trim();
    assertEquals((await ok(root, ["wait", id])).trim(), "0");
    const dir = `${root}/containers/${id}`;
    const logs = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes("-json.log")).sort();
    assertEquals(logs, [`${id}-json.log`, `${id}-json.log.1`, `${id}-json.log.2`]);
    for (const n of logs) assert(Deno.statSync(`${dir}/${n}`).size < 2048 + 200, `${n} is near max-size`);
    const out = (await ok(root, ["logs", id])).trim().split("\n");
    assertEquals(out.at(-1), "line 299");
    assert(out.length > 30 && out.length < 300, `${out.length} lines kept`);
    // Consecutive lines across the file boundaries, none repeated.
    const nums = out.map((l) => Number(l.split(" ")[1]));
    assertEquals(nums, nums.map((_, i) => nums[0] + i));
    assertEquals((await ok(root, ["logs", "--tail", "3", id])).trim().split("\n"), [
      "line 297",
      "line 298",
      "line 299",
    ]);
    assertEquals(
      await inspectField(root, id, "{{json .HostConfig.LogConfig}}"),
      '{"Type":"json-file","Config":{"max-file":"3","max-size":"2k"}}',
    );
    const bad = await ctr(root, ["run", "--rm", "--log-opt", "max-file=2", image, "true"]);
    assertEquals(bad.code, 125);
    assertMatch(bad.stderr, /max-file can only be set if max-size is set/);
    const unknown = await ctr(root, ["create", "--log-opt", "color=blue", image, "true"]);
    assertMatch(unknown.stderr, /unknown log opt 'color' for json-file log driver/);
  },
);

rootTest(
  "runtime: log-opts in <root>/config.json are the default; a container's own options win",
  async ({ root, image }) => {
    await Deno.writeTextFile(
      `${root}/config.json`,
      JSON.stringify({ "log-opts": { "max-size": "1k", "max-file": "2" } }),
    );
    const script = 'i=0; while [ $i -lt 200 ]; do echo "l $i"; i=$((i+1)); done; echo end';
    const a = (await ok(root, ["run", "-d", image, "sh", "-c", script])).trim();
    const b = (await ok(root, ["run", "-d", "--log-opt", "max-file=1", image, "sh", "-c", script])).trim();
    await ok(root, ["wait", a, b]);
    assertEquals(
      await inspectField(root, a, "{{json .HostConfig.LogConfig.Config}}"),
      '{"max-file":"2","max-size":"1k"}',
    );
    const files = (id: string) =>
      [...Deno.readDirSync(`${root}/containers/${id}`)].filter((e) => e.name.includes("-json.log")).length;
    assertEquals(files(a), 2);
    assertEquals(files(b), 1);
    await until(async () => (await ok(root, ["logs", b])).trim().endsWith("end"), 5000, "logs");
    assert((await ok(root, ["logs", a])).trim().endsWith("end"));
  },
);
