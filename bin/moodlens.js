#!/usr/bin/env node
// The `moodlens` command: runs the compiled CLI (build first with `npm run build`).
import process from 'node:process';
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
