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

/**
 * With `CTR_PERMISSIONS_REPORT=1` (and env access to read it), print the Deno permissions
 * this process holds as JSON and stop: how the launcher's table is tested.
 */
function permissionsReport(): boolean {
  const variable = "CTR_PERMISSIONS_REPORT";
  if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return false;
  if (!Deno.env.get(variable)) return false;
  const names = ["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const;
  const report: Record<string, string> = {};
  for (const name of names) report[name] = Deno.permissions.querySync({ name }).state;
  console.log(JSON.stringify(report));
  return true;
}

if (import.meta.main) {
  const [first, arg] = Deno.args;
  if (permissionsReport()) {
    // reported; nothing else runs
  } else if (first === "__init") {
    await import("./runtime/container_init_main.ts").then((m) => m.initMain(arg));
  } else if (first === "__monitor") {
    await import("./runtime/monitor_main.ts").then((m) => m.monitorMain(arg));
  } else if (first === "__supervisor") {
    await import("./runtime/supervisor_main.ts").then((m) => m.supervisorMain(arg));
  } else {
    Deno.exit(await main(Deno.args));
  }
}
