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
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
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
