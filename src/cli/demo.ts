import { createServer } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigText } from '../config/load.js';
import { Gateway } from '../server/gateway.js';
import { createLogger } from '../observability/logger.js';
import { stopOnSignals } from './serve.js';
import { demoConfigYaml } from './demo-config.js';
import { cliCommand, demoBanner } from './demo-banner.js';

export interface DemoOptions {
  port: string;
  host: string;
  airflow: string;
  simPorts?: string;
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

async function pickPort(host: string, wanted: number): Promise<number> {
  if (wanted > 0 && (await portFree(host, wanted))) return wanted;
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve());
  });
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * oidc-provider prints its development-mode notices with console.warn / console.info, in colour on
 * a TTY (node_modules/oidc-provider/lib/helpers/attention.js: "oidc-provider WARNING: …"): the
 * runtime check at import, the in-memory adapter, the development keys, devInteractions. No option
 * turns them off. In the demo process, whose banner already says the IdP is a development one,
 * they are dropped; everything else reaches the console unchanged.
 */
function hideDevIdpNotices(): void {
  const notice = /^\S{0,8}oidc-provider (?:WARNING|NOTICE): /; // \S{0,8}: an optional ANSI colour prefix
  for (const level of ['warn', 'info'] as const) {
    const original = console[level].bind(console);
    console[level] = (...args: unknown[]) => {
      if (!(typeof args[0] === 'string' && notice.test(args[0]))) original(...args);
    };
  }
}

/** The simulator and the development IdP are not in the published package: load them on demand, or explain. */
async function loadDemoCluster(): Promise<typeof import('../sim/demo-cluster.js')> {
  try {
    return await import('../sim/demo-cluster.js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stderr.write(
      'airgate demo needs the simulated Airflow and the development IdP (the oidc-provider package),\n' +
        'which the installed airgate package does not include: it ships only the gateway.\n' +
        `(${String((err as Error).message).split('\n')[0]})\n` +
        'Run the demo from a checkout of the airgate sources, where `npm install` also installs the\n' +
        'development dependencies:\n\n' +
        '  npm install && npm start\n',
    );
    process.exit(1);
  }
}

/** Airflow 3: the api-servers' `[api_auth] jwt_issuer`; airgate's tokens for them carry it too. */
const AIRFLOW3_ISSUER = 'airflow-demo';

/** Holds the gateway's log lines until the banner is out, so the banner is the first thing a user reads. */
class HeldLog {
  private held: string[] | undefined = [];
  write(line: string): void {
    if (this.held) this.held.push(line);
    else process.stdout.write(line);
  }
  release(): void {
    const lines = this.held ?? [];
    this.held = undefined;
    process.stdout.write(lines.join(''));
  }
}

/** `airgate demo`: three simulated Airflow nodes, a development IdP, and the gateway in front. */
export async function demoCommand(opts: DemoOptions): Promise<void> {
  if (opts.airflow !== '2' && opts.airflow !== '3') {
    process.stderr.write(`airgate demo: --airflow must be 2 or 3, found "${opts.airflow}"\n`);
    process.exit(1);
  }
  const airflow = opts.airflow === '3' ? 3 : 2;
  hideDevIdpNotices();
  const { startDemoCluster } = await loadDemoCluster();
  const port = await pickPort(opts.host, Number(opts.port)).catch((err: Error) => {
    process.stderr.write(`airgate demo: cannot listen on ${opts.host}: ${err.message}\n`);
    return process.exit(1);
  });
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  // Register the gateway both as the printed address and as localhost, whichever the browser uses.
  const origins = [...new Set([url, `http://localhost:${port}`, `http://127.0.0.1:${port}`])];
  const cluster = await startDemoCluster({
    airflow,
    simPorts: opts.simPorts ? opts.simPorts.split(',').map(Number) : [0, 0, 0],
    gatewayOrigins: origins,
    backchannelLogoutUri: `${url}/_airgate/backchannel-logout`,
    clientId: 'airgate-demo',
    clientSecret: 'airgate-demo-secret',
    airflow3Issuer: AIRFLOW3_ISSUER,
  });
  // The key files (the assertion's signing key; on Airflow 3 the api-servers' public key, which the
  // gateway's JWKS serves beside its own) are read once at start and gone before the banner.
  const adminToken = randomBytes(18).toString('base64url');
  const keyDir = mkdtempSync(join(tmpdir(), 'airgate-demo-'));
  const log = new HeldLog();
  let gateway: Gateway;
  try {
    const assertionKeyFile = join(keyDir, 'assertion-key.pem');
    writeFileSync(assertionKeyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    let airflow3;
    if (cluster.airflow3Jwk) {
      const jwksFile = join(keyDir, 'airflow-jwks.json');
      writeFileSync(jwksFile, JSON.stringify({ keys: [cluster.airflow3Jwk] }), { mode: 0o600 });
      airflow3 = { jwksFile, issuer: AIRFLOW3_ISSUER, jwksUrl: `${url}/_airgate/jwks.json` };
    }
    const yaml = demoConfigYaml({ host: opts.host, port, airflow, servers: cluster.sims, issuer: cluster.issuer, sessionKey: randomBytes(32).toString('base64url'), adminToken, assertionKeyFile, airflow3 });
    gateway = new Gateway(loadConfigText(yaml, '<demo>'), { logger: createLogger('info', log) });
    await gateway.start();
  } catch (err) {
    log.release(); // the reason is in the log
    await cluster.stop();
    throw err;
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
  }
  const admin = gateway.admin;
  if (!admin) throw new Error('the demo configuration has an admin section');
  process.stdout.write(demoBanner({ url, airflow, adminUrl: `http://127.0.0.1:${admin.port}`, adminToken, sims: cluster.sims, issuer: cluster.issuer, cli: cliCommand() }));
  log.release();
  stopOnSignals(async () => {
    await gateway.stop();
    await cluster.stop();
  });
}
