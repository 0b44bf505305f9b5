#!/usr/bin/env node
import module from 'node:module';
import { ensureNode } from '../scripts/ensure-node.js';

ensureNode();
// Node keeps the type-stripped sources and their compiled code in a cache on disk (in the OS
// temp dir, or $NODE_COMPILE_CACHE; off with NODE_DISABLE_COMPILE_CACHE=1): after the first run
// a command starts without loading the TypeScript stripper at all. The cache is keyed by each
// file's content, so an edited source is stripped again.
module.enableCompileCache();
await import('../src/cli/main.ts');
