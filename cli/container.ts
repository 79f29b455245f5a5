/**
 * Container commands: `run`, `create`, `start`, `stop`, `kill`, `restart`, `rm`, `ps`,
 * `logs`, `wait`, `attach`, `exec`, `top`, `stats`, `pause`, `unpause`, `cp`, `rename`,
 * `inspect`, and the `container` group (`container ls|run|rm|prune|…`). Flags, argument
 * checks and output formatting only; the work happens in `runtime/` (mostly in the
 * supervisor, reached through `runtime/client.ts`).
 *
 * @module
 */
import type { CommandContext, CommandSpec, FlagSpec } from "./flags.ts";
import { inspectCommand } from "./inspect.ts";
import { NETWORK_RUN_FLAGS } from "./network_flags.ts";
import { rootDir } from "./global.ts";
import { ExitCodeError, NotFoundError } from "../errors.ts";

const client = () => import("../runtime/client.ts");
const session = () => import("../runtime/attach_session.ts");

const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : []);

/** Runs `fn` for each container argument, printing errors as Docker does and failing at the end. */
async function eachContainer(args: string[], fn: (ref: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const ref of args) {
    try {
      await fn(ref);
    } catch (e) {
      failed = true;
      console.error(`ctr: ${(e as Error).message}`);
    }
  }
  return failed ? 1 : 0;
}

const runFlags: FlagSpec[] = [
  {
    name: "detach",
    short: "d",
    type: "bool",
    description: "Run container in background and print container ID",
  },
  {
    name: "rm",
    type: "bool",
    description: "Automatically remove the container and its anonymous volumes when it exits",
  },
  { name: "name", type: "string", value: "string", description: "Assign a name to the container" },
  { name: "env", short: "e", type: "list", description: "Set environment variables" },
  { name: "env-file", type: "list", description: "Read in a file of environment variables" },
  {
    name: "workdir",
    short: "w",
    type: "string",
    value: "string",
    description: "Working directory inside the container",
  },
  {
    name: "user",
    short: "u",
    type: "string",
    value: "string",
    description: "Username or UID (format: <name|uid>[:<group|gid>])",
  },
  { name: "group-add", type: "list", description: "Add additional groups to join" },
  {
    name: "entrypoint",
    type: "string",
    value: "string",
    description: "Overwrite the default ENTRYPOINT of the image",
  },
  { name: "hostname", short: "h", type: "string", value: "string", description: "Container host name" },
  { name: "domainname", type: "string", value: "string", description: "Container NIS domain name" },
  { name: "volume", short: "v", type: "list", description: "Bind mount a volume" },
  { name: "mount", type: "list", value: "mount", description: "Attach a filesystem mount to the container" },
  { name: "tmpfs", type: "list", description: "Mount a tmpfs directory" },
  { name: "read-only", type: "bool", description: "Mount the container's root filesystem as read only" },
  { name: "interactive", short: "i", type: "bool", description: "Keep STDIN open even if not attached" },
  { name: "tty", short: "t", type: "bool", description: "Allocate a pseudo-TTY" },
  {
    name: "detach-keys",
    type: "string",
    value: "string",
    description: "Override the key sequence for detaching a container",
  },
  { name: "memory", short: "m", type: "string", value: "bytes", description: "Memory limit" },
  {
    name: "memory-swap",
    type: "string",
    value: "bytes",
    description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
  },
  { name: "cpus", type: "string", value: "decimal", description: "Number of CPUs" },
  {
    name: "cpu-shares",
    short: "c",
    type: "number",
    value: "int",
    description: "CPU shares (relative weight)",
  },
  {
    name: "pids-limit",
    type: "number",
    value: "int",
    description: "Tune container pids limit (set -1 for unlimited)",
  },
  { name: "shm-size", type: "string", value: "bytes", description: "Size of /dev/shm" },
  {
    name: "restart",
    type: "string",
    value: "string",
    description: 'Restart policy to apply when a container exits (default "no")',
  },
  {
    name: "init",
    type: "bool",
    description: "Run an init inside the container that forwards signals and reaps processes",
  },
  { name: "stop-signal", type: "string", value: "string", description: "Signal to stop the container" },
  {
    name: "stop-timeout",
    type: "number",
    value: "int",
    description: "Timeout (in seconds) to stop a container",
  },
  ...NETWORK_RUN_FLAGS,
  { name: "label", short: "l", type: "list", description: "Set meta data on a container" },
  { name: "ulimit", type: "list", value: "ulimit", description: "Ulimit options" },
  {
    name: "log-opt",
    type: "list",
    description: "Log driver options (json-file: max-size, max-file)",
  },
  { name: "cap-add", type: "list", description: "Add Linux capabilities" },
  { name: "cap-drop", type: "list", description: "Drop Linux capabilities" },
  { name: "privileged", type: "bool", description: "Give extended privileges to this container" },
  { name: "security-opt", type: "list", description: "Security Options" },
  {
    name: "userns",
    type: "string",
    value: "string",
    description: 'User namespace: "host" (the host\'s ids) or "auto" (a private range from /etc/subuid)',
  },
  {
    name: "verify",
    type: "bool",
    description: "Run only if the image is signed by a trusted key in its registry (see `ctr trust`)",
  },
  {
    name: "sig-proxy",
    type: "bool",
    description: "Proxy received signals to the process",
    default: true,
  },
  {
    name: "pull",
    type: "string",
    value: "string",
    description: 'Pull image before running ("always", "missing", "never")',
    default: "missing",
  },
  { name: "platform", type: "string", value: "string", description: "Set platform", hidden: true },
];

