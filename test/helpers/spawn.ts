import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface SpawnedGateway {
  child: ChildProcess;
  port: number;
  /** Everything the process wrote to stdout so far. */
  stdout: () => string;
  /** Everything the process (and its workers) wrote to stderr so far. */
  stderr: () => string;
  exited: Promise<number | null>;
  cleanup: () => void;
}

/** Run `airgate serve -c <yaml>` as its own process; resolves once it logged "airgate started". */
export async function spawnGateway(yaml: string): Promise<SpawnedGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-spawn-'));
  const file = join(dir, 'airgate.yaml');
  writeFileSync(file, yaml);
  const child = spawn(process.execPath, [CLI, 'serve', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"public=[^"]*:(\d+)"/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`gateway exited with ${code} before starting: ${err}`)));
  });
  return {
    child,
    port,
    stdout: () => out,
    stderr: () => err,
    exited,
    cleanup: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resident set size of a process in bytes, from /proc. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

export const SIM_MAIN = fileURLToPath(new URL('./sim-main.js', import.meta.url));

export interface SimProcess {
  child: ChildProcess;
  port: number;
  url: string;
  exited: Promise<number | null>;
}

/** A simulated Airflow node in a child process (so it can be killed with SIGKILL). */
export async function spawnSim(name: string, port = 0): Promise<SimProcess> {
  const child = spawn(process.execPath, [SIM_MAIN, name, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const bound = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`sim ${name} exited with ${code}`)));
  });
  return { child, port: bound, url: `http://127.0.0.1:${bound}`, exited };
}
