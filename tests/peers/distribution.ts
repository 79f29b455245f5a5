/**
 * Test and bench helper: the CNCF distribution registry (Debian's `docker-registry`) as a
 * peer on a free loopback port, started by `tests/peers/distribution.sh`, optionally with
 * htpasswd auth; and OCI image layouts for `skopeo`.
 *
 * @module
 */
import type { BuiltImage } from "../image_builder.ts";

const SCRIPT = new URL("./distribution.sh", import.meta.url).pathname;

/** A running docker-registry. */
export interface DistributionPeer {
  /** `127.0.0.1:PORT` */
  host: string;
  dir: string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound and released: good enough for tests). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Whether docker-registry and skopeo are installed. */
export function havePeers(): boolean {
  const has = (cmd: string) => {
    try {
      return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).outputSync()
        .success;
    } catch {
      return false;
    }
  };
  return has("docker-registry") && has("skopeo") && has("curl");
}

/**
 * Starts docker-registry; with `users`, behind htpasswd (bcrypt) auth.
 *
 * @example
 * ```ts
 * const reg = await startDistribution({ users: { alice: "pw" } });
 * await reg.stop();
 * ```
 */
export async function startDistribution(
  options: { users?: Record<string, string> } = {},
): Promise<DistributionPeer> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-peer-distribution-" });
  const args = ["start", `${dir}/reg`];
  let htpasswd: string | undefined;
  if (options.users) {
    htpasswd = `${dir}/htpasswd`;
    const lines: string[] = [];
    for (const [user, pw] of Object.entries(options.users)) {
      const out = await new Deno.Command("htpasswd", { args: ["-nbB", user, pw], stdout: "piped" }).output();
      if (!out.success) throw new Error("htpasswd failed (apt package apache2-utils)");
      lines.push(new TextDecoder().decode(out.stdout).trim());
    }
    await Deno.writeTextFile(htpasswd, lines.join("\n") + "\n");
  }
  for (let attempt = 0;; attempt++) {
    const port = freePort();
    const out = await new Deno.Command("bash", {
      args: [SCRIPT, ...args, String(port), ...(htpasswd ? [htpasswd] : [])],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) {
      return {
        host: `127.0.0.1:${port}`,
        dir,
        async stop() {
          await new Deno.Command("bash", { args: [SCRIPT, "stop", `${dir}/reg`] }).output();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        },
      };
    }
    await new Deno.Command("bash", { args: [SCRIPT, "stop", `${dir}/reg`] }).output();
    if (attempt >= 2) {
      throw new Error(`docker-registry did not start: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
}

/**
 * Writes an OCI image layout holding `img` under `tag` (for `skopeo copy oci:DIR:TAG`).
 *
 * @example
 * ```ts
 * await writeOciLayout("/tmp/layout", buildImage([{ a: "b" }]), "1");
 * ```
 */
export async function writeOciLayout(dir: string, img: BuiltImage, tag: string): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  for (const b of [...img.layers, img.config, img.manifest]) {
    await Deno.writeFile(`${dir}/blobs/sha256/${b.digest.slice(7)}`, b.bytes);
  }
  await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest,
        size: img.manifest.size,
        annotations: { "org.opencontainers.image.ref.name": tag },
      }],
    }),
  );
}

/**
 * Runs skopeo with the given arguments; returns its output (throws on failure).
 *
 * @example
 * ```ts
 * await skopeo(["copy", "--src-tls-verify=false", `docker://${host}/x:1`, `oci:${dir}:1`]);
 * ```
 */
export async function skopeo(args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command("skopeo", { args, stdout: "piped", stderr: "piped", env }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`skopeo ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}