async function createRequest(ctx: CommandContext) {
  const { buildCreateRequest } = await import("../runtime/run_options.ts");
  const flags = { ...ctx.flags };
  if (!flags.network && flags.net) flags.network = flags.net;
  const req = buildCreateRequest(flags, ctx.args, {
    readFile: (p) => Deno.readTextFileSync(p),
    getEnv: (k) => Deno.env.get(k),
    resolvePath: (p) => {
      const home = Deno.env.get("HOME") ?? "/";
      const expanded = p.startsWith("~") ? home + p.slice(1) : p;
      return expanded.startsWith("/") ? expanded : `${Deno.cwd()}/${expanded}`.replace(/\/\.\//g, "/");
    },
    cpuCount: navigator.hardwareConcurrency,
  });
  const { parsePullPolicy } = await import("../runtime/image_pull.ts");
  const pull = parsePullPolicy(str(flags.pull));
  if (ctx.flags.verify === true) {
    // Pulled (verified) first when needed, then the local image checked and pinned by digest.
    req.image = await verifiedImage(req.image, pull);
    return { req, pull: "never" as const };
  }
  return { req, pull };
}

/**
 * `--verify`: pulls the image with verification when the pull policy asks for it, checks the
 * local image's signature in its registry, and returns it pinned by digest.
 */
async function verifiedImage(image: string, pull: "missing" | "always" | "never"): Promise<string> {
  const [{ ImageStore }, { verifyLocalImage }, { loadRegistryConfig }, { certsDirs }, { NotFoundError }] =
    await Promise.all([
      import("../image/image_store.ts"),
      import("../image/trust/verify.ts"),
      import("../image/distribution/config.ts"),
      import("../image/distribution/tls.ts"),
      import("../errors.ts"),
    ]);
  const find = () => {
    const store = ImageStore.open(rootDir());
    try {
      return store.find(image);
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    } finally {
      store.close();
    }
  };
  let record = pull === "always" ? undefined : find();
  if (!record && pull !== "never") {
    const { pullForRun } = await import("../runtime/image_pull.ts");
    await pullForRun(rootDir(), image, pull === "missing", true);
    record = find();
  }
  if (!record) throw new NotFoundError(`Unable to find image '${image}' locally`);
  const checked = await verifyLocalImage(rootDir(), image, record, {
    config: await loadRegistryConfig(rootDir()),
    certsDirs: certsDirs(rootDir()),
  });
  return checked.pinned;
}

function ttySize(): { rows: number; cols: number } | undefined {
  try {
    const { rows, columns } = Deno.consoleSize();
    return { rows, cols: columns };
  } catch {
    return undefined;
  }
}

async function attachedRun(op: "run" | "start", body: Record<string, unknown>, o: {
  stdin: boolean;
  tty: boolean;
  detachKeys: string;
  /** Forward the signals we receive (`--sig-proxy`; without a tty only). */
  sigProxy: boolean;
  /** For run: the image and the pull policy. */
  pull?: { image: string; policy: import("../runtime/image_pull.ts").PullPolicy };
}): Promise<number> {
  const { openStream } = await client();
  const { runAttachSession, parseDetachKeys } = await session();
  if (o.stdin && o.tty && !Deno.stdin.isTerminal()) throw new TypeError("the input device is not a TTY");
  const open = () =>
    openStream(rootDir(), {
      op,
      ...body,
      attach: { stdin: o.stdin, stdout: true, stderr: true },
      tty: o.tty ? ttySize() : undefined,
    });
  const s = o.pull
    ? await (await import("../runtime/image_pull.ts")).withPullPolicy(
      rootDir(),
      o.pull.image,
      o.pull.policy,
      open,
    )
    : await open();
  return await runAttachSession(s, {
    stdin: o.stdin,
    tty: s.response.tty === true,
    detachKeys: parseDetachKeys(o.detachKeys),
    sigProxy: o.sigProxy,
    waitForStart: true,
  });
}

const runSpec: CommandSpec = {
  name: "run",
  usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
  description: "Create and run a new container from an image",
  flags: runFlags,
  stopAtPositional: true,
  minArgs: 1,
  async run(ctx) {
    const { req, pull } = await createRequest(ctx);
    if (ctx.flags.detach) {
      const { request } = await client();
      const { withPullPolicy } = await import("../runtime/image_pull.ts");
      const r = await withPullPolicy(
        rootDir(),
        req.image,
        pull,
        () => request<{ id: string }>(rootDir(), { op: "run", request: req }),
      );
      console.log(r.id);
      return 0;
    }
    return await attachedRun("run", { request: req }, {
      stdin: req.openStdin,
      tty: req.tty,
      detachKeys: str(ctx.flags["detach-keys"]) ?? "ctrl-p,ctrl-q",
      sigProxy: ctx.flags["sig-proxy"] !== false,
      pull: { image: req.image, policy: pull },
    });
  },
};

const createSpec: CommandSpec = {
  name: "create",
  usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
  description: "Create a new container",
  flags: runFlags.filter((f) => !["detach", "detach-keys", "sig-proxy"].includes(f.name)),
  stopAtPositional: true,
  minArgs: 1,
  async run(ctx) {
    const { req, pull } = await createRequest(ctx);
    const { request } = await client();
    const { withPullPolicy } = await import("../runtime/image_pull.ts");
    const r = await withPullPolicy(
      rootDir(),
      req.image,
      pull,
      () => request<{ id: string }>(rootDir(), { op: "create", request: req }),
    );
    console.log(r.id);
  },
};

const startSpec: CommandSpec = {
  name: "start",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  description: "Start one or more stopped containers",
  flags: [
    { name: "attach", short: "a", type: "bool", description: "Attach STDOUT/STDERR and forward signals" },
    { name: "interactive", short: "i", type: "bool", description: "Attach container's STDIN" },
    {
      name: "detach-keys",
      type: "string",
      value: "string",
      description: "Override the key sequence for detaching",
    },
  ],
  minArgs: 1,
  async run(ctx) {
    if (ctx.flags.attach || ctx.flags.interactive) {
      if (ctx.args.length > 1) throw new TypeError("you cannot start and attach multiple containers at once");
      const { request } = await client();
      const found = await request<{ container: { Config: { Tty: boolean } } }>(rootDir(), {
        op: "find",
        ref: ctx.args[0],
      });
      return await attachedRun("start", { ref: ctx.args[0] }, {
        stdin: ctx.flags.interactive === true,
        tty: found.container.Config.Tty,
        detachKeys: str(ctx.flags["detach-keys"]) ?? "ctrl-p,ctrl-q",
        sigProxy: true,
      });
    }
    const { request } = await client();
    return await eachContainer(ctx.args, async (ref) => {
      await request(rootDir(), { op: "start", ref });
      console.log(ref);
    });
  },
};

const stopSpec: CommandSpec = {
  name: "stop",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  description: "Stop one or more running containers",
  flags: [
    {
      name: "time",
      short: "t",
      type: "number",
      value: "int",
      description: "Seconds to wait before killing the container",
    },
    {
      name: "signal",
      short: "s",
      type: "string",
      value: "string",
      description: "Signal to send to the container",
    },
  ],
  minArgs: 1,
  async run(ctx) {
    const { request } = await client();
    return await eachContainer(ctx.args, async (ref) => {
      await request(rootDir(), { op: "stop", ref, timeout: ctx.flags.time, signal: str(ctx.flags.signal) });
      console.log(ref);
    });
  },
};

const killSpec: CommandSpec = {
  name: "kill",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  description: "Kill one or more running containers",
  flags: [{
    name: "signal",
    short: "s",
    type: "string",
    value: "string",
    description: "Signal to send to the container",
    default: "KILL",
  }],
  minArgs: 1,
  async run(ctx) {
    const { parseSignal } = await import("../ffi/constants.ts");
    parseSignal(String(ctx.flags.signal));
    const { request } = await client();
    return await eachContainer(ctx.args, async (ref) => {
      await request(rootDir(), { op: "kill", ref, signal: ctx.flags.signal });
      console.log(ref);
    });
  },
};

const restartSpec: CommandSpec = {
  name: "restart",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  description: "Restart one or more containers",
  flags: [{
    name: "time",
    short: "t",
    type: "number",
    value: "int",
    description: "Seconds to wait before killing the container",
  }],
  minArgs: 1,
  async run(ctx) {
    const { request } = await client();
    return await eachContainer(ctx.args, async (ref) => {
      await request(rootDir(), { op: "restart", ref, timeout: ctx.flags.time });
      console.log(ref);
    });
  },
};

const rmSpec: CommandSpec = {
  name: "rm",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  description: "Remove one or more containers",
  flags: [
    {
      name: "force",
      short: "f",
      type: "bool",
      description: "Force the removal of a running container (uses SIGKILL)",
    },
    {
      name: "volumes",
      short: "v",
      type: "bool",
      description: "Remove anonymous volumes associated with the container",
    },
    { name: "link", short: "l", type: "bool", description: "Remove the specified link", hidden: true },
  ],
  minArgs: 1,
  async run(ctx) {
    const { request } = await client();
    return await eachContainer(ctx.args, async (ref) => {
      try {
        await request(rootDir(), { op: "rm", ref, force: ctx.flags.force, volumes: ctx.flags.volumes });
      } catch (e) {
        // Docker: rm -f of a missing container is not an error.
        if (ctx.flags.force && e instanceof NotFoundError) return;
        throw e;
      }
      console.log(ref);
    });
  },
};

const PS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Names: "NAMES",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
  LocalVolumes: "LOCAL VOLUMES",
};

