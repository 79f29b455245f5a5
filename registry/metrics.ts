/**
 * Prometheus metrics of the registry (`GET /metrics`, text format 0.0.4):
 *
 * ```text
 * ctr_registry_http_requests_total{route,method,code}         counter
 * ctr_registry_http_request_duration_seconds{route}           histogram (until the body is sent)
 * ctr_registry_http_received_bytes_total{route}               counter (request bodies)
 * ctr_registry_http_sent_bytes_total{route}                   counter (response bodies)
 * ctr_registry_http_requests_in_flight                        gauge
 * ctr_registry_storage_blobs / _storage_bytes                 gauges (from the metadata store)
 * ctr_registry_repositories / _uploads_in_progress            gauges
 * ```
 *
 * Recording is a few Map updates per request; rendering happens only on scrape.
 *
 * @module
 */

/** Latency buckets (seconds). */
export const DURATION_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

function esc(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * Registry metrics.
 *
 * @example
 * ```ts
 * const m = new RegistryMetrics();
 * m.record({ route: "blob", method: "GET", status: 200, seconds: 0.002, bytesIn: 0, bytesOut: 1024 });
 * console.log(m.render({ blobs: 1, bytes: 1024, repositories: 1, uploads: 0 }));
 * ```
 */
export class RegistryMetrics {
  #requests = new Map<string, number>();
  #durations = new Map<string, Histogram>();
  #received = new Map<string, number>();
  #sent = new Map<string, number>();
  /** Requests being handled now. */
  inFlight = 0;

  /** Records one finished request. */
  record(
    r: { route: string; method: string; status: number; seconds: number; bytesIn: number; bytesOut: number },
  ): void {
    const key = `${r.route}\0${r.method}\0${r.status}`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    let h = this.#durations.get(r.route);
    if (!h) {
      h = { counts: new Array(DURATION_BUCKETS.length).fill(0), sum: 0, count: 0 };
      this.#durations.set(r.route, h);
    }
    for (let i = 0; i < DURATION_BUCKETS.length; i++) if (r.seconds <= DURATION_BUCKETS[i]) h.counts[i]++;
    h.sum += r.seconds;
    h.count++;
    if (r.bytesIn) this.#received.set(r.route, (this.#received.get(r.route) ?? 0) + r.bytesIn);
    if (r.bytesOut) this.#sent.set(r.route, (this.#sent.get(r.route) ?? 0) + r.bytesOut);
  }

  /** The Prometheus text exposition, with storage gauges from `storage`. */
  render(storage: { blobs: number; bytes: number; repositories: number; uploads: number }): string {
    const out: string[] = [];
    const help = (name: string, type: string, text: string) =>
      out.push(`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`);
    help("ctr_registry_http_requests_total", "counter", "HTTP requests by route, method and status code.");
    for (const [k, v] of [...this.#requests].sort()) {
      const [route, method, code] = k.split("\0");
      out.push(
        `ctr_registry_http_requests_total{route="${esc(route)}",method="${esc(method)}",code="${code}"} ${v}`,
      );
    }
    help(
      "ctr_registry_http_request_duration_seconds",
      "histogram",
      "Time from request to the last byte sent.",
    );
    for (const [route, h] of [...this.#durations].sort()) {
      const r = esc(route);
      DURATION_BUCKETS.forEach((b, i) =>
        out.push(`ctr_registry_http_request_duration_seconds_bucket{route="${r}",le="${b}"} ${h.counts[i]}`)
      );
      out.push(`ctr_registry_http_request_duration_seconds_bucket{route="${r}",le="+Inf"} ${h.count}`);
      out.push(`ctr_registry_http_request_duration_seconds_sum{route="${r}"} ${h.sum}`);
      out.push(`ctr_registry_http_request_duration_seconds_count{route="${r}"} ${h.count}`);
    }
    help("ctr_registry_http_received_bytes_total", "counter", "Request body bytes received, by route.");
    for (const [route, v] of [...this.#received].sort()) {
      out.push(`ctr_registry_http_received_bytes_total{route="${esc(route)}"} ${v}`);
    }
    help("ctr_registry_http_sent_bytes_total", "counter", "Response body bytes sent, by route.");
    for (const [route, v] of [...this.#sent].sort()) {
      out.push(`ctr_registry_http_sent_bytes_total{route="${esc(route)}"} ${v}`);
    }
    help("ctr_registry_http_requests_in_flight", "gauge", "Requests being handled.");
    out.push(`ctr_registry_http_requests_in_flight ${this.inFlight}`);
    help("ctr_registry_storage_blobs", "gauge", "Blobs stored (each once, whatever the repositories).");
    out.push(`ctr_registry_storage_blobs ${storage.blobs}`);
    help("ctr_registry_storage_bytes", "gauge", "Bytes of the stored blobs.");
    out.push(`ctr_registry_storage_bytes ${storage.bytes}`);
    help("ctr_registry_repositories", "gauge", "Repositories.");
    out.push(`ctr_registry_repositories ${storage.repositories}`);
    help("ctr_registry_uploads_in_progress", "gauge", "Open upload sessions.");
    out.push(`ctr_registry_uploads_in_progress ${storage.uploads}`);
    return out.join("\n") + "\n";
  }
}
