/**
 * Networking end to end, as a user drives it (root): containers on user networks reach each
 * other by name through the embedded DNS and not across networks; `--network container:`
 * shares a namespace; published ports serve from 127.0.0.1 and are reported by `ctr port`
 * and `ctr ps`; 50 concurrent starts get 50 addresses; removing everything leaves the host's
 * links, addresses, routes and nftables rules as they were.
 *
 * Traffic goes only to 127.0.0.1 and to the containers' own addresses; every state root has
 * its own bridge and subnets (subnet claims), so these tests run beside others.
 */
import { assert, assertEquals, assertMatch, assertNotEquals, assertStringIncludes } from "./assert.ts";
import { ctr } from "./helpers.ts";
import { freeSubnet, ipJson } from "./net.ts";
import { ok, rootTest, until } from "./runtime_helpers.ts";
import { firewallTableName } from "../runtime/network/firewall.ts";

/** The host's network state that ctr could change: links, IPv4 addresses, routes, the root's table. */
async function hostNet(root: string) {
  const links = (await ipJson(null, ["link"])).map((l) => String(l.ifname)).sort();
  const addrs = (await ipJson(null, ["-4", "addr"])).flatMap((a) =>
    ((a.addr_info as { local: string; prefixlen: number }[]) ?? []).map((i) =>
      `${a.ifname} ${i.local}/${i.prefixlen}`
    )
  ).sort();
  const routes = (await ipJson(null, ["route"])).map((r) => `${r.dst} ${r.dev}`).sort();
  const table = await new Deno.Command("nft", {
    args: ["list", "table", "ip", firewallTableName(root)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return { links, addrs, routes, table: table.success ? new TextDecoder().decode(table.stdout) : "" };
}

/** What of `after` is new compared with `before` and belongs to this root (other tests run too). */
function leftovers(
  before: Awaited<ReturnType<typeof hostNet>>,
  after: Awaited<ReturnType<typeof hostNet>>,
  mine: {
    bridges: string[];
    subnets: string[];
  },
) {
  const prefixes = mine.subnets.map((s) => s.replace(/\.0\/\d+$/, "."));
  const ours = (s: string) =>
    mine.bridges.some((b) => s === b || s.startsWith(`${b} `)) || prefixes.some((p) => s.includes(` ${p}`)) ||
    prefixes.some((p) => s.startsWith(p));
  return {
    links: after.links.filter((l) => !before.links.includes(l) && ours(l)),
    addrs: after.addrs.filter((a) => !before.addrs.includes(a) && ours(a)),
    routes: after.routes.filter((r) => !before.routes.includes(r) && ours(r)),
    table: after.table,
  };
}

async function fetchText(url: string): Promise<string> {
  let last = "";
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await res.text();
    } catch (e) {
      last = String(e);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return `error: ${last}`;
}

async function www(root: string, text: string): Promise<string> {
  const dir = `${root}/www`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/index.html`, text);
  return dir;
}

rootTest(
  "network: containers on a user network fetch from each other by name; another network cannot",
  async ({ root, image }) => {
    const before = await hostNet(root);
    const s1 = await freeSubnet(), s2 = await freeSubnet();
    await ok(root, ["network", "create", "--subnet", s1.subnet, "front"]);
    await ok(root, ["network", "create", "--subnet", s2.subnet, "back"]);
    const dir = await www(root, "served by name\n");
    await ok(root, [
      "run",
      "-d",
      "--name",
      "web",
      "--network",
      "front",
      "--network-alias",
      "www",
      "-v",
      `${dir}:/www`,
      image,
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    const bridges = JSON.parse(await ok(root, ["network", "inspect", "front", "back"])).map((
      n: { Options: Record<string, string> },
    ) => n.Options["com.docker.network.bridge.name"]);

    // By name, by alias, by NAME.NETWORK — busybox wget and nslookup inside a second container.
    const client = await ctr(root, [
      "run",
      "--rm",
      "--network",
      "front",
      image,
      "sh",
      "-c",
      "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://web/ && break; sleep 0.2; done; wget -q -O- http://www/; wget -q -O- http://web.front/; cat /etc/resolv.conf",
    ]);
    assertEquals(client.code, 0, client.stderr);
    const [a, b, c, ...resolv] = client.stdout.split("\n");
    assertEquals([a, b, c], ["served by name", "served by name", "served by name"]);
    assertEquals(resolv[0], `nameserver ${s1.gateway}`);

    // A third container on another network: no name, and no route through the host either.
    const outsider = await ctr(root, [
      "run",
      "--rm",
      "--network",
      "back",
      image,
      "sh",
      "-c",
      `nslookup web >/dev/null 2>&1 && echo resolved; timeout 3 wget -q -O- http://${s1.prefix}.2/ || echo unreachable`,
    ]);
    assertEquals(outsider.stdout.trim(), "unreachable");

    // --network container:web shares web's namespace: its 127.0.0.1:80 is web's httpd.
    const shared = await ctr(root, [
      "run",
      "--rm",
      "--network",
      "container:web",
      image,
      "sh",
      "-c",
      "wget -q -O- http://127.0.0.1/; ip -4 -o addr show eth0",
    ]);
    assertEquals(shared.code, 0, shared.stderr);
    assertStringIncludes(shared.stdout, "served by name\n");
    assertStringIncludes(shared.stdout, `inet ${s1.prefix}.2/24`);

    // Inspect shows the endpoint.
    const settings = JSON.parse(
      await ok(root, ["inspect", "-f", "{{json .NetworkSettings.Networks}}", "web"]),
    );
    assertEquals(settings.front.IPAddress, `${s1.prefix}.2`);
    assertEquals(settings.front.Aliases, ["www"]);

    await ok(root, ["rm", "-f", "web"]);
    await ok(root, ["network", "rm", "front", "back"]);
    assertEquals(leftovers(before, await hostNet(root), { bridges, subnets: [s1.subnet, s2.subnet] }), {
      links: [],
      addrs: [],
      routes: [],
      table: "",
    });
  },
);

