// The HTTP API alone, for bench/auth.ts: buildApp() over a real SQLite store with examples/shop
// registered, the controller not started and no agent (GET /api/v1/apps reads the store only).
// Usage: node bench/lib/api-child.ts on|off  ->  prints "ready PORT TOKEN"
import { inProcessApi } from '../../test/support/in-process-api.ts';
import { freePort } from '../../test/support/rewind-harness.ts';

const mode = process.argv[2];
if (mode !== 'on' && mode !== 'off') {
  process.stderr.write('usage: api-child.ts on|off\n');
  process.exit(2);
}
const port = await freePort();
const { api, token, close } = await inProcessApi({ port, role: 'viewer', guard: mode === 'on' });
await api.listen({ host: '127.0.0.1', port });
process.stdout.write(`ready ${port} ${token}\n`);
const stop = () => {
  void close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
