// Options the proxy runs with. Built by src/config.ts from flags, environment and file.
import type { Plugin } from '../plugins/contract.ts';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface UpstreamTarget {
  host: string;
  port: number;
  sslmode: SslMode;
  /** PEM text of the CA to verify the upstream with (sslrootcert). */
  ca?: string;
  /** Client certificate and key for the upstream (sslcert / sslkey), PEM text. */
  cert?: string;
  key?: string;
  /** servername for SNI / verify-full; defaults to host. */
  servername?: string;
}

export interface TlsTermination {
  /** PEM text of the certificate chain and key the proxy presents to clients. */
  cert: string;
  key: string;
  /** PEM text of a CA for client certificates (optional). */
  ca?: string;
}

export interface ProxyOptions {
  listenHost: string;
  listenPort: number;
  upstream: UpstreamTarget;
  /** Present to terminate client TLS; absent means SSLRequest is answered 'N'. */
  tls?: TlsTermination;
  plugins: readonly Plugin[];
  /** Largest frontend message accepted (bytes, including the length word). Default 1 GiB, PostgreSQL's own limit. */
  maxMessageBytes?: number;
  /** Bind messages up to this size are decoded for hooks; larger ones stream through undecoded. Default 1 MiB. */
  maxDecodedBindBytes?: number;
  /** Time to open the upstream TCP/TLS connection. Default 10 s. */
  connectTimeoutMs?: number;
  /** How long SIGTERM waits for running queries before closing connections. Default 30 s. */
  drainTimeoutMs?: number;
  /** Called with seconds spent connecting upstream (TCP + TLS), for metrics. */
  onUpstreamConnect?: (seconds: number, ok: boolean) => void;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** A running proxy. */
export interface ProxyHandle {
  readonly host: string;
  readonly port: number;
  readonly view: import('../plugins/contract.ts').ProxyView;
  /** Stop accepting; wait up to timeoutMs for running queries to finish; then close every connection. */
  drain(timeoutMs?: number): Promise<void>;
  /** Close everything now. */
  close(): Promise<void>;
  /** Swap what can change without a restart: TLS material, plugins, limits. Existing sessions keep their plugins. */
  reload(next: Partial<Pick<ProxyOptions, 'tls' | 'plugins' | 'maxMessageBytes' | 'drainTimeoutMs' | 'upstream'>>): void;
}