rootTest(
  "network: published ports serve httpd on 127.0.0.1; -P and ephemeral ports show in ctr port and ctr ps",
  async ({ root, image }) => {
    const dir = await www(root, "published\n");
    await ok(root, [
      "run",
      "-d",
      "--name",
      "pub",
      "-p",
      "127.0.0.1::80",
      "--expose",
      "9000",
      "-v",
      `${dir}:/www`,
      image,
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    const port = (await ok(root, ["port", "pub", "80"])).trim();
    assertMatch(port, /^127\.0\.0\.1:\d+$/);
    assertEquals(await fetchText(`http://${port}/`), "published\n");
    const all = await ok(root, ["port", "pub"]);
    assertEquals(all, `80/tcp -> ${port}\n`);
    const ps = (await ok(root, ["ps", "--format", "{{.Names}} {{.Ports}}"])).trim();
    assertEquals(ps, `pub 9000/tcp, ${port}->80/tcp`);

    // -P publishes every exposed port on an ephemeral host port on every address.
    await ok(root, [
      "run",
      "-d",
      "--name",
      "all",
      "-P",
      "--expose",
      "80",
      "--expose",
      "81/udp",
      "-v",
      `${dir}:/www`,
      image,
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    const lines = (await ok(root, ["port", "all"])).trim().split("\n");
    assertEquals(lines.length, 2);
    assertMatch(lines[0], /^80\/tcp -> 0\.0\.0\.0:\d+$/);
    assertMatch(lines[1], /^81\/udp -> 0\.0\.0\.0:\d+$/);
    const p80 = lines[0].split(":").pop();
    assertEquals(await fetchText(`http://127.0.0.1:${p80}/`), "published\n");
    assertStringIncludes(
      await ok(root, ["ps", "--format", "{{.Ports}}", "--filter", "name=all"]),
      `0.0.0.0:${p80}->80/tcp`,
    );

    // A taken host port is an error before the container starts.
    const taken = await ctr(root, ["run", "--rm", "-p", `${port}:80`, image, "true"]);
    assertEquals(taken.code, 125);
    assertStringIncludes(taken.stderr, `Bind for ${port} failed: port is already allocated`);
    const missing = await ctr(root, ["port", "pub", "81"]);
    assertEquals([missing.code, missing.stderr.trim()], [
      1,
      "ctr: No public port '81/tcp' published for pub",
    ]);

    await ok(root, ["rm", "-f", "pub", "all"]);
    // The ports are free again.
    Deno.listen({ hostname: "127.0.0.1", port: Number(port.split(":")[1]) }).close();
  },
);

rootTest(
  "network: 50 containers started at once get 50 distinct addresses; removing them leaves the host as before",
  async ({ root, image }) => {
    const before = await hostNet(root);
    const s = await freeSubnet();
    await ok(root, ["network", "create", "--subnet", s.subnet, "many"]);
    const bridge =
      JSON.parse(await ok(root, ["network", "inspect", "many"]))[0].Options["com.docker.network.bridge.name"];
    const runs = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) => ctr(root, ["run", "-d", "--name", `c${i}`, "--network", "many", image, "sleep", "600"]),
      ),
    );
    for (const r of runs) assertEquals(r.code, 0, r.stderr);
    const ips = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) => ok(root, ["inspect", "-f", "{{.NetworkSettings.Networks.many.IPAddress}}", `c${i}`]),
      ),
    );
    const distinct = new Set(ips.map((x) => x.trim()));
    assertEquals(distinct.size, 50);
    for (const ip of distinct) assert(ip.startsWith(`${s.prefix}.`), ip);
    const during = await hostNet(root);
    assert(during.links.includes(bridge));
    assertNotEquals(during.table, "");

    const rm = await Promise.all(Array.from({ length: 50 }, (_, i) => ctr(root, ["rm", "-f", `c${i}`])));
    for (const r of rm) assertEquals(r.code, 0, r.stderr);
    await until(async () => (await hostNet(root)).table === "", 10_000, "the nftables table to go");
    await ok(root, ["network", "rm", "many"]);
    assertEquals(leftovers(before, await hostNet(root), { bridges: [bridge], subnets: [s.subnet] }), {
      links: [],
      addrs: [],
      routes: [],
      table: "",
    });
  },
);