const psSpec: CommandSpec = {
  name: "ps",
  aliases: ["ls", "list"],
  usage: "[OPTIONS]",
  description: "List containers",
  flags: [
    {
      name: "all",
      short: "a",
      type: "bool",
      description: "Show all containers (default shows just running)",
    },
    { name: "quiet", short: "q", type: "bool", description: "Only display container IDs" },
    { name: "filter", short: "f", type: "list", description: "Filter output based on conditions provided" },
    {
      name: "format",
      type: "string",
      value: "string",
      description: "Format output: table, json, or a Go template",
    },
    { name: "no-trunc", type: "bool", description: "Don't truncate output" },
    {
      name: "last",
      short: "n",
      type: "number",
      value: "int",
      description: "Show n last created containers (includes all states)",
    },
    {
      name: "latest",
      short: "l",
      type: "bool",
      description: "Show the latest created container (includes all states)",
    },
    { name: "size", short: "s", type: "bool", description: "Display total file sizes", hidden: true },
  ],
  maxArgs: 0,
  async run(ctx) {
    const { request } = await client();
    const { psRow, matchesFilters, parsePsFilters } = await import("../runtime/inspect.ts");
    type C = import("../runtime/container_store.ts").Container;
    const filters = list(ctx.flags.filter);
    parsePsFilters(filters);
    const r = await request<{ now: number; containers: C[] }>(rootDir(), { op: "list" });
    let cs = r.containers;
    const last = typeof ctx.flags.last === "number" && ctx.flags.last > 0
      ? ctx.flags.last
      : ctx.flags.latest
      ? 1
      : 0;
    const all = ctx.flags.all === true || last > 0 || filters.some((f) => /^(status|exited)=/.test(f));
    if (!all) {
      cs = cs.filter((c) =>
        c.State.Status === "running" || c.State.Status === "paused" || c.State.Status === "restarting"
      );
    }
    cs = cs.filter((c) => matchesFilters(c, filters, r.containers));
    if (last) cs = cs.slice(0, last);
    const rows = cs.map((c) => psRow(c, r.now, { noTrunc: ctx.flags["no-trunc"] === true }));
    if (ctx.flags.quiet) {
      for (const row of rows) console.log(row.ID);
      return;
    }
    await printRows(rows as unknown as Record<string, string>[], str(ctx.flags.format), PS_HEADERS, [
      "ID",
      "Image",
      "Command",
      "RunningFor",
      "Status",
      "Ports",
      "Names",
    ]);
  },
};

