/**
 * The network service against the real host stack (root): containers are stand-in processes
 * that join the namespace `start` returns, as the runtime's init does. Every bridge, subnet,
 * nftables table and state root is unique to the test; traffic goes only to loopback, to the
 * test's own bridge addresses and into the test's namespaces.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../tests/assert.ts";
import { IS_ROOT } from "../../tests/helpers.ts";
import { freeSubnet, ipJson, uniqueName } from "../../tests/net.ts";
import { openDatabase } from "../../image/db.ts";
import { buildQuery, parseAnswers } from "./dns_message.ts";
import { firewallTableName } from "./firewall.ts";
import { hostVethName } from "./bridge.ts";
import { PortInUseError } from "./port_proxy.ts";
import { parsePublish } from "./ports.ts";
import { NetworkService } from "./service.ts";
import { networkSchema } from "./store.ts";

interface Env {
  root: string;
  svc: NetworkService;
  www: string;
  procs: Deno.ChildProcess[];
}

/** Removes whatever a failed test may have left: its bridges, veths and nftables table. */
async function sweep(root: string, bridges: string[]): Promise<void> {
  const quiet = { stdout: "null", stderr: "null" } as const;
  for (const b of bridges) await new Deno.Command("ip", { args: ["link", "del", b], ...quiet }).output();
  await new Deno.Command("nft", { args: ["delete", "table", "ip", firewallTableName(root)], ...quiet })
    .output();
}

async function withService(fn: (env: Env) => Promise<void>, options: { nftables?: boolean } = {}) {
  const root = await Deno.makeTempDir({ prefix: "ctr-nettest-" });
  const db = openDatabase(`${root}/ctr.db`, [networkSchema]);
  const bridge = uniqueName("ctrt");
  const { subnet } = await freeSubnet();
  const svc = new NetworkService({
    root,
    db,
    config: { bridge, subnet, nftables: options.nftables ?? true },
  });
  const www = `${root}/www`;
  await Deno.mkdir(www);
  await Deno.writeTextFile(`${www}/index.html`, "hello from httpd\n");
  const env: Env = { root, svc, www, procs: [] };
  try {
    await fn(env);
  } finally {
    for (const p of env.procs) {
      try {
        p.kill("SIGKILL");
        await p.status;
      } catch { /* gone */ }
    }
    for (const ep of svc.store.allEndpoints()) await svc.stop(ep.containerId).catch(() => {});
    await svc.close();
    await sweep(root, svc.store.listNetworks().flatMap((n) => (n.bridge ? [n.bridge] : [])));
    db.close();
    await Deno.remove(root, { recursive: true });
  }
}

