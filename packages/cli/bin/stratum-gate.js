#!/usr/bin/env node
// The client is written in TypeScript and the project has no build step, so the bin
// registers tsx's loader (a root dependency) before it loads the entry point.
import { register } from 'tsx/esm/api';

register();
const { runFromProcess } = await import('../src/main.ts');
await runFromProcess();
