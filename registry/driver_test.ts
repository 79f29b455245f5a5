import { runDriverSuite } from "./driver_suite.ts";
import { FilesystemDriver } from "./driver_fs.ts";
import { MemoryDriver } from "./driver_memory.ts";

runDriverSuite("filesystem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-driver-" });
  return { driver: new FilesystemDriver(dir), dispose: () => Deno.remove(dir, { recursive: true }) };
});

runDriverSuite(
  "memory",
  () => Promise.resolve({ driver: new MemoryDriver(), dispose: () => Promise.resolve() }),
);
