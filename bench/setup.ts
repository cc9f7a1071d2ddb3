/**
 * What the bench needs before it measures: its settings from the environment, the tools it runs,
 * and a check that a target answers the hello body.
 */
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { availableParallelism } from 'node:os';
import { HELLO_BODY } from './configs.js';
import { commandOutput, findExecutable } from './processes.js';

export class BenchSetupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function secondsFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new BenchSetupError(`${name} must be a number of seconds >= ${min}, found "${raw}"`, 1);
  return Math.round(n);
}

export function countFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new BenchSetupError(`${name} must be a whole number >= ${min}, found "${raw}"`, 1);
  return n;
}

export function connectionsFromEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const values = raw.split(',').map((s) => s.trim());
  const numbers = values.map(Number);
  if (values.some((v, i) => v === '' || !Number.isInteger(numbers[i]) || numbers[i]! < 1) || new Set(numbers).size !== numbers.length) {
    throw new BenchSetupError(`${name} must be distinct wrk -c values >= 1 separated by commas (e.g. 64,8), found "${raw}"`, 1);
  }
  return numbers;
}

export interface Tools {
  wrk: string;
  haproxy: string;
  nginx: string;
}

/** wrk, HAProxy and nginx, and the built files the bench starts (`required`: path and what it is). */
export function findTools(required: readonly (readonly [string, string])[]): Tools {
  const wanted = [
    { key: 'wrk', preferred: '/usr/bin/wrk', pkg: 'wrk' },
    { key: 'haproxy', preferred: '/usr/sbin/haproxy', pkg: 'haproxy' },
    { key: 'nginx', preferred: '/usr/sbin/nginx', pkg: 'nginx-light (or nginx)' },
  ] as const;
  const found: Partial<Record<keyof Tools, string>> = {};
  const missing: string[] = [];
  for (const t of wanted) {
    const path = findExecutable(t.key, [t.preferred]);
    if (path) found[t.key] = path;
    else missing.push(`  ${t.key}: not found at ${t.preferred} or on PATH; install the Debian package ${t.pkg}: apt-get install ${t.pkg.split(' ')[0]}`);
  }
  for (const [file, what] of required) {
    if (!existsSync(file)) missing.push(`  ${what}: ${file} is missing; run npm run build (or npm run bench)`);
  }
  if (missing.length > 0 || !found.wrk || !found.haproxy || !found.nginx) {
    throw new BenchSetupError(`the bench cannot run, missing:\n${missing.join('\n')}`, 2);
  }
  return { wrk: found.wrk, haproxy: found.haproxy, nginx: found.nginx };
}

export function firstMatch(text: string, re: RegExp): string {
  return re.exec(text)?.[1] ?? (text.split('\n')[0]?.trim() || 'unknown');
}

export function nproc(): number {
  const n = Number(commandOutput('nproc', []).trim());
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}

/** Modules with a *_temp_path directive compiled into this nginx (so we can point them at our temp dir). */
export function nginxTempModules(nginx: string): string[] {
  const v = commandOutput(nginx, ['-V']);
  return ['proxy', 'fastcgi', 'uwsgi', 'scgi'].filter((m) => !v.includes(`--without-http_${m}_module`));
}

/**
 * GET / once and check the answer is the 12-byte hello body, so we never benchmark an error page.
 * Resolves with the cookie the target set (airgate's sticky cookie), which wrk then sends back
 * like a browser would.
 */
export function checkHello(port: number, target: string, cookie?: string): Promise<string | undefined> {
  return new Promise((resolvePromise, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5_000, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode === 200 && body === HELLO_BODY) resolvePromise(res.headers['set-cookie']?.[0]?.split(';')[0]);
        else reject(new Error(`${target}: GET / answered ${res.statusCode} ${JSON.stringify(body.slice(0, 200))}, expected 200 ${JSON.stringify(HELLO_BODY)}`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${target}: GET / timed out`)));
    req.on('error', (err) => reject(new Error(`${target}: GET / failed: ${err.message}`)));
  });
}
