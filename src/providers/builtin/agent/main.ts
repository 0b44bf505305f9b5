// The agent process: `node src/providers/builtin/agent/main.ts --data-dir DIR [--workers N]`.
// Normally spawned detached by ensureAgent() with stdout/stderr in <dataDir>/agent.log.
// Exit codes: 0 after a shutdown, 1 on a fatal error, 2 on bad arguments, 3 if another agent
// already owns the data dir.

import { parseArgs } from 'node:util';
import { AgentAlreadyRunning, AgentServer } from './agent-server.ts';

function log(message: string): void {
  process.stdout.write(`${new Date().toISOString()} agent[${process.pid}] ${message}\n`);
}

async function main(): Promise<void> {
  let dataDir: string | undefined;
  let workers: number | undefined;
  try {
    const { values } = parseArgs({
      options: { 'data-dir': { type: 'string' }, workers: { type: 'string' } },
      strict: true,
    });
    dataDir = values['data-dir'];
    if (values.workers !== undefined) {
      workers = Number(values.workers);
      if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers must be a positive integer');
    }
    if (!dataDir) throw new Error('--data-dir is required');
  } catch (error) {
    process.stderr.write(`usage: main.ts --data-dir DIR [--workers N]\n${(error as Error).message}\n`);
    process.exit(2);
  }

  // Instances and the data plane must not outlive an agent that dies on a bug: shut down first.
  let agent: AgentServer | null = null;
  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    const done = () => process.exit(code);
    if (!agent) return done();
    const force = setTimeout(done, 60_000);
    force.unref();
    agent.shutdown().then(done, (error: unknown) => {
      log(`shutdown failed: ${String(error)}`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => {
    log('SIGTERM: shutting down');
    exit(0);
  });
  process.on('SIGINT', () => {
    log('SIGINT: shutting down');
    exit(0);
  });
  process.on('SIGHUP', () => log('SIGHUP ignored'));
  process.on('uncaughtException', (error) => {
    log(`uncaught exception: ${error.stack ?? String(error)}`);
    exit(1);
  });
  process.on('unhandledRejection', (error) => {
    log(`unhandled rejection: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  });

  try {
    agent = await AgentServer.start({
      dataDir,
      ...(workers === undefined ? {} : { workers }),
      log,
      onShutdown: () => process.exit(0),
    });
  } catch (error) {
    if (error instanceof AgentAlreadyRunning) {
      log(`not starting: ${error.message}`);
      process.exit(3);
    }
    log(`cannot start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  }
}

await main();
