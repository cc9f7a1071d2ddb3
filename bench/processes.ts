/**
 * Child-process plumbing for the bench: spawning and stopping servers, free ports,
 * readiness polling, CPU accounting from /proc, and tool discovery.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const OUTPUT_LIMIT = 32 * 1024;

/** A child process started by the bench, with the tail of its output kept for error messages. */
export class ManagedProcess {
  private output = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      if (this.output.length > OUTPUT_LIMIT) this.output = this.output.slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
      child.once('error', (err) => {
        keep(Buffer.from(`spawn error: ${err.message}\n`));
        this.exitInfo ??= { code: null, signal: null };
        resolve();
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name}: the process has no pid (it failed to start)\n${this.output}`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The recorded output (stdout and stderr interleaved), last 32 KiB. */
  get log(): string {
    return this.output;
  }

  describeExit(): string {
    if (!this.exitInfo) return 'still running';
    const { code, signal } = this.exitInfo;
    return signal ? `killed by ${signal}` : `exited with code ${code ?? 'unknown'}`;
  }

  /** SIGTERM, then SIGKILL after `graceMs` if it is still running. */
  async stop(graceMs = 3_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut && this.running) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exited, sleep(2_000)]);
    }
  }

  /** Synchronous last resort, for process 'exit' handlers. */
  killNow(): void {
    if (this.running) {
      try {
        this.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/** Every child the bench starts goes through here so that all of them can be stopped at the end. */
export class ProcessRegistry {
  private readonly children = new Set<ManagedProcess>();

  start(name: string, command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ManagedProcess {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const managed = new ManagedProcess(name, child);
    this.children.add(managed);
    return managed;
  }

  async stop(proc: ManagedProcess): Promise<void> {
    await proc.stop();
    this.children.delete(proc);
  }

  async stopAll(): Promise<void> {
    const all = [...this.children];
    this.children.clear();
    await Promise.all(all.map((p) => p.stop()));
  }

  killAllNow(): void {
    for (const p of this.children) p.killNow();
    this.children.clear();
  }
}

const handedOut = new Set<number>();

/** A currently free loopback port: bind port 0, read the port, close. Never hands out the same port twice. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free loopback port');
}

function tryConnect(port: number, host: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Poll-connect until the port accepts connections. Fails after `tries` attempts or as soon
 * as the process exits, with the process output in the error.
 */
export async function waitForPort(proc: ManagedProcess, port: number, host = '127.0.0.1', tries = 100, intervalMs = 50): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (!proc.running) break;
    if (await tryConnect(port, host, 500)) return;
    await sleep(intervalMs);
  }
  const state = proc.running ? `did not accept connections on ${host}:${port} after ${tries} tries` : proc.describeExit();
  throw new Error(`${proc.name} ${state}${proc.log ? `; its output:\n${proc.log.trimEnd()}` : ''}`);
}

/** utime + stime of a process (all its threads), in clock ticks, from /proc/<pid>/stat. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14 and stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat: ${stat}`);
  return utime + stime;
}

/** CPU ticks of a process and all its descendants (a multi-process gateway: the primary and its workers). */
export function cpuTicksTree(pid: number): number {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(rest[1]));
    } catch {
      /* the process ended meanwhile */
    }
  }
  let total = 0;
  const visit = (p: number) => {
    try {
      total += cpuTicks(p);
    } catch {
      return;
    }
    for (const [child, parent] of parents) if (parent === p) visit(child);
  };
  visit(pid);
  return total;
}

/** Clock ticks per second (`getconf CLK_TCK`, normally 100). */
export function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    /* fall through */
  }
  return 100;
}

/** Find an executable: the preferred absolute path first, then the PATH. */
export function findExecutable(name: string, preferred: string[] = []): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const candidate of [...preferred, ...dirs.map((d) => join(d, name))]) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Run a command and return stdout + stderr whatever its exit code (tools print versions to either). */
export function commandOutput(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`;
}