const logsSpec: CommandSpec = {
  name: "logs",
  usage: "[OPTIONS] CONTAINER",
  description: "Fetch the logs of a container",
  flags: [
    { name: "follow", short: "f", type: "bool", description: "Follow log output" },
    { name: "timestamps", short: "t", type: "bool", description: "Show timestamps" },
    {
      name: "since",
      type: "string",
      value: "string",
      description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")',
    },
    {
      name: "until",
      type: "string",
      value: "string",
      description: "Show logs before a timestamp or relative",
    },
    {
      name: "tail",
      short: "n",
      type: "string",
      value: "string",
      description: "Number of lines to show from the end of the logs",
      default: "all",
    },
    { name: "details", type: "bool", description: "Show extra details provided to logs", hidden: true },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const tailFlag = String(ctx.flags.tail ?? "all");
    const tail = tailFlag === "all" ? -1 : Number(tailFlag);
    if (!Number.isInteger(tail)) throw new TypeError(`invalid value for "tail": ${tailFlag}`);
    const { openStream } = await client();
    const { runAttachSession } = await session();
    const s = await openStream(rootDir(), {
      op: "logs",
      ref: ctx.args[0],
      follow: ctx.flags.follow === true,
      timestamps: ctx.flags.timestamps === true,
      since: str(ctx.flags.since),
      until: str(ctx.flags.until),
      tail,
    });
    await runAttachSession(s, {
      stdin: false,
      tty: false,
      detachKeys: new Uint8Array(),
      sigProxy: false,
      waitForStart: false,
    });
    return 0;
  },
};

