// examples/shop: a small HTTP service whose misbehaviour is set per version through env, so that
// every rollout scenario can be shown and tested:
//   SHOP_ERROR_RATE=0.3         share of requests answered 500
//   SHOP_ERROR_AFTER_MS=30000   ... only from this long after the process started (a late failure)
//   SHOP_ERROR_FILE=/tmp/x      ... only while this file exists (a failure that starts when told)
//   SHOP_LATENCY_MS=200         added latency per request
//   SHOP_CRASH_AT_START=1       exit(1) before listening
//   SHOP_CRASH_AFTER=500        exit(1) after N requests
//   SHOP_HEALTH_FAIL=1          /healthz answers 503
//   SHOP_HEALTH_FAIL_FILE=/tmp/x  ... only while this file exists (health that fails later)
//   SHOP_START_DELAY_MS=2000    wait before listening
//   SHOP_START_HOLD_FILE=/tmp/x ... and then while this file exists (a start that ends when told)
//   SHOP_BUSY_CPU=1             a child process that spins on one core
//   SHOP_MEMORY_MB=200          allocates this much once listening, and holds it
//   SHOP_ERROR_LOGS=20          error lines a second on stderr, as pino writes them ({"level":50,...})
//   SHOP_LOG_ERRORS=1           log each request answered 500 on stderr (`leaky`: with the API
//                               token in the line, a careless log that incident evidence redacts)
// and shows what it was configured with (`rewind config set` / `rewind secrets set`):
//   SHOP_GREETING=hi            the greeting in its answer
//   SHOP_API_TOKEN=...          a secret: only a fingerprint of it is ever shown
// It counts its requests for Prometheus at /metrics (http_requests_total by code and the latency
// histogram http_request_duration_seconds), as an instrumented service does;
// and reads the feature flag `recommendations` through OpenFeature (Rewind's OFREP endpoint at
// $REWIND_OFREP_URL); a broken feature is simulated per version with
//   SHOP_RECOMMENDATIONS_ERROR_RATE=0.5   share of /products requests with recommendations that fail
// Plain JavaScript with no dependencies, so a release directory needs nothing but this file.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';

const version = process.env.SHOP_VERSION ?? 'dev';
const port = Number(process.env.PORT ?? 3000);
const errorRate = Number(process.env.SHOP_ERROR_RATE ?? 0);
const errorAfter = Date.now() + Number(process.env.SHOP_ERROR_AFTER_MS ?? 0);
const errorFile = process.env.SHOP_ERROR_FILE;
const latencyMs = Number(process.env.SHOP_LATENCY_MS ?? 0);
const crashAfter = Number(process.env.SHOP_CRASH_AFTER ?? 0);
const healthFail = process.env.SHOP_HEALTH_FAIL === '1';
const healthFailFile = process.env.SHOP_HEALTH_FAIL_FILE;
const startDelay = Number(process.env.SHOP_START_DELAY_MS ?? 0);
const startHoldFile = process.env.SHOP_START_HOLD_FILE;
const greeting = process.env.SHOP_GREETING ?? 'shop';
const token = process.env.SHOP_API_TOKEN;
const recommendationsErrorRate = Number(process.env.SHOP_RECOMMENDATIONS_ERROR_RATE ?? 0);
const logErrors = process.env.SHOP_LOG_ERRORS;
const tokenFingerprint = token ? createHash('sha256').update(token).digest('hex').slice(0, 12) : null;

if (process.env.SHOP_CRASH_AT_START === '1') {
  console.error(`shop ${version}: SHOP_CRASH_AT_START is set, exiting`);
  process.exit(1);
}

// Flags through the official OpenFeature SDK and OFREP provider; without them (a release directory
// with no node_modules, or no Rewind), every flag takes its code default.
let flags = null;
if (process.env.REWIND_OFREP_URL) {
  try {
    const { OpenFeature } = await import('@openfeature/server-sdk');
    const { OFREPProvider } = await import('@openfeature/ofrep-provider');
    await OpenFeature.setProviderAndWait(
      new OFREPProvider({
        baseUrl: process.env.REWIND_OFREP_URL,
        timeoutMs: 1000,
        // The app's read-only flag token: Rewind's OFREP routes refuse requests without it.
        headers: process.env.REWIND_OFREP_TOKEN
          ? [['authorization', `Bearer ${process.env.REWIND_OFREP_TOKEN}`]]
          : [],
      }),
    );
    flags = OpenFeature.getClient('shop');
  } catch (err) {
    console.error(`shop ${version}: flags unavailable (${err.message}); using code defaults`);
  }
}
const flag = (key, fallback, targetingKey) =>
  flags
    ? flags.getBooleanValue(key, fallback, { targetingKey }).catch(() => fallback)
    : Promise.resolve(fallback);

