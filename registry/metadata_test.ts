import { runMetadataSuite } from "./metadata_suite.ts";
import { SqliteMetadataStore } from "./metadata_sqlite.ts";

runMetadataSuite("sqlite", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-metadata-" });
  const store = SqliteMetadataStore.open(`${dir}/registry.db`);
  return {
    store,
    dispose: async () => {
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});
