/**
 * ctr — build, ship and run OCI containers: one executable, on Deno.
 *
 * This entry point only dispatches; each command group is imported lazily so that start-up
 * loads just the code the invoked command needs.
 *
 * @module
 */
import { main } from "./cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
