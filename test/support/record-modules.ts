// Preloaded with --import (test/e2e/cli-startup.test.ts): writes every module the process loaded,
// one URL a line, into the file named by $REWIND_RECORD_MODULES when the process exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const loaded: string[] = [];
registerHooks({
  load(url, context, next) {
    loaded.push(url);
    return next(url, context);
  },
});
const file = process.env.REWIND_RECORD_MODULES;
if (file) process.on('exit', () => writeFileSync(file, loaded.join('\n')));
