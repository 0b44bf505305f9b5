// Failover of the leader: two `rewind server`s on one PostgreSQL store; each run SIGKILLs the one
// that leads and measures how long until the other leads (its /healthz says role leader, polled
// every 5 ms) and until it takes a write (a pause of the app, refused with NOT_LEADER before);
// the killed one is started again and follows, and the next run kills the other.
//
//   node bench/failover.ts [--runs 10] [--json]     (REWIND_TEST_DATABASE_URL as the tests)
import { createTarget } from '../test/support/db-targets.ts';
import { type Harness, oneShopConfig, roleOf, startRewind } from '../test/support/rewind-harness.ts';
import {
  commandLine,
  intFlag,
  machine,
  machineLine,
  nowMs,
  round,
  roundSummary,
  summarize,
  summaryTable,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const runs = intFlag(args, 'runs', 10);
const json = args.includes('--json');
const m0 = machine();

const role = roleOf;

const db = await createTarget('postgres');
const env = { REWIND_DATABASE_URL: db.url };
const servers: Harness[] = [];
try {
  servers.push(await startRewind({ config: (port) => oneShopConfig(port), env }));
  servers.push(await startRewind({ config: (port) => oneShopConfig(port), env }));
  const leads: number[] = [];
  const acts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const leader = (await role(servers[0]!)) === 'leader' ? servers[0]! : servers[1]!;
    const follower = leader === servers[0] ? servers[1]! : servers[0]!;
    const t0 = nowMs();
    await leader.kill('SIGKILL');
    for (;;) {
      const sent = nowMs();
      if ((await role(follower)) === 'leader') {
        leads.push(sent - t0);
        break;
      }
      if (nowMs() - t0 > 30_000) throw new Error('no new leader within 30 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    // Acting: a write the follower refused is taken (pause on an idle app answers 409: not NOT_LEADER).
    for (;;) {
      const sent = nowMs();
      const r = await follower.fetch(`${follower.apiUrl}/api/v1/apps/shop/pause`, {
        method: 'POST',
        body: '{}',
      });
      const body = (await r.json().catch(() => ({}))) as { error?: { code?: string } };
      if (body.error?.code !== 'NOT_LEADER') {
        acts.push(sent - t0);
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await leader.restart();
    for (;;) {
      if ((await role(leader)) === 'follower') break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const report = {
    command: commandLine(),
    machine: { cpus: m0.cpus, loadavgAtStart: m0.loadavg, loadavgAtEnd: machine().loadavg },
    runs,
    sigkillToLeaderMs: roundSummary(summarize(leads)),
    sigkillToFirstWriteMs: roundSummary(summarize(acts)),
  };
  if (json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(report.command);
    console.log(machineLine(report.machine));
    console.log(
      summaryTable([
        ['leader SIGKILL -> follower leads (ms)', summarize(leads)],
        ['leader SIGKILL -> follower takes a write (ms)', summarize(acts)],
      ]),
    );
    console.log(
      `median failover ${round(summarize(leads).median)} ms over ${runs} runs (target: a few seconds)`,
    );
  }
} finally {
  for (const s of servers) await s.close().catch(() => {});
  await db.cleanup();
}