rootTest(
  "network: --network none and host, --add-host, --dns and --hostname land in the container",
  async ({ root, image }) => {
    const none = await ok(root, [
      "run",
      "--rm",
      "--network",
      "none",
      image,
      "sh",
      "-c",
      "ip -o link | wc -l",
    ]);
    assertEquals(none.trim(), "1");
    const host = await ok(root, [
      "run",
      "--rm",
      "--network",
      "host",
      image,
      "sh",
      "-c",
      "ip -o link show lo >/dev/null && echo host",
    ]);
    assertEquals(host.trim(), "host");
    const out = await ok(root, [
      "run",
      "--rm",
      "--hostname",
      "box",
      "--add-host",
      "db:10.1.2.3",
      "--add-host",
      "gw:host-gateway",
      "--dns",
      "192.0.2.53",
      image,
      "sh",
      "-c",
      "hostname; cat /etc/hosts; cat /etc/resolv.conf",
    ]);
    const lines = out.split("\n");
    assertEquals(lines[0], "box");
    assert(lines.includes("10.1.2.3\tdb"), out);
    assert(lines.some((l) => /^10\.\d+\.\d+\.1\tgw$/.test(l)), out);
    assert(lines.some((l) => /^10\.\d+\.\d+\.2\tbox$/.test(l)), out);
    assert(lines.includes("nameserver 192.0.2.53"), out);
    const bad = await ctr(root, ["run", "--rm", "--network", "nope", image, "true"]);
    assertEquals([bad.code, bad.stderr.trim()], [125, "ctr: network nope not found"]);
    const alias = await ctr(root, ["run", "--rm", "--network-alias", "x", image, "true"]);
    assertEquals(alias.code, 125);
    assertStringIncludes(
      alias.stderr,
      "network-scoped alias is supported only for containers in user defined networks",
    );
  },
);

