/**
 * Entry point of the supervisor process (`ctr __supervisor ROOT` when compiled); started by
 * the monitor, never by hand.
 *
 * @module
 */
import { Supervisor } from "./supervisor.ts";

if (import.meta.main) await Supervisor.run(Deno.args[0]);
