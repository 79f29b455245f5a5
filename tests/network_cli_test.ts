/**
 * `ctr network …` as a user types it: create, ls (filters, formats, -q), inspect, rm, prune,
 * with Docker's outputs and exit codes.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { ctr, withRoot } from "./helpers.ts";

Deno.test("network cli: create, list, inspect, remove and prune networks", () =>
  withRoot(async (root) => {
    const ls0 = await ctr(root, ["network", "ls"]);
    assertEquals(ls0.code, 0, ls0.stderr);
    assertEquals(ls0.stdout.split("\n")[0].split(/\s{2,}/), ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]);
    assertEquals(ls0.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/).slice(1).join(" ")), [
      "bridge bridge local",
      "host host local",
      "none null local",
    ]);

    const created = await ctr(root, [
      "network",
      "create",
      "--subnet",
      "10.77.98.0/24",
      "--gateway",
      "10.77.98.254",
      "--label",
      "tier=web",
      "front",
    ]);
    assertEquals(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    assert(/^[0-9a-f]{64}$/.test(id), id);
    const back = await ctr(root, [
      "network",
      "create",
      "--internal",
      "-o",
      "com.docker.network.bridge.name=ctrtback0",
      "back",
    ]);
    assertEquals(back.code, 0, back.stderr);

    const custom = await ctr(root, [
      "network",
      "ls",
      "--filter",
      "type=custom",
      "--format",
      "{{.Name}} {{.Driver}} {{.Internal}}",
    ]);
    assertEquals(custom.stdout, "back bridge true\nfront bridge false\n");
    const quiet = await ctr(root, ["network", "ls", "-q", "--no-trunc", "-f", "label=tier=web"]);
    assertEquals(quiet.stdout.trim(), id);

    const doc = JSON.parse((await ctr(root, ["network", "inspect", "front"])).stdout);
    assertEquals(doc.length, 1);
    assertEquals(doc[0].Id, id);
    assertEquals(doc[0].IPAM.Config, [{ Subnet: "10.77.98.0/24", Gateway: "10.77.98.254" }]);
    assertEquals(doc[0].Labels, { "tier": "web" });
    assertEquals(doc[0].Containers, {});
    const fmt = await ctr(root, ["inspect", "--format", "{{.Driver}} {{.Internal}}", "back"]);
    assertEquals(fmt.stdout, "bridge true\n");

    const missing = await ctr(root, ["network", "inspect", "front", "nope"]);
    assertEquals(missing.code, 1);
    assertEquals(JSON.parse(missing.stdout).length, 1);
    assertStringIncludes(missing.stderr, "No such network: nope");

    const dup = await ctr(root, ["network", "create", "front"]);
    assertEquals([dup.code, dup.stderr.trim()], [1, "ctr: network with name front already exists"]);
    const overlap = await ctr(root, ["network", "create", "--subnet", "10.77.98.128/25", "x"]);
    assertEquals(overlap.code, 1);
    assertStringIncludes(overlap.stderr, "Pool overlaps");
    const badFlag = await ctr(root, ["network", "create", "--bogus", "x"]);
    assertEquals(badFlag.code, 125);
    const builtin = await ctr(root, ["network", "rm", "host"]);
    assertEquals([builtin.code, builtin.stderr.trim()], [
      1,
      "ctr: host is a pre-defined network and cannot be removed",
    ]);

    const rm = await ctr(root, ["network", "rm", "front"]);
    assertEquals([rm.code, rm.stdout], [0, "front\n"]);
    const prune = await ctr(root, ["network", "prune", "--force"]);
    assertEquals(prune.stdout, "Deleted Networks:\nback\n\n");
    const after = await ctr(root, ["network", "ls", "--format", "{{.Name}}"]);
    assertEquals(after.stdout, "bridge\nhost\nnone\n");
  }));
