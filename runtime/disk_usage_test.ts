import { assertEquals } from "../tests/assert.ts";
import { diskUsage, TreeSizer } from "./disk_usage.ts";

async function duBytes(path: string): Promise<number> {
  const out = await new Deno.Command("du", { args: ["-sb", path], stdout: "piped" }).output();
  return Number(new TextDecoder().decode(out.stdout).split("\t")[0]);
}

Deno.test("TreeSizer counts like du -sb: directories, symlinks, each hard-linked file once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-sizer-" });
  try {
    await Deno.mkdir(`${dir}/a/b`, { recursive: true });
    await Deno.writeFile(`${dir}/a/b/f`, new Uint8Array(12345));
    await Deno.mkdir(`${dir}/c`);
    await Deno.link(`${dir}/a/b/f`, `${dir}/c/same`);
    await Deno.symlink("a/b/f", `${dir}/link`);
    await Deno.writeFile(`${dir}/c/g`, new Uint8Array(7));
    const sizer = new TreeSizer();
    const total = sizer.size(dir);
    assertEquals(total, await duBytes(dir));
    // Counted already: a second look finds nothing new.
    assertEquals(sizer.size(`${dir}/c`), 0);
    // A fresh sizer attributes the shared inode to whichever tree it meets first.
    const s2 = new TreeSizer();
    const c = s2.size(`${dir}/c`), a = s2.size(`${dir}/a`);
    assertEquals(c > 12345, true);
    assertEquals(a < 12345, true);
    assertEquals(s2.size(`${dir}/missing`), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("diskUsage of a root without a database: everything is Other, the total is du's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-df-" });
  try {
    await Deno.mkdir(`${dir}/run`);
    await Deno.writeTextFile(`${dir}/run/x`, "hello");
    await Deno.mkdir(`${dir}/registry/docker`, { recursive: true });
    await Deno.writeFile(`${dir}/registry/docker/blob`, new Uint8Array(4000));
    const u = await diskUsage(dir);
    assertEquals(u.totalBytes, await duBytes(dir));
    const rows = Object.fromEntries(u.rows.map((r) => [r.type, r.bytes]));
    assertEquals(rows.Images + rows.Containers + rows["Local Volumes"] + rows["Build Cache"], 0);
    assertEquals(rows.Registry, await duBytes(`${dir}/registry`));
    assertEquals(u.other.map((o) => o.path), ["run"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
