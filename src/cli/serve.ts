import cluster from 'node:cluster';
import { Gateway, type HealthSnapshot } from '../server/gateway.js';
import type { AirgateConfig } from '../config/schema.js';
import { loadOrExit } from './load-or-exit.js';
import { runtimeStatus } from '../admin/status.js';
import { isWorker, PrimaryCounter, runPrimary, withoutHealthChecks, workerCount, workerSlot, type PrimaryMessage, type ReloadOutcome, type WorkerMessage } from './cluster.js';
import { listenErrorMessage } from './listen-error.js';

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
  await startOrExit(gateway, config);
  stopOnSignals(() => gateway.stop());
  // SIGHUP: reopen log files (logrotate) and reload the configuration file (errors are logged; the running config stays).
  process.on('SIGHUP', () => {
    gateway.observer.reopen();
    void gateway.reload().then((r) => auditSignalReload(gateway, r.ok, r.ok ? undefined : r.errors));
  });
  // SIGUSR1: reopen log files only (its listener also keeps Node's inspector from starting).
  process.on('SIGUSR1', () => gateway.observer.reopen());
  return gateway;
}

/** A reload ordered by SIGHUP, in the audit log (who: whoever may signal the process). */
function auditSignalReload(gateway: Gateway, ok: boolean, errors: string[] | undefined): void {
  gateway.observer.operatorAction({ action: 'config.reload', user: null, auth: 'signal', client: null, success: ok, ...(errors ? { errors } : {}) });
}

/** Start; an address that cannot be bound ends the process with one line naming it (exit 1), no stack. */
async function startOrExit(gateway: Gateway, config: AirgateConfig, onListenError?: (message: string) => Promise<void>): Promise<void> {
  try {
    await gateway.start();
  } catch (err) {
    const message = listenErrorMessage(err, config);
    if (message === undefined) throw err;
    if (onListenError) await onListenError(message);
    else process.stderr.write(`airgate: ${message}\n`);
    process.exit(1);
  }
}

export async function serveCommand(opts: { config: string }): Promise<void> {
  const cfg = loadOrExit(opts.config);
  if (isWorker()) return runWorker(cfg, opts.config);
  if (workerCount(cfg) > 1) return runPrimary(cfg, opts.config);
  await runGateway(cfg, opts.config);
}

/** A worker of `workers: N`: one gateway, driven by the primary's messages. */
async function runWorker(cfg: AirgateConfig, configFile: string): Promise<void> {
  // The primary is gone (it stopped the machine): leave quietly instead of with an EPIPE stack.
  cluster.worker?.on('error', () => process.exit(1));
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
    // The logout answers once the primary has passed it to every sibling (their next request sees it).
    onRevoke: (match, maxAgeMs) =>
      new Promise<void>((resolve) => {
        const id = ++asked;
        revokeWaiting.set(id, resolve);
        setTimeout(resolve, 1000).unref(); // a primary that cannot answer never holds a logout up
        process.send?.({ type: 'revoke', id, match, maxAgeMs } satisfies WorkerMessage);
      }),
    machineMetrics: () => ask('metrics'),
    machineStatus: async () => JSON.parse(await ask('status')) as object,
    machineReload: () =>
      new Promise((resolve) => {
        const id = ++asked;
        reloadWaiting.set(id, resolve);
        process.send?.({ type: 'reload-request', id } satisfies WorkerMessage);
      }),
    discovery: 'remote',
    initialHealth: process.env.AIRGATE_INITIAL_HEALTH ? (JSON.parse(process.env.AIRGATE_INITIAL_HEALTH) as HealthSnapshot) : undefined,
  });
  const reloadWaiting = new Map<number, (r: ReloadOutcome) => void>();
  const revokeWaiting = new Map<number, () => void>();
  await startOrExit(gateway, config, (message) => new Promise((resolve) => process.send?.({ type: 'fatal', message } satisfies WorkerMessage, undefined, {}, () => resolve())));
  process.on('SIGHUP', () => undefined); // the primary orders reloads and reopens
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  // A SIGUSR1 sent to a worker itself (logrotate's postrotate may signal every airgate process).
  process.on('SIGUSR1', () => {
    gateway.observer.reopen();
    gateway.logger.info({ signal: 'SIGUSR1' }, 'log files reopened');
  });
  process.on('message', (m: PrimaryMessage) => {
    if (m.type === 'reload')
      void gateway.reload().then((r) => {
        // One audit line per machine: the admin worker writes it (the admin API audits its own requests).
        if (m.bySignal && workerSlot() === 0) auditSignalReload(gateway, r.ok, r.ok ? undefined : r.errors);
        process.send?.({ type: 'reloaded', ok: r.ok });
      });
    if (m.type === 'reopen') {
      gateway.observer.reopen();
      process.send?.({ type: 'reopened' } satisfies WorkerMessage);
    }
    if (m.type === 'reload-refused') {
      // The primary refused the file before any worker saw it (and logged why): count it here, where /metrics and /status read.
      gateway.reloads.failed++;
      gateway.observer.events.push('reload', 'configuration reload failed; the running configuration stays', { errors: m.errors });
      if (m.bySignal && workerSlot() === 0) auditSignalReload(gateway, false, m.errors);
    }
    if (m.type === 'reload-done') {
      reloadWaiting.get(m.id)?.(m.result);
      reloadWaiting.delete(m.id);
    }
    if (m.type === 'stop') void gateway.stop().then(() => process.exit(0));
    if (m.type === 'health') gateway.applyHealth(m.health);
    if (m.type === 'admin') gateway.applyAdminChange(m.change);
    if (m.type === 'revoke') gateway.applyRevocation(m.match, m.maxAgeMs);
    if (m.type === 'revoke-done') {
      revokeWaiting.get(m.id)?.();
      revokeWaiting.delete(m.id);
    }
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