/** Runs a command in a started container's namespace (nsenter joins it, as the init would). */
async function inCtr(netns: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command("nsenter", {
    args: [`--net=${netns}`, "--", ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: o.code, out: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr) };
}

/** A long-running stand-in container process inside the namespace. */
function spawnInCtr(env: Env, netns: string, args: string[]): Deno.ChildProcess {
  const p = new Deno.Command("nsenter", {
    args: [`--net=${netns}`, "--", ...args],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  env.procs.push(p);
  return p;
}

async function retry<T>(fn: () => Promise<T>, ok: (t: T) => boolean, tries = 40): Promise<T> {
  let last!: T;
  for (let i = 0; i < tries; i++) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  return last;
}

async function fetchText(url: string): Promise<string> {
  const r = await retry(async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await res.text();
    } catch (e) {
      return `error: ${e}`;
    }
  }, (t) => !t.startsWith("error"));
  return r;
}

/** What this test created on the host: links, addresses, routes and the nft table. */
async function hostState(names: { bridges: string[]; subnets: string[]; table: string; veths?: string[] }) {
  // Only this test's own links: other tests create bridges and veths at the same time.
  const links = (await ipJson(null, ["link"])).map((l) => String(l.ifname))
    .filter((n) => names.bridges.includes(n) || (names.veths ?? []).includes(n));
  const prefixes = names.subnets.map((s) => s.split(".").slice(0, 3).join(".") + ".");
  const addrs = (await ipJson(null, ["addr"])).flatMap((a) =>
    ((a.addr_info as { local: string }[]) ?? []).map((i) => i.local)
  ).filter((ip) => prefixes.some((p) => ip.startsWith(p)));
  const routes = (await ipJson(null, ["route"])).map((r) => String(r.dst)).filter((d) =>
    prefixes.some((p) => d.startsWith(p))
  );
  const nft = await new Deno.Command("nft", {
    args: ["list", "table", "ip", names.table],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  return { links, addrs, routes, table: nft.success ? new TextDecoder().decode(nft.stdout) : "" };
}

Deno.test({
  name:
    "network service (root): user network with DNS, isolation, published ports, and nothing left after stop",
  ignore: !IS_ROOT,
  async fn() {
    await withService(async (env) => {
      const { svc } = env;
      const s1 = await freeSubnet(), s2 = await freeSubnet();
      const front = svc.createNetwork({ name: "front", subnet: s1.subnet, bridge: uniqueName("ctrt") });
      const back = svc.createNetwork({ name: "back", subnet: s2.subnet, bridge: uniqueName("ctrt") });
      const table = firewallTableName(env.root);
      const veths = [
        hostVethName("a".repeat(64), front.id),
        hostVethName("b".repeat(64), front.id),
        hostVethName("c".repeat(64), back.id),
      ];
      const names = { bridges: [front.bridge!, back.bridge!], subnets: [s1.subnet, s2.subnet], table, veths };
      const before = await hostState(names);
      assertEquals(before, { links: [], addrs: [], routes: [], table: "" });

      svc.register({
        containerId: "a".repeat(64),
        containerName: "web",
        networkMode: "front",
        aliases: ["www"],
      });
      svc.register({ containerId: "b".repeat(64), containerName: "client", networkMode: "front" });
      svc.register({ containerId: "c".repeat(64), containerName: "outsider", networkMode: "back" });
      const hosts = `${env.root}/hosts-a`, resolv = `${env.root}/resolv-a`;
      const web = await svc.start({
        containerId: "a".repeat(64),
        containerName: "web",
        networkMode: "front",
        hostname: "webhost",
        publish: parsePublish("127.0.0.1::80"),
        extraHosts: ["gw:host-gateway"],
        hostsPath: hosts,
        resolvConfPath: resolv,
      });
      const client = await svc.start({
        containerId: "b".repeat(64),
        containerName: "client",
        networkMode: "front",
        hostname: "c",
      });
      const outsider = await svc.start({
        containerId: "c".repeat(64),
        containerName: "outsider",
        networkMode: "back",
        hostname: "o",
      });
      assertEquals(web.endpoints[0].ip, `${s1.prefix}.2`);
      assertEquals(client.endpoints[0].ip, `${s1.prefix}.3`);
      assertEquals(outsider.endpoints[0].ip, `${s2.prefix}.2`);

      // Inside: eth0 with the address and MAC, lo up, default route via the gateway.
      const addr = await inCtr(web.netns, ["ip", "-4", "-o", "addr"]);
      assertStringIncludes(addr.out, `eth0    inet ${s1.prefix}.2/24`);
      assertStringIncludes(addr.out, "lo    inet 127.0.0.1/8");
      assertStringIncludes(
        (await inCtr(web.netns, ["ip", "route"])).out,
        `default via ${s1.gateway} dev eth0`,
      );
      const resolvText = await Deno.readTextFile(resolv);
      assert(resolvText.startsWith(`nameserver ${s1.gateway}\n`), resolvText);
      assertStringIncludes(resolvText, "ndots:0");
      const hostsText = await Deno.readTextFile(hosts);
      assertStringIncludes(hostsText, `${s1.prefix}.2\twebhost\n`);
      assertStringIncludes(hostsText, `${s1.gateway}\tgw\n`);

      spawnInCtr(env, web.netns, ["busybox", "httpd", "-f", "-p", "80", "-h", env.www]);

      // Names resolve on the network through the embedded DNS (name, alias, name.network).
      for (const name of ["web", "www", "web.front", "a".repeat(12)]) {
        const r = await retry(
          () => inCtr(client.netns, ["busybox", "nslookup", name, s1.gateway]),
          (r) => r.code === 0,
        );
        assertStringIncludes(r.out, `Address: ${s1.prefix}.2`, name);
      }
      // The client reaches web over the bridge; the outsider on another network cannot.
      const got = await retry(
        () => inCtr(client.netns, ["busybox", "wget", "-q", "-O-", `http://${s1.prefix}.2/`]),
        (r) => r.code === 0,
      );
      assertEquals(got.out, "hello from httpd\n");
      const blocked = await inCtr(outsider.netns, [
        "timeout",
        "3",
        "busybox",
        "wget",
        "-q",
        "-O-",
        `http://${s1.prefix}.2/`,
      ]);
      assert(blocked.code !== 0, `outsider reached web: ${blocked.out}`);
      // ...and cannot resolve it either: its network's resolver does not know web.
      const nx = await inCtr(outsider.netns, ["busybox", "nslookup", "web", s2.gateway]);
      assert(!nx.out.includes(`${s1.prefix}.2`), nx.out);

      // The published port serves from 127.0.0.1 and from another host address (the gateway).
      const [port] = web.ports;
      assertEquals([port.hostIp, port.containerPort, port.proto], ["127.0.0.1", 80, "tcp"]);
      assertEquals(await fetchText(`http://127.0.0.1:${port.hostPort}/`), "hello from httpd\n");
      assertEquals(svc.ports("a".repeat(64)).map((p) => p.hostPort), [port.hostPort]);
      const settings = svc.settings("a".repeat(64));
      assertEquals(settings.Networks.front.IPAddress, `${s1.prefix}.2`);
      assertEquals(settings.Networks.front.Aliases, ["www"]);
      assertEquals(settings.Ports["80/tcp"], [{ HostIp: "127.0.0.1", HostPort: String(port.hostPort) }]);

      // A second container asking for the same host port fails before anything is set up.
      svc.register({ containerId: "d".repeat(64), containerName: "dup", networkMode: "front" });
      await assertRejects(
        () =>
          svc.start({
            containerId: "d".repeat(64),
            containerName: "dup",
            networkMode: "front",
            hostname: "d",
            publish: parsePublish(`127.0.0.1:${port.hostPort}:80`),
          }),
        PortInUseError,
        "port is already allocated",
      );
      assertEquals(svc.store.endpointsOf("d".repeat(64)), []);

      const during = await hostState(names);
      assertEquals(during.links.length, 2 + 3, "two bridges, three veths");
      assertMatch(during.table, /dnat to .*:80 comment "ctr container a{64}"/);

      for (const id of ["a", "b", "c"]) await svc.stop(id.repeat(64));
      for (const p of env.procs) {
        p.kill("SIGKILL");
        await p.status;
      }
      env.procs.length = 0;
      for (const id of ["a", "b", "c", "d"]) await svc.forget(id.repeat(64));
      web.release();
      client.release();
      outsider.release();
      assertEquals(await hostState(names), before);
      // The port is free again.
      Deno.listen({ hostname: "127.0.0.1", port: port.hostPort }).close();
    });
  },
});

Deno.test({
  name: "network service (root): default bridge, -p on every address, internal networks have no way out",
  ignore: !IS_ROOT,
  async fn() {
    await withService(async (env) => {
      const { svc } = env;
      svc.register({ containerId: "e".repeat(64), containerName: "e", networkMode: "bridge" });
      const e = await svc.start({
        containerId: "e".repeat(64),
        containerName: "e",
        hostname: "e",
        publish: parsePublish("80"),
        resolvConfPath: `${env.root}/resolv-e`,
      });
      const def = svc.store.requireNetwork("bridge");
      spawnInCtr(env, e.netns, ["busybox", "httpd", "-f", "-p", "80", "-h", env.www]);
      const [p] = e.ports;
      assertEquals(p.hostIp, "0.0.0.0");
      assertEquals(await fetchText(`http://127.0.0.1:${p.hostPort}/`), "hello from httpd\n");
      assertEquals(await fetchText(`http://${def.gateway}:${p.hostPort}/`), "hello from httpd\n");
      assert(
        !(await Deno.readTextFile(`${env.root}/resolv-e`)).includes(def.gateway!),
        "no embedded DNS on the default bridge",
      );

      const s = await freeSubnet();
      const internal = svc.createNetwork({
        name: "vault",
        subnet: s.subnet,
        internal: true,
        bridge: uniqueName("ctrt"),
      });
      svc.register({ containerId: "f".repeat(64), containerName: "f", networkMode: "vault" });
      const f = await svc.start({
        containerId: "f".repeat(64),
        containerName: "f",
        hostname: "f",
        networkMode: "vault",
      });
      assert(!(await inCtr(f.netns, ["ip", "route"])).out.includes("default"), "no default route");
      const out = await inCtr(f.netns, [
        "timeout",
        "3",
        "busybox",
        "wget",
        "-q",
        "-O-",
        `http://${e.endpoints[0].ip}/`,
      ]);
      assert(out.code !== 0, "an internal network cannot reach another network");
      const table = (await hostState({ bridges: [], subnets: [], table: firewallTableName(env.root) })).table;
      assertStringIncludes(table, `iifname "${internal.bridge}" oifname != "${internal.bridge}" drop`);
      assert(
        !table.includes(`ip saddr ${s.subnet} oifname != "${internal.bridge}" masquerade`),
        "no masquerade",
      );
      assertStringIncludes(table, `ip saddr ${def.subnet} oifname != "${def.bridge}" masquerade`);
      for (const id of ["e", "f"]) await svc.forget(id.repeat(64));
      e.release();
      f.release();
    });
  },
});

Deno.test({
  name: "network service (root): without nftables the userland proxy carries published ports",
  ignore: !IS_ROOT,
  async fn() {
    await withService(async (env) => {
      const { svc } = env;
      svc.register({ containerId: "g".repeat(64), containerName: "g" });
      const g = await svc.start({
        containerId: "g".repeat(64),
        containerName: "g",
        hostname: "g",
        publish: parsePublish("127.0.0.1::80"),
      });
      spawnInCtr(env, g.netns, ["busybox", "httpd", "-f", "-p", "80", "-h", env.www]);
      assertEquals(await fetchText(`http://127.0.0.1:${g.ports[0].hostPort}/`), "hello from httpd\n");
      const table = await new Deno.Command("nft", {
        args: ["list", "table", "ip", firewallTableName(env.root)],
        stderr: "null",
      })
        .output();
      assert(!table.success, "no table was made");
      await svc.forget("g".repeat(64));
      g.release();
    }, { nftables: false });
  },
});

Deno.test({
  name: "network service (root): 50 containers started at once get 50 distinct addresses",
  ignore: !IS_ROOT,
  async fn() {
    await withService(async (env) => {
      const { svc } = env;
      const s = await freeSubnet();
      const bridge = uniqueName("ctrt");
      const many = svc.createNetwork({ name: "many", subnet: s.subnet, bridge });
      const ids = Array.from({ length: 50 }, (_, i) => i.toString(16).padStart(64, "0"));
      for (const id of ids) {
        svc.register({ containerId: id, containerName: `c${id.slice(-2)}`, networkMode: "many" });
      }
      const started = await Promise.all(
        ids.map((id) =>
          svc.start({ containerId: id, containerName: id, hostname: "h", networkMode: "many" })
        ),
      );
      const ips = started.map((s) => s.endpoints[0].ip);
      assertEquals(new Set(ips).size, 50);
      const ping = await inCtr(started[49].netns, ["busybox", "ping", "-c", "1", "-W", "2", ips[0]]);
      assertEquals(ping.code, 0, ping.out);
      await Promise.all(ids.map((id) => svc.forget(id)));
      for (const s of started) s.release();
      assertEquals(
        await hostState({
          bridges: [bridge],
          subnets: [s.subnet],
          table: firewallTableName(env.root),
          veths: ids.map((id) => hostVethName(id, many.id)),
        }),
        {
          links: [],
          addrs: [],
          routes: [],
          table: "",
        },
      );
    });
  },
});

Deno.test({
  name: "network service (root): the embedded DNS answers over UDP on the gateway",
  ignore: !IS_ROOT,
  async fn() {
    await withService(async (env) => {
      const { svc } = env;
      const s = await freeSubnet();
      svc.createNetwork({ name: "dnsnet", subnet: s.subnet, bridge: uniqueName("ctrt") });
      svc.register({
        containerId: "1".repeat(64),
        containerName: "db",
        networkMode: "dnsnet",
        aliases: ["postgres"],
      });
      const started = await svc.start({
        containerId: "1".repeat(64),
        containerName: "db",
        hostname: "h",
        networkMode: "dnsnet",
      });
      const { default: dgram } = await import("node:dgram");
      const sock = dgram.createSocket("udp4");
      const reply = new Promise<Uint8Array>((r) => sock.once("message", (m) => r(new Uint8Array(m))));
      sock.send(buildQuery(5, "postgres", 1), 53, s.gateway);
      const answers = parseAnswers(await reply);
      sock.close();
      assertEquals(answers.answers.map((a) => [...a.data].join(".")), [`${s.prefix}.2`]);
      await svc.forget("1".repeat(64));
      started.release();
    });
  },
});

Deno.test({
  name:
    "network service (root): recovery after a supervisor crash releases dead containers and re-holds live ports",
  ignore: !IS_ROOT,
  async fn() {
    await withService(async (env) => {
      const { svc } = env;
      const s = await freeSubnet();
      const bridge = uniqueName("ctrt");
      const rec = svc.createNetwork({ name: "rec", subnet: s.subnet, bridge });
      for (const id of ["7", "8"]) {
        svc.register({ containerId: id.repeat(64), containerName: `c${id}`, networkMode: "rec" });
      }
      const live = await svc.start({
        containerId: "7".repeat(64),
        containerName: "c7",
        hostname: "h",
        networkMode: "rec",
        publish: parsePublish("127.0.0.1::80"),
      });
      const dead = await svc.start({
        containerId: "8".repeat(64),
        containerName: "c8",
        hostname: "h",
        networkMode: "rec",
      });
      const holder = spawnInCtr(env, live.netns, ["busybox", "httpd", "-f", "-p", "80", "-h", env.www]);
      const port = live.ports[0].hostPort;
      // Serving proves the process joined the namespace; only then may the fd holding it go.
      assertEquals(await fetchText(`http://127.0.0.1:${port}/`), "hello from httpd\n");
      live.release();
      dead.release(); // no process holds it: the "container" died, its namespace and veth peer are gone
      // The supervisor dies: its proxies and DNS servers vanish, the rules and interfaces stay.
      await svc.close();
      const dbPath = `${env.root}/ctr.db`;
      const db2 = openDatabase(dbPath, [networkSchema]);
      const svc2 = new NetworkService({ root: env.root, db: db2, config: svc.config });
      try {
        const { released } = await svc2.recover(
          new Map([["7".repeat(64), holder.pid]]),
          new Set(["7".repeat(64)]),
        );
        assertEquals(released, ["8".repeat(64)]);
        assertEquals(
          svc2.store.endpointsOn(svc2.store.requireNetwork("rec").id).map((e) => e.containerName),
          ["c7"],
        );
        assertEquals(
          svc2.store.attachmentsOf("8".repeat(64)),
          [],
          "the removed container's attachment is gone",
        );
        // The live container's port is held again and still served.
        assertThrows(() => Deno.listen({ hostname: "127.0.0.1", port }).close(), Deno.errors.AddrInUse);
        assertEquals(await fetchText(`http://127.0.0.1:${port}/`), "hello from httpd\n");
        await svc2.forget("7".repeat(64));
        assertEquals(
          await hostState({
            bridges: [bridge],
            subnets: [s.subnet],
            table: firewallTableName(env.root),
            veths: ["7", "8"].map((id) => hostVethName(id.repeat(64), rec.id)),
          }),
          {
            links: [],
            addrs: [],
            routes: [],
            table: "",
          },
        );
      } finally {
        await svc2.close();
        db2.close();
      }
    });
  },
});
