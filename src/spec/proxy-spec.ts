// The built-in proxy's settings in rewind.yaml (`proxy:`, `routing.trustedSources`): their types
// and defaults. The proxy reads them; the app schema validates them.

export interface HeadLimits {
  /** Longest request line (method, target, version) in bytes; longer -> 414. */
  readonly requestLine: number;
  /** Longest header field line in bytes; longer -> 431. */
  readonly headerLine: number;
  /** Longest head (request line, fields and the final CRLF); longer -> 431. */
  readonly head: number;
}

/** Like nginx's large_client_header_buffers (8 KB lines) and HAProxy's tune.bufsize order of size. */
export const DEFAULT_LIMITS: HeadLimits = { requestLine: 8192, headerLine: 8192, head: 65536 };

/** How long the proxy waits for each party, in ms (see docs/configuration.md, `proxy.timeouts`). */
export interface ProxyTimeouts {
  /** TCP connect to an upstream; then the request is retried once elsewhere, else 502. */
  readonly connect: number;
  /** The upstream's response head after the request was sent, and each read after it; else 504. */
  readonly response: number;
  /** A client's whole request head (and each pause in its request body); else 408 and close. */
  readonly clientHeader: number;
  /** A keep-alive client connection with no request in flight; then closed. */
  readonly idle: number;
  /** A peer that stops reading what the proxy writes to it (response, tunnel); then both sockets close. */
  readonly send: number;
}

/**
 * nginx's defaults (proxy_read_timeout, client_header_timeout, send_timeout 60 s, keepalive_timeout
 * 75 s) except connect: 5 s rather than 60 s, since upstreams are local processes.
 */
export const DEFAULT_TIMEOUTS: ProxyTimeouts = {
  connect: 5000,
  response: 60_000,
  clientHeader: 60_000,
  idle: 75_000,
  send: 60_000,
};

/** Client connections per app per worker thread; one more is answered 503 with Retry-After. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/** Loopback: the rollout driver's own checks come from here. */
export const DEFAULT_TRUSTED_SOURCES: readonly string[] = ['127.0.0.0/8', '::1/128'];

/**
 * The bounds of the proxy's latency histogram, ms (the last bucket is above the last bound). Also
 * the bounds of stored analysis data written before histograms carried their own.
 */
export const LATENCY_BOUNDS_MS = [
  0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000,
] as const;