rootTest("network: connect and disconnect a running container", async ({ root, image }) => {
  const s = await freeSubnet();
  await ok(root, ["network", "create", "--subnet", s.subnet, "side"]);
  await ok(root, ["run", "-d", "--name", "box", image, "sleep", "600"]);
  await ok(root, ["network", "connect", "--alias", "boxy", "side", "box"]);
  const ifs = await ok(root, ["exec", "box", "sh", "-c", "ip -4 -o addr show eth1"]);
  assertStringIncludes(ifs, `inet ${s.prefix}.2/24`);
  const named = await ok(root, [
    "run",
    "--rm",
    "--network",
    "side",
    image,
    "sh",
    "-c",
    "nslookup boxy",
  ]);
  assertStringIncludes(named, `${s.prefix}.2`);
  // A renamed container answers to its new name.
  await ok(root, ["rename", "box", "crate"]);
  const renamed = await ok(root, ["run", "--rm", "--network", "side", image, "nslookup", "crate"]);
  assertStringIncludes(renamed, `${s.prefix}.2`);
  const busy = await ctr(root, ["network", "rm", "side"]);
  assertEquals(busy.code, 1);
  assertStringIncludes(busy.stderr, "has active endpoints");
  await ok(root, ["network", "disconnect", "side", "crate"]);
  const gone = await ctr(root, ["exec", "crate", "sh", "-c", "ip -o link show eth1"]);
  assertNotEquals(gone.code, 0);
  await ok(root, ["rm", "-f", "crate"]);
  // A container on the host's network has no namespace of its own to connect.
  await ok(root, ["run", "-d", "--name", "hosty", "--network", "host", image, "sleep", "600"]);
  const refused = await ctr(root, ["network", "connect", "side", "hosty"]);
  assertEquals(refused.code, 1);
  assertStringIncludes(refused.stderr, "cannot be connected to any other network");
  await ok(root, ["rm", "-f", "hosty"]);
  await ok(root, ["network", "rm", "side"]);
});

rootTest(
  "network: after a SIGKILLed supervisor, ports are held again, dead containers' networking is released",
  async ({ root, image }) => {
    const before = await hostNet(root);
    const s = await freeSubnet();
    await ok(root, ["network", "create", "--subnet", s.subnet, "rec"]);
    const bridge =
      JSON.parse(await ok(root, ["network", "inspect", "rec"]))[0].Options["com.docker.network.bridge.name"];
    const dir = await www(root, "survives\n");
    await ok(root, [
      "run",
      "-d",
      "--name",
      "live",
      "--network",
      "rec",
      "-p",
      "127.0.0.1::80",
      "-v",
      `${dir}:/www`,
      image,
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    await ok(root, ["run", "-d", "--name", "doomed", "--network", "rec", image, "sleep", "600"]);
    const port = (await ok(root, ["port", "live", "80"])).trim();
    assertEquals(await fetchText(`http://${port}/`), "survives\n");
    const doomedPid = Number((await ok(root, ["inspect", "-f", "{{.State.Pid}}", "doomed"])).trim());
    const supervisor = Number((await Deno.readTextFile(`${root}/supervisor.pid`)).trim());
    const monitor = Number((await Deno.readTextFile(`${root}/run/monitor.pid`)).trim());

    // The supervisor dies (its port holder and DNS with it) and a container ends meanwhile.
    Deno.kill(monitor, "SIGSTOP");
    Deno.kill(supervisor, "SIGKILL");
    await until(
      () => {
        try {
          // Gone, or a zombie its stopped monitor has not reaped yet.
          const stat = Deno.readTextFileSync(`/proc/${supervisor}/stat`);
          return stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z";
        } catch {
          return true;
        }
      },
      5000,
      "supervisor gone",
    );
    Deno.kill(doomedPid, "SIGKILL");
    // The DNAT rule still carries the published port while nobody holds it.
    assertEquals(await fetchText(`http://${port}/`), "survives\n");
    Deno.kill(monitor, "SIGCONT");
    await until(async () => (await ctr(root, ["ps", "-q"])).code === 0, 10_000, "supervisor back");

    // Recovered: the live container's port is held again, the dead one's endpoint is gone.
    // The new supervisor reconciles right after it starts: wait for it.
    const held = () => {
      try {
        Deno.listen({ hostname: "127.0.0.1", port: Number(port.split(":")[1]) }).close();
        return false;
      } catch (e) {
        return e instanceof Deno.errors.AddrInUse;
      }
    };
    await until(held, 10_000, "the published port held again");
    await until(
      async () => {
        const doc = JSON.parse(await ok(root, ["network", "inspect", "rec"]))[0];
        return Object.values(doc.Containers).map((c) => (c as { Name: string }).Name).join() === "live";
      },
      10_000,
      "only live on the network",
    );

    await ok(root, ["rm", "-f", "live", "doomed"]);
    await ok(root, ["network", "rm", "rec"]);
    assertEquals(leftovers(before, await hostNet(root), { bridges: [bridge], subnets: [s.subnet] }), {
      links: [],
      addrs: [],
      routes: [],
      table: "",
    });
  },
);
