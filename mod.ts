/**
 * ctr — build, ship and run OCI containers: one executable, on Deno.
 *
 * This entry point only dispatches; each command group is imported lazily so that start-up
 * loads just the code the invoked command needs. The hidden `__init`, `__monitor` and
 * `__supervisor` commands are the runtime's own processes when ctr runs as one compiled
 * binary (from source, those are started from their own entry files instead).
 *
 * @module
 */
import { main } from "./cli/main.ts";

if (import.meta.main) {
  const [first, arg] = Deno.args;
  if (first === "__init") {
    await import("./runtime/container_init_main.ts").then((m) => m.initMain(arg));
  } else if (first === "__monitor") {
    await import("./runtime/monitor_main.ts").then((m) => m.monitorMain(arg));
  } else if (first === "__supervisor") {
    await import("./runtime/supervisor_main.ts").then((m) => m.supervisorMain(arg));
  } else {
    Deno.exit(await main(Deno.args));
  }
}
