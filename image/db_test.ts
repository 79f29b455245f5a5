import { assertEquals, assertThrows } from "../tests/assert.ts";
import { migrate, openDatabase, type Schema, transaction } from "./db.ts";

const counterSchema: Schema = {
  component: "test-counter",
  migrations: [
    "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    "INSERT INTO counter (id, n) VALUES (1, 0)",
  ],
};

Deno.test("db: migrations run once and record the version; WAL is on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = openDatabase(`${dir}/ctr.db`, [counterSchema]);
    assertEquals((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
    migrate(db, [counterSchema]);
    assertEquals(db.prepare("SELECT count(*) AS c FROM counter").get(), { c: 1 } as unknown);
    const v = db.prepare("SELECT version FROM schema_versions WHERE component = ?").get("test-counter") as {
      version: number;
    };
    assertEquals(v.version, 2);
    db.close();
    // A newer migration list is applied incrementally.
    const db2 = openDatabase(`${dir}/ctr.db`, [{
      ...counterSchema,
      migrations: [...counterSchema.migrations, "ALTER TABLE counter ADD COLUMN note TEXT"],
    }]);
    db2.prepare("UPDATE counter SET note = 'x'").run();
    db2.close();
    // An older ctr refuses a newer schema instead of corrupting it.
    assertThrows(() => openDatabase(`${dir}/ctr.db`, [counterSchema]), Error, "newer");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("db: a throwing transaction rolls back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = openDatabase(`${dir}/ctr.db`, [counterSchema]);
    assertThrows(() =>
      transaction(db, () => {
        db.prepare("UPDATE counter SET n = 42").run();
        throw new Error("boom");
      })
    );
    assertEquals((db.prepare("SELECT n FROM counter").get() as { n: number }).n, 0);
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("db: four processes incrementing concurrently lose no update", async () => {
  const dir = await Deno.makeTempDir();
  try {
    openDatabase(`${dir}/ctr.db`, [counterSchema]).close();
    const code = `
      import { openDatabase, transaction } from "${new URL("./db.ts", import.meta.url)}";
      const db = openDatabase(${JSON.stringify(`${dir}/ctr.db`)}, [${JSON.stringify(counterSchema)}]);
      for (let i = 0; i < 100; i++) {
        transaction(db, () => {
          const { n } = db.prepare("SELECT n FROM counter WHERE id = 1").get();
          db.prepare("UPDATE counter SET n = ? WHERE id = 1").run(n + 1);
        });
      }
      db.close();`;
    const procs = Array.from(
      { length: 4 },
      () => new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "null" }).spawn(),
    );
    for (const p of procs) assertEquals((await p.status).code, 0);
    const db = openDatabase(`${dir}/ctr.db`, [counterSchema]);
    assertEquals((db.prepare("SELECT n FROM counter").get() as { n: number }).n, 400);
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
