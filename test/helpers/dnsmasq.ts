import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

/**
 * A port nothing is bound to right now on 127.0.0.1 for UDP and for TCP (dnsmasq listens on both;
 * a UDP port whose TCP twin is the local end of some connection makes dnsmasq exit).
 */
async function freeDnsPort(): Promise<number> {
  for (;;) {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    const port = s.address().port;
    const tcp = createServer();
    const free = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    s.close();
    if (free) {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      return port;
    }
  }
}

export interface Dnsmasq {
  /** `127.0.0.1:<port>`, for `resolvers:`. */
  readonly address: string;
  /** Replace the hosts file (`name → addresses`) and make dnsmasq re-read it (SIGHUP); resolves once dnsmasq logged the re-read. */
  publish(hosts: Record<string, readonly string[]>): Promise<void>;
  /** Stop the server (SIGTERM) and wait until it exited. */
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Debian's dnsmasq as an authoritative server for test names on a free loopback port: names
 * from an `--addn-hosts` file the test rewrites (dnsmasq re-reads it on SIGHUP; its conf file it
 * does not, so SRV records are fixed at start). It answers for `.test` only (unknown names get
 * NXDOMAIN, not REFUSED). Answers carry a TTL of `ttl` seconds.
 */
export async function startDnsmasq(opts: { hosts: Record<string, readonly string[]>; srv?: string[]; ttl?: number }): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-dns-'));
  chmodSync(dir, 0o755); // dnsmasq started as root re-reads the file as its own unprivileged user
  const hostsFile = join(dir, 'hosts');
  const confFile = join(dir, 'dnsmasq.conf');
  const writeHosts = (hosts: Record<string, readonly string[]>) =>
    writeFileSync(
      hostsFile,
      Object.entries(hosts)
        .flatMap(([name, addrs]) => addrs.map((a) => `${a} ${name}\n`))
        .join(''),
      { mode: 0o644 },
    );
  writeHosts(opts.hosts);
  writeFileSync(confFile, (opts.srv ?? []).map((s) => `srv-host=${s}\n`).join(''), { mode: 0o644 });
  // The port is free when picked but may be taken before dnsmasq binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(dir, hostsFile, writeHosts, opts.ttl ?? 0, await freeDnsPort());
    } catch (err) {
      if (attempt >= 5 || !String((err as Error).message).includes('Address already in use')) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

async function launch(dir: string, hostsFile: string, writeHosts: (hosts: Record<string, readonly string[]>) => void, ttl: number, port: number): Promise<Dnsmasq> {
  const confFile = join(dir, 'dnsmasq.conf');
  const child: ChildProcess = spawn(
    'dnsmasq',
    ['--no-daemon', '--no-resolv', '--no-hosts', '--local=/test/', `--addn-hosts=${hostsFile}`, `--conf-file=${confFile}`, `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', `--local-ttl=${ttl}`, `--pid-file=${join(dir, 'pid')}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const reads = () => log.split('\n').filter((l) => l.includes(`read ${hostsFile}`)).length;
  await waitFor(() => reads() >= 1 || child.exitCode !== null, 'dnsmasq to read its hosts file');
  if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${log}`);
  return {
    address: `127.0.0.1:${port}`,
    async publish(hosts) {
      const before = reads();
      writeHosts(hosts);
      child.kill('SIGHUP');
      await waitFor(() => reads() > before, 'dnsmasq to re-read its hosts file');
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    async cleanup() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
