// examples/shop: a small HTTP service whose misbehaviour is set per version through env, so that
// every rollout scenario can be shown and tested:
//   SHOP_ERROR_RATE=0.3         share of requests answered 500
//   SHOP_LATENCY_MS=200         added latency per request
//   SHOP_CRASH_AT_START=1       exit(1) before listening
//   SHOP_CRASH_AFTER=500        exit(1) after N requests
//   SHOP_HEALTH_FAIL=1          /healthz answers 503
//   SHOP_START_DELAY_MS=2000    wait before listening
// Plain JavaScript with no dependencies, so a release directory needs nothing but this file.
import { createServer } from 'node:http';

const version = process.env.SHOP_VERSION ?? 'dev';
const port = Number(process.env.PORT ?? 3000);
const errorRate = Number(process.env.SHOP_ERROR_RATE ?? 0);
const latencyMs = Number(process.env.SHOP_LATENCY_MS ?? 0);
const crashAfter = Number(process.env.SHOP_CRASH_AFTER ?? 0);
const healthFail = process.env.SHOP_HEALTH_FAIL === '1';
const startDelay = Number(process.env.SHOP_START_DELAY_MS ?? 0);

if (process.env.SHOP_CRASH_AT_START === '1') {
  console.error(`shop ${version}: SHOP_CRASH_AT_START is set, exiting`);
  process.exit(1);
}

let served = 0;
const products = [
  { id: 1, name: 'kettle', price: 29 },
  { id: 2, name: 'teapot', price: 19 },
];

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (url === '/healthz') {
    res.writeHead(healthFail ? 503 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: !healthFail, version }));
    return;
  }
  served++;
  if (crashAfter > 0 && served > crashAfter) {
    console.error(`shop ${version}: crashing after ${crashAfter} requests`);
    process.exit(1);
  }
  const reply = () => {
    if (errorRate > 0 && Math.random() < errorRate) {
      res.writeHead(500, { 'content-type': 'application/json', 'x-shop-version': version });
      res.end(JSON.stringify({ error: 'injected failure', version }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-shop-version': version });
    res.end(
      url.startsWith('/products')
        ? JSON.stringify({ version, products })
        : JSON.stringify({ version, hello: 'shop' }),
    );
  };
  if (latencyMs > 0) setTimeout(reply, latencyMs);
  else reply();
});
server.keepAliveTimeout = 65_000;

function shutdown() {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

setTimeout(() => {
  server.listen(port, '127.0.0.1', () => console.log(`shop ${version} listening on 127.0.0.1:${port}`));
}, startDelay);
