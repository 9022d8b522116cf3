// The proxy's per-second series: each second's throughput, latency quantiles, errors and
// connections, kept for the last hour for the dashboard and fed to the anomaly detectors.
import { LogHistogram } from './log-histogram.ts';

export interface SecondPoint {
  /** Start of the second, epoch ms. */
  t: number;
  /** Statements completed in that second. */
  qps: number;
  errors: number;
  /** errors / qps; 0 when idle. */
  errorRate: number;
  /** Latency quantiles in ms; null when no statement completed. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  rows: number;
  bytes: number;
  /** Client and upstream connections open at the end of the second. */
  clients: number;
  upstreams: number;
  slow: number;
}

const roundMs = (s: number) => (Number.isNaN(s) ? null : Math.round(s * 1e6) / 1e3);

export class LiveSeries {
  private readonly latency = new LogHistogram();
  private calls = 0;
  private errors = 0;
  private rows = 0;
  private bytes = 0;
  private slow = 0;
  private readonly points: SecondPoint[] = [];

  constructor(private readonly keepSeconds = 3600) {}

  record(seconds: number, failed: boolean, rows: number, bytes: number): void {
    this.latency.observe(seconds);
    this.calls++;
    if (failed) this.errors++;
    this.rows += rows;
    this.bytes += bytes;
  }

  recordSlow(): void {
    this.slow++;
  }

  /** Closes the second that started at `t` and starts the next. */
  close(t: number, clients: number, upstreams: number): SecondPoint {
    const h = this.latency;
    const p: SecondPoint = {
      t,
      qps: this.calls,
      errors: this.errors,
      errorRate: this.calls ? this.errors / this.calls : 0,
      p50: roundMs(h.quantile(0.5)),
      p95: roundMs(h.quantile(0.95)),
      p99: roundMs(h.quantile(0.99)),
      rows: this.rows,
      bytes: this.bytes,
      clients,
      upstreams,
      slow: this.slow,
    };
    h.reset();
    this.calls = this.errors = this.rows = this.bytes = this.slow = 0;
    this.points.push(p);
    if (this.points.length > this.keepSeconds) this.points.splice(0, this.points.length - this.keepSeconds);
    return p;
  }

  /** The last `seconds` closed seconds, oldest first. */
  last(seconds: number): SecondPoint[] {
    return this.points.slice(-Math.max(0, seconds));
  }
}
