/**
 * The network flags of `ctr run` and `ctr create` (parsed by `runtime/network/run_flags.ts`).
 *
 * @module
 */
import type { FlagSpec } from "./flags.ts";

/** Flags spread into the run/create flag lists. */
export const NETWORK_RUN_FLAGS: FlagSpec[] = [
  {
    name: "network",
    type: "string",
    value: "network",
    description: 'Connect a container to a network ("bridge", "host", "none", "container:NAME" or a network)',
  },
  { name: "net", type: "string", value: "network", description: "Same as --network", hidden: true },
  {
    name: "network-alias",
    type: "list",
    value: "list",
    description: "Add network-scoped alias for the container",
  },
  { name: "net-alias", type: "list", value: "list", description: "Same as --network-alias", hidden: true },
  { name: "ip", type: "string", value: "string", description: "IPv4 address (e.g., 172.30.100.104)" },
  {
    name: "publish",
    short: "p",
    type: "list",
    value: "list",
    description: "Publish a container's port(s) to the host",
  },
  {
    name: "publish-all",
    short: "P",
    type: "bool",
    description: "Publish all exposed ports to random ports",
  },
  { name: "expose", type: "list", value: "list", description: "Expose a port or a range of ports" },
  { name: "dns", type: "list", value: "list", description: "Set custom DNS servers" },
  { name: "dns-search", type: "list", value: "list", description: "Set custom DNS search domains" },
  { name: "dns-option", type: "list", value: "list", description: "Set DNS options" },
  { name: "add-host", type: "list", value: "list", description: "Add a custom host-to-IP mapping (host:ip)" },
];