const waitSpec: CommandSpec = {
  name: "wait",
  usage: "CONTAINER [CONTAINER...]",
  description: "Block until one or more containers stop, then print their exit codes",
  flags: [{
    name: "condition",
    type: "string",
    value: "string",
    description: 'Wait until the container is "not-running", has made its "next-exit", or is "removed"',
    default: "not-running",
  }],
  minArgs: 1,
  async run(ctx) {
    const condition = String(ctx.flags.condition ?? "not-running");
    if (!["not-running", "next-exit", "removed"].includes(condition)) {
      throw new TypeError(`invalid condition: "${condition}" (not-running, next-exit or removed)`);
    }
    const { request } = await client();
    return await eachContainer(ctx.args, async (ref) => {
      const r = await request<{ StatusCode: number }>(rootDir(), { op: "wait", ref, condition });
      console.log(r.StatusCode);
    });
  },
};

const attachSpec: CommandSpec = {
  name: "attach",
  usage: "[OPTIONS] CONTAINER",
  description: "Attach local standard input, output, and error streams to a running container",
  flags: [
    { name: "no-stdin", type: "bool", description: "Do not attach STDIN" },
    {
      name: "detach-keys",
      type: "string",
      value: "string",
      description: "Override the key sequence for detaching",
    },
    {
      name: "sig-proxy",
      type: "bool",
      description: "Proxy all received signals to the process",
      default: true,
    },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const { openStream } = await client();
    const { runAttachSession, parseDetachKeys } = await session();
    const stdin = ctx.flags["no-stdin"] !== true;
    const s = await openStream(rootDir(), { op: "attach", ref: ctx.args[0], stdin });
    if (stdin && s.response.tty === true && !Deno.stdin.isTerminal()) {
      // Without a terminal, only forward what is piped in.
    }
    return await runAttachSession(s, {
      stdin,
      tty: s.response.tty === true,
      detachKeys: parseDetachKeys(str(ctx.flags["detach-keys"]) ?? "ctrl-p,ctrl-q"),
      sigProxy: ctx.flags["sig-proxy"] !== false,
      waitForStart: false,
    });
  },
};

