#!/usr/bin/env node
// First: no window in which SIGUSR1 would start the inspector.
import './signal-guard.js';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { checkCommand } from './check.js';
import { serveCommand } from './serve.js';
import { backendCommand } from './backend.js';
import { statusCommand } from './status.js';
import type { DemoOptions } from './demo.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('airgate').description('Identity-aware, load-balancing gateway for Apache Airflow').version(pkg.version, '-V, --version');

program.command('serve').description('run the gateway').requiredOption('-c, --config <file>', 'configuration file (YAML)').action(serveCommand);

program.command('check').description('validate a configuration file and print what would run; exit 1 on any error').requiredOption('-c, --config <file>', 'configuration file (YAML)').action(checkCommand);

program
  .command('demo')
  .description('start three simulated Airflow webservers and the gateway in front of them')
  .option('-p, --port <port>', 'gateway port (a free one is chosen if it is busy)', '8080')
  .option('--host <host>', 'gateway address', '127.0.0.1')
  .option('--airflow <version>', 'simulate Airflow 2 or 3', '2')
  .option('--sim-ports <ports>', 'comma-separated ports for the three simulated nodes (default: free ports)')
  // Loaded on demand: the development IdP (oidc-provider) is only for the demo.
  .action(async (opts: DemoOptions) => (await import('./demo.js')).demoCommand(opts));

program
  .command('backend')
  .description('operate a server at run time: drain, ready, maint, or set its weight')
  .argument('<action>', 'ready | drain | maint | weight')
  .argument('<server>', 'BACKEND/SERVER, e.g. airflow/web-2')
  .argument('[weight]', 'the new weight (with "weight")')
  .requiredOption('--admin <url>', 'admin API URL, e.g. http://127.0.0.1:9090')
  .option('--token <token>', 'admin bearer token (default: $AIRGATE_ADMIN_TOKEN)')
  .option('--as <name>', 'your name in the audit log (default: your login name)')
  .action(backendCommand);

program
  .command('status')
  .description('show every backend and server as a table (the dashboard in a terminal)')
  .requiredOption('--admin <url>', 'admin API URL, e.g. http://127.0.0.1:9090')
  .option('--token <token>', 'admin bearer token (default: $AIRGATE_ADMIN_TOKEN)')
  .action(statusCommand);

await program.parseAsync();