let served = 0;
const products = [
  { id: 1, name: 'kettle', price: 29 },
  { id: 2, name: 'teapot', price: 19 },
];

// Prometheus' text format, by hand: two families are all an example needs.
const LATENCY_BOUNDS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const requestsByCode = new Map();
const latencyBuckets = new Array(LATENCY_BOUNDS_S.length).fill(0);
let latencyCount = 0;
let latencySum = 0;
function observe(code, seconds) {
  requestsByCode.set(code, (requestsByCode.get(code) ?? 0) + 1);
  for (let i = 0; i < LATENCY_BOUNDS_S.length; i++) if (seconds <= LATENCY_BOUNDS_S[i]) latencyBuckets[i]++;
  latencyCount++;
  latencySum += seconds;
}
function metricsText() {
  const lines = ['# TYPE http_requests_total counter'];
  for (const [code, n] of requestsByCode) lines.push(`http_requests_total{code="${code}"} ${n}`);
  lines.push('# TYPE http_request_duration_seconds histogram');
  for (const [i, le] of LATENCY_BOUNDS_S.entries())
    lines.push(`http_request_duration_seconds_bucket{le="${le}"} ${latencyBuckets[i]}`);
  lines.push(`http_request_duration_seconds_bucket{le="+Inf"} ${latencyCount}`);
  lines.push(
    `http_request_duration_seconds_sum ${latencySum}`,
    `http_request_duration_seconds_count ${latencyCount}`,
    '',
  );
  return lines.join('\n');
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (url === '/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(metricsText());
    return;
  }
  if (url === '/healthz') {
    const failing = healthFail || (healthFailFile !== undefined && existsSync(healthFailFile));
    res.writeHead(failing ? 503 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: !failing, version }));
    return;
  }
  served++;
  const started = process.hrtime.bigint();
  res.once('finish', () => observe(res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
  if (crashAfter > 0 && served > crashAfter) {
    console.error(`shop ${version}: crashing after ${crashAfter} requests`);
    process.exit(1);
  }
  const reply = async () => {
    const recommendations = url.startsWith('/products')
      ? await flag('recommendations', false, String(req.headers['x-user-id'] ?? 'anonymous'))
      : false;
    if (
      (errorRate > 0 &&
        Date.now() >= errorAfter &&
        (errorFile === undefined || existsSync(errorFile)) &&
        Math.random() < errorRate) ||
      (recommendations && recommendationsErrorRate > 0 && Math.random() < recommendationsErrorRate)
    ) {
      if (logErrors)
        console.error(
          `shop ${version}: 500 ${req.method} ${url}: injected failure` +
            (logErrors === 'leaky' ? ` (payments called with api token ${token})` : ''),
        );
      res.writeHead(500, { 'content-type': 'application/json', 'x-shop-version': version });
      res.end(JSON.stringify({ error: 'injected failure', version }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-shop-version': version });
    res.end(
      url.startsWith('/products')
        ? JSON.stringify({ version, products, ...(recommendations && { recommendations: [products[1]] }) })
        : JSON.stringify({ version, hello: greeting, token: tokenFingerprint }),
    );
  };
  const run = () =>
    reply().catch((err) => {
      res.writeHead(500, { 'content-type': 'application/json', 'x-shop-version': version });
      res.end(JSON.stringify({ error: err.message, version }));
    });
  if (latencyMs > 0) setTimeout(run, latencyMs);
  else run();
});
server.keepAliveTimeout = 65_000;

function shutdown() {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

function listenWhenReleased() {
  if (startHoldFile && existsSync(startHoldFile)) {
    setTimeout(listenWhenReleased, 50);
    return;
  }
  server.listen(port, '127.0.0.1', () => console.log(`shop ${version} listening on 127.0.0.1:${port}`));
}
setTimeout(listenWhenReleased, startDelay);

// Resource and log misbehaviour, for the rules on cpu, memory and logErrors.
const busy =
  process.env.SHOP_BUSY_CPU === '1'
    ? spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' })
    : null;
if (busy) process.on('exit', () => busy.kill('SIGKILL'));
const held = [];
const memoryMb = Number(process.env.SHOP_MEMORY_MB ?? 0);
if (memoryMb > 0) server.once('listening', () => held.push(Buffer.alloc(memoryMb * 1024 * 1024, 1)));
const errorLogs = Number(process.env.SHOP_ERROR_LOGS ?? 0);
if (errorLogs > 0)
  setInterval(
    () => console.error(JSON.stringify({ level: 50, time: Date.now(), msg: 'payment failed', version })),
    1000 / errorLogs,
  );
