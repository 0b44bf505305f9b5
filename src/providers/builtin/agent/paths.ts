// Files of an agent inside its data dir.

import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface AgentPaths {
  readonly dataDir: string;
  readonly socket: string;
  readonly pid: string;
  readonly log: string;
  readonly routes: string;
}

export function agentPaths(dataDir: string): AgentPaths {
  const dir = path.resolve(dataDir);
  return {
    dataDir: dir,
    socket: path.join(dir, 'agent.sock'),
    pid: path.join(dir, 'agent.pid'),
    log: path.join(dir, 'agent.log'),
    routes: path.join(dir, 'routes.json'),
  };
}

/** Rewind's version, from package.json. */
export const AGENT_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** The last lines of a text file ('' if it cannot be read). */
export function tailFile(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