const execSpec: CommandSpec = {
  name: "exec",
  usage: "[OPTIONS] CONTAINER COMMAND [ARG...]",
  description: "Execute a command in a running container",
  flags: [
    { name: "detach", short: "d", type: "bool", description: "Detached mode: run command in the background" },
    { name: "interactive", short: "i", type: "bool", description: "Keep STDIN open even if not attached" },
    { name: "tty", short: "t", type: "bool", description: "Allocate a pseudo-TTY" },
    {
      name: "user",
      short: "u",
      type: "string",
      value: "string",
      description: "Username or UID (format: <name|uid>[:<group|gid>])",
    },
    {
      name: "workdir",
      short: "w",
      type: "string",
      value: "string",
      description: "Working directory inside the container",
    },
    { name: "env", short: "e", type: "list", description: "Set environment variables" },
    { name: "env-file", type: "list", description: "Read in a file of environment variables" },
    { name: "privileged", type: "bool", description: "Give extended privileges to the command" },
    {
      name: "detach-keys",
      type: "string",
      value: "string",
      description: "Override the key sequence for detaching",
    },
  ],
  stopAtPositional: true,
  minArgs: 2,
  async run(ctx) {
    const [ref, ...cmd] = ctx.args;
    const { parseEnvFile, parseEnvFlags } = await import("../runtime/run_options.ts");
    const env: string[] = [];
    for (const f of list(ctx.flags["env-file"])) {
      env.push(...parseEnvFile(Deno.readTextFileSync(f), (k) => Deno.env.get(k), f));
    }
    env.push(...parseEnvFlags(list(ctx.flags.env), (k) => Deno.env.get(k)));
    const exec = {
      cmd,
      env,
      user: str(ctx.flags.user),
      workdir: str(ctx.flags.workdir),
      tty: ctx.flags.tty === true,
      stdin: ctx.flags.interactive === true,
      privileged: ctx.flags.privileged === true,
      detach: ctx.flags.detach === true,
    };
    if (exec.workdir && !exec.workdir.startsWith("/")) {
      throw new TypeError(
        `the working directory '${exec.workdir}' is invalid, it needs to be an absolute path`,
      );
    }
    if (exec.stdin && exec.tty && !Deno.stdin.isTerminal()) {
      throw new TypeError("the input device is not a TTY");
    }
    const { openStream, request } = await client();
    if (exec.detach) {
      await request(rootDir(), { op: "exec", ref, exec });
      return 0;
    }
    const { runAttachSession, parseDetachKeys } = await session();
    let s;
    try {
      s = await openStream(rootDir(), { op: "exec", ref, exec, tty: exec.tty ? ttySize() : undefined });
    } catch (e) {
      // Docker's CLI exits 1 for a daemon error here (not running, no such container).
      if (!(e instanceof ExitCodeError)) {
        console.error(`ctr: ${(e as Error).message}`);
        return 1;
      }
      throw e;
    }
    return await runAttachSession(s, {
      stdin: exec.stdin,
      tty: exec.tty,
      detachKeys: parseDetachKeys(str(ctx.flags["detach-keys"]) ?? "ctrl-p,ctrl-q"),
      sigProxy: true,
      waitForStart: true,
    });
  },
};

