import { Gateway, type HealthSnapshot } from '../server/gateway.js';
import type { AirgateConfig } from '../config/schema.js';
import { loadOrExit } from './load-or-exit.js';
import { runtimeStatus } from '../admin/status.js';
import { isWorker, PrimaryCounter, runPrimary, withoutHealthChecks, workerCount, workerSlot, type PrimaryMessage } from './cluster.js';

/** Stop gracefully on SIGTERM/SIGINT and exit 0; a second signal exits at once. */
export function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`airgate: error while stopping after ${signal}: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export async function runGateway(config: AirgateConfig, configFile?: string): Promise<Gateway> {
  const gateway = new Gateway(config, { configFile });
  await gateway.start();
  stopOnSignals(() => gateway.stop());
  // SIGHUP: reopen log files (logrotate) and reload the configuration file (errors are logged; the running config stays).
  process.on('SIGHUP', () => {
    gateway.observer.reopen();
    void gateway.reload();
  });
  // SIGUSR1: reopen log files only.
  process.on('SIGUSR1', () => gateway.observer.reopen());
  return gateway;
}

export async function serveCommand(opts: { config: string }): Promise<void> {
  const cfg = loadOrExit(opts.config);
  if (isWorker()) return runWorker(cfg, opts.config);
  if (workerCount(cfg) > 1) return runPrimary(cfg, opts.config);
  await runGateway(cfg, opts.config);
}

/** A worker of `workers: N`: one gateway, driven by the primary's messages. */
async function runWorker(cfg: AirgateConfig, configFile: string): Promise<void> {
  let asked = 0;
  const waiting = new Map<number, (text: string) => void>();
  const ask = (kind: 'metrics' | 'status') =>
    new Promise<string>((resolve) => {
      const id = ++asked;
      waiting.set(id, resolve);
      process.send?.({ type: 'collect', id, kind });
    });
  // Only the first worker keeps the admin listener (one address can be bound once).
  const config = workerSlot() === 0 ? cfg : { ...cfg, admin: undefined };
  const gateway = new Gateway(config, {
    configFile,
    deps: { sharedCounter: new PrimaryCounter() },
    transformConfig: (c) => withoutHealthChecks(workerSlot() === 0 ? c : { ...c, admin: undefined }),
    onAdminChange: (change) => process.send?.({ type: 'admin', change }),
    machineMetrics: () => ask('metrics'),
    machineStatus: async () => JSON.parse(await ask('status')) as object,
    discovery: 'remote',
    initialHealth: process.env.AIRGATE_INITIAL_HEALTH ? (JSON.parse(process.env.AIRGATE_INITIAL_HEALTH) as HealthSnapshot) : undefined,
  });
  await gateway.start();
  process.on('SIGHUP', () => undefined); // the primary orders reloads
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('message', (m: PrimaryMessage) => {
    if (m.type === 'reload') void gateway.reload().then((r) => process.send?.({ type: 'reloaded', ok: r.ok }));
    if (m.type === 'stop') void gateway.stop().then(() => process.exit(0));
    if (m.type === 'health') gateway.applyHealth(m.health);
    if (m.type === 'admin') gateway.applyAdminChange(m.change);
    if (m.type === 'metrics') {
      if (m.kind === 'status') process.send?.({ type: 'metrics', id: m.id, json: runtimeStatus(gateway.runtime, gateway.observer) });
      else void gateway.observer.metrics.registry.getMetricsAsJSON().then((json) => process.send?.({ type: 'metrics', id: m.id, json }));
    }
    if (m.type === 'collected') {
      waiting.get(m.id)?.(m.text);
      waiting.delete(m.id);
    }
  });
  process.send?.({ type: 'ready' });
}
