import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { TestPki } from './certs.js';
import { freePort } from './port.js';

export interface Pebble {
  directory: string;
  /** Pebble's root CA for the certificates it issues (regenerated at every start). */
  root: string;
  stop: () => Promise<void>;
}

/** Start a child and resolve once its output contains `ready`; reject when it exits first. */
async function started(child: ChildProcess, ready: string, what: string): Promise<() => Promise<void>> {
  let out = '';
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      out += c.toString();
      if (out.includes(ready)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`${what} exited before it was ready: ${out}`)));
  });
  return async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
}

/**
 * Debian's pebble (the ACME test CA) with real validation: pebble-challtestsrv answers its DNS
 * queries with 127.0.0.1 for every name, and HTTP-01 / TLS-ALPN-01 validation connects to the
 * given loopback ports, where the gateway listens. Pebble's HTTPS API uses a certificate from the
 * test PKI for `localhost`. PEBBLE_VA_NOSLEEP only removes pebble's artificial validation delay.
 */
export async function startPebble(pki: TestPki, opts: { httpPort: number; tlsPort: number; validitySeconds?: number; eab?: { kid: string; hmacKey: string } }): Promise<Pebble> {
  const [dnsPort, dnsMgmt, apiPort, mgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const dns = spawn('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsMgmt}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stopDns = await started(dns, 'Starting management server', 'pebble-challtestsrv');
  const tlsPair = pki.issue('pebble-api', ['localhost']);
  const config = join(pki.dir, `pebble-${apiPort}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${apiPort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: tlsPair.cert,
        privateKey: tlsPair.key,
        httpPort: opts.httpPort,
        tlsPort: opts.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: opts.eab !== undefined,
        ...(opts.eab ? { externalAccountMACKeys: { [opts.eab.kid]: opts.eab.hmacKey } } : {}),
        ...(opts.validitySeconds ? { certificateValidityPeriod: opts.validitySeconds } : {}),
      },
    }),
  );
  const child = spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' } });
  let stopPebble: () => Promise<void>;
  try {
    stopPebble = await started(child, 'ACME directory available', 'pebble');
  } catch (err) {
    await stopDns();
    throw err;
  }
  const agent = new Agent({ connect: { ca: pki.read(pki.caCert) } });
  const res = await request(`https://localhost:${mgmtPort}/roots/0`, { dispatcher: agent });
  const root = await res.body.text();
  await agent.close();
  return {
    directory: `https://localhost:${apiPort}/dir`,
    root,
    stop: async () => {
      await stopPebble();
      await stopDns();
    },
  };
}