const topSpec: CommandSpec = {
  name: "top",
  usage: "CONTAINER [ps OPTIONS]",
  description: "Display the running processes of a container",
  stopAtPositional: true,
  minArgs: 1,
  async run(ctx) {
    const { request } = await client();
    const { renderTable } = await import("./format.ts");
    const r = await request<{ Titles: string[]; Processes: string[][] }>(rootDir(), {
      op: "top",
      ref: ctx.args[0],
    });
    console.log(renderTable([r.Titles, ...r.Processes]));
  },
};

function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? n.toFixed(i === 0 ? 0 : 1) : n.toFixed(i === 0 ? 0 : 2)}${units[i]}`;
}

function humanSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)}${units[i]}`;
}

const statsSpec: CommandSpec = {
  name: "stats",
  usage: "[OPTIONS] [CONTAINER...]",
  description: "Display a live stream of container(s) resource usage statistics",
  flags: [
    {
      name: "all",
      short: "a",
      type: "bool",
      description: "Show all containers (default shows just running)",
    },
    {
      name: "no-stream",
      type: "bool",
      description: "Disable streaming stats and only pull the first result",
    },
    { name: "no-trunc", type: "bool", description: "Do not truncate output" },
    {
      name: "format",
      type: "string",
      value: "string",
      description: "Format output: table, json, or a Go template",
    },
  ],
  async run(ctx) {
    const { request } = await client();
    type Sample = {
      id: string;
      name: string;
      running: boolean;
      stats?: {
        cpuUsageNs: number;
        memoryUsage: number;
        memoryLimit: number;
        pids: number;
        blockRead: number;
        blockWrite: number;
      };
      net: { rx: number; tx: number };
    };
    type Reply = { system: number; cpus: number; samples: Sample[] };
    const sample = () => request<Reply>(rootDir(), { op: "stats", refs: ctx.args });
    let prev = await sample();
    const once = ctx.flags["no-stream"] === true;
    for (;;) {
      await new Promise((r) => setTimeout(r, once ? 500 : 1000));
      const cur = await sample();
      const rows = cur.samples.map((s) => {
        const p = prev.samples.find((x) => x.id === s.id);
        const cpuDelta = (s.stats?.cpuUsageNs ?? 0) - (p?.stats?.cpuUsageNs ?? 0);
        const sysDelta = cur.system - prev.system;
        const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cur.cpus * 100 : 0;
        const mem = s.stats?.memoryUsage ?? 0, limit = s.stats?.memoryLimit ?? 0;
        return {
          Container: ctx.flags["no-trunc"] ? s.id : s.id.slice(0, 12),
          ID: ctx.flags["no-trunc"] ? s.id : s.id.slice(0, 12),
          Name: s.name,
          CPUPerc: `${cpu.toFixed(2)}%`,
          MemUsage: `${humanBytes(mem)} / ${humanBytes(limit)}`,
          MemPerc: `${limit ? ((mem / limit) * 100).toFixed(2) : "0.00"}%`,
          NetIO: `${humanSize(s.net.rx)} / ${humanSize(s.net.tx)}`,
          BlockIO: `${humanSize(s.stats?.blockRead ?? 0)} / ${humanSize(s.stats?.blockWrite ?? 0)}`,
          PIDs: String(s.stats?.pids ?? 0),
        };
      });
      if (!once) console.log("\x1b[2J\x1b[H");
      await printRows(rows, str(ctx.flags.format), {
        Container: "CONTAINER",
        ID: "CONTAINER ID",
        Name: "NAME",
        CPUPerc: "CPU %",
        MemUsage: "MEM USAGE / LIMIT",
        MemPerc: "MEM %",
        NetIO: "NET I/O",
        BlockIO: "BLOCK I/O",
        PIDs: "PIDS",
      }, ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"]);
      if (once) return;
      prev = cur;
    }
  },
};

function simple(name: string, op: string, description: string): CommandSpec {
  return {
    name,
    usage: "CONTAINER [CONTAINER...]",
    description,
    minArgs: 1,
    async run(ctx) {
      const { request } = await client();
      return await eachContainer(ctx.args, async (ref) => {
        await request(rootDir(), { op, ref });
        console.log(ref);
      });
    },
  };
}

const renameSpec: CommandSpec = {
  name: "rename",
  usage: "CONTAINER NEW_NAME",
  description: "Rename a container",
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    const { request } = await client();
    await request(rootDir(), { op: "rename", ref: ctx.args[0], name: ctx.args[1] });
  },
};

