#!/usr/bin/env node
import { ensureNode } from '../scripts/ensure-node.js';

ensureNode();
await import('../src/cli/main.ts');
