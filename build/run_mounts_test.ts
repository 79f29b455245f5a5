import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import { loadContext } from "./context.ts";
import { parseRunMount } from "./run_mount.ts";
import { cacheMountName, type MountSources, resolveRunMounts } from "./run_mounts.ts";

const root = { ignore: !IS_ROOT };

async function setup() {
  const base = await Deno.makeTempDir();
  await Deno.mkdir(`${base}/ctx/sub`, { recursive: true });
  await Deno.writeTextFile(`${base}/ctx/sub/a.txt`, "a");
  await Deno.writeTextFile(`${base}/ctx/secret.key`, "hidden");
  await Deno.mkdir(`${base}/layers/top/out`, { recursive: true });
  await Deno.mkdir(`${base}/layers/bottom/out`, { recursive: true });
  await Deno.writeTextFile(`${base}/secret`, "s3cr3t");
  await Deno.mkdir(`${base}/scratch`);
  const sources = async (ignore: string): Promise<MountSources> => {
    await Deno.writeTextFile(`${base}/ctx/.dockerignore`, ignore);
    const ctx = await loadContext(`${base}/ctx`);
    return {
      context: { dir: ctx.dir, tree: ctx.tree, filtered: ctx.ignore.length > 0 },
      rootfs: (from) =>
        Promise.resolve(
          from === "one" ? [`${base}/layers/top`] : [`${base}/layers/top`, `${base}/layers/bottom`],
        ),
      cacheRoot: `${base}/cache`,
      secrets: new Map([["tok", { file: `${base}/secret` }]]),
    };
  };
  return { base, sources, cleanup: () => Deno.remove(base, { recursive: true }) };
}

const m = (s: string) => parseRunMount(s);

Deno.test(
  "resolveRunMounts: tmpfs, secrets as files and variables, binds of the context (root)",
  root,
  async () => {
    const { base, sources, cleanup } = await setup();
    try {
      const r = await resolveRunMounts(
        [
          m("type=tmpfs,target=/t,size=1m"),
          m("type=secret,id=tok,mode=0440,uid=7,gid=8"),
          m("type=secret,id=tok,env=TOK"),
          m("type=secret,id=absent"),
          m("type=bind,target=/src"),
          m("type=bind,source=sub,target=/sub,rw"),
        ],
        await sources(""),
        `${base}/scratch`,
      );
      r.release();
      assertEquals(r.mounts[0], {
        destination: "/t",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "size=1048576"],
      });
      assertEquals(r.mounts[1].destination, "/run/secrets/tok");
      const st = await Deno.stat(r.mounts[1].source);
      assertEquals([st.mode! & 0o7777, st.uid, st.gid], [0o440, 7, 8]);
      assertEquals(await Deno.readTextFile(r.mounts[1].source), "s3cr3t");
      assertEquals(r.env, ["TOK=s3cr3t"]);
      assertEquals(r.mounts[2], {
        destination: "/src",
        type: "bind",
        source: `${base}/ctx`,
        options: ["rbind", "ro"],
      });
      // rw: a private copy, so writes never reach the context.
      assertEquals(r.mounts[3].options, ["rbind"]);
      assert(r.mounts[3].source.startsWith(`${base}/scratch/`));
      assertEquals(await Deno.readTextFile(`${r.mounts[3].source}/a.txt`), "a");
      const s = await sources("");
      await assertRejects(
        () => resolveRunMounts([m("type=secret,id=absent,required=true")], s, `${base}/scratch`),
        Error,
        "secret absent not found",
      );
    } finally {
      await cleanup();
    }
  },
);

Deno.test("resolveRunMounts: .dockerignore hides files from a context bind (root)", root, async () => {
  const { base, sources, cleanup } = await setup();
  try {
    const r = await resolveRunMounts(
      [m("type=bind,target=/src")],
      await sources("*.key\n"),
      `${base}/scratch`,
    );
    const names = (await Array.fromAsync(Deno.readDir(r.mounts[0].source))).map((e) => e.name).sort();
    assertEquals(names, [".dockerignore", "sub"]);
  } finally {
    await cleanup();
  }
});

Deno.test("resolveRunMounts: stage binds are overlays of the layers' directories (root)", root, async () => {
  const { base, sources, cleanup } = await setup();
  try {
    const s = await sources("");
    const r = await resolveRunMounts(
      [
        m("type=bind,from=one,source=/out,target=/a"),
        m("type=bind,from=two,source=/out,target=/b"),
        m("type=bind,from=two,source=/out,target=/c,rw"),
      ],
      s,
      `${base}/scratch`,
    );
    assertEquals(r.mounts[0], {
      destination: "/a",
      type: "bind",
      source: `${base}/layers/top/out`,
      options: ["rbind", "ro"],
    });
    assertEquals(r.mounts[1], {
      destination: "/b",
      type: "overlay",
      source: "overlay",
      options: ["ro", `lowerdir=${base}/layers/top/out:${base}/layers/bottom/out`],
    });
    assertEquals(r.mounts[2].options, [
      `lowerdir=${base}/layers/top/out:${base}/layers/bottom/out`,
      `upperdir=${base}/scratch/bind-2-upper`,
      `workdir=${base}/scratch/bind-2-work`,
    ]);
  } finally {
    await cleanup();
  }
});

Deno.test(
  "resolveRunMounts: cache mounts persist per id; locked waits, private falls back when busy (root)",
  root,
  async () => {
    const { base, sources, cleanup } = await setup();
    try {
      const s = await sources("");
      const first = await resolveRunMounts(
        [m("type=cache,target=/c,id=x,uid=5,mode=0700")],
        s,
        `${base}/scratch`,
      );
      const dir = `${base}/cache/${cacheMountName("x")}`;
      assertEquals(first.mounts[0], { destination: "/c", type: "bind", source: dir, options: ["rbind"] });
      const st = await Deno.stat(dir);
      assertEquals([st.mode! & 0o7777, st.uid], [0o700, 5]);
      // A shared user holds the lock shared: a private one gets a throw-away directory.
      const priv = await resolveRunMounts(
        [m("type=cache,target=/c,id=x,sharing=private")],
        s,
        `${base}/scratch`,
      );
      assert(priv.mounts[0].source.startsWith(`${base}/scratch/`));
      priv.release();
      // A locked user waits for the shared one to finish.
      let got = false;
      const locked = resolveRunMounts([m("type=cache,target=/c,id=x,sharing=locked")], s, `${base}/scratch`)
        .then(
          (r) => {
            got = true;
            return r;
          },
        );
      await new Promise((r) => setTimeout(r, 100));
      assertEquals(got, false);
      first.release();
      const l = await locked;
      assertEquals(l.mounts[0].source, dir);
      l.release();
    } finally {
      await cleanup();
    }
  },
);