const cpSpec: CommandSpec = {
  name: "cp",
  usage: "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       ctr cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
  description: "Copy files/folders between a container and the local filesystem",
  flags: [
    { name: "archive", short: "a", type: "bool", description: "Archive mode (copy all uid/gid information)" },
    { name: "follow-link", short: "L", type: "bool", description: "Always follow symbol link in SRC_PATH" },
    { name: "quiet", short: "q", type: "bool", description: "Suppress progress output" },
  ],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    const { copyWithContainer, splitCopyArg } = await import("../runtime/container_copy.ts");
    const { request } = await client();
    const [a, b] = ctx.args.map(splitCopyArg);
    if ((a.container === undefined) === (b.container === undefined)) {
      throw new TypeError("must specify at least one container source");
    }
    const ref = (a.container ?? b.container)!;
    const info = await request<{
      container: import("../runtime/container_store.ts").Container;
      pid: number;
      paths: import("../runtime/container_store.ts").ContainerPaths;
    }>(rootDir(), { op: "find", ref });
    await copyWithContainer(info, a, b, {
      archive: ctx.flags.archive === true,
      followLink: ctx.flags["follow-link"] === true,
      volumePath: (name) => `${rootDir()}/volumes/${name}/_data`,
    });
  },
};

const pruneSpec: CommandSpec = {
  name: "prune",
  usage: "[OPTIONS]",
  description: "Remove all stopped containers",
  flags: [
    { name: "force", short: "f", type: "bool", description: "Do not prompt for confirmation" },
    { name: "filter", type: "list", description: "Provide filter values", hidden: true },
  ],
  maxArgs: 0,
  async run(ctx) {
    if (!ctx.flags.force) {
      const answer = prompt(
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N]",
      );
      if (!answer || !/^y(es)?$/i.test(answer.trim())) return 0;
    }
    const { request } = await client();
    const r = await request<{ deleted: string[] }>(rootDir(), { op: "prune" });
    if (r.deleted.length) console.log(`Deleted Containers:\n${r.deleted.join("\n")}\n`);
    console.log("Total reclaimed space: 0B");
  },
};

/** `container inspect`: the shared `inspect` restricted to containers. */
const containerInspectSpec: CommandSpec = {
  ...inspectCommand,
  description: "Display detailed information on one or more containers",
  flags: inspectCommand.flags!.filter((f) => f.name !== "type"),
  run: (ctx) => inspectCommand.run!({ ...ctx, flags: { ...ctx.flags, type: "container" } }),
};

/** Prints rows for `--format`: Docker's default table when none is given. */
async function printRows(
  rows: Record<string, string>[],
  format: string | undefined,
  headers: Record<string, string>,
  columns: string[],
): Promise<void> {
  const { formatRows } = await import("./format.ts");
  const f = !format || format === "table" ? `table ${columns.map((c) => `{{.${c}}}`).join("\t")}` : format;
  for (const line of formatRows(f, rows, headers)) console.log(line);
}

const containerCommands = [
  runSpec,
  createSpec,
  startSpec,
  stopSpec,
  killSpec,
  restartSpec,
  rmSpec,
  psSpec,
  logsSpec,
  waitSpec,
  attachSpec,
  execSpec,
  topSpec,
  statsSpec,
  simple("pause", "pause", "Pause all processes within one or more containers"),
  simple("unpause", "unpause", "Unpause all processes within one or more containers"),
  cpSpec,
  renameSpec,
];

const containerGroup: CommandSpec = {
  name: "container",
  usage: "COMMAND",
  description: "Manage containers",
  subcommands: [...containerCommands, pruneSpec, containerInspectSpec],
};

/** The commands of this group. */
export const commands: CommandSpec[] = [...containerCommands, containerGroup];

/** Heading for `ctr help`. */
export const title = "Container commands";
