import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Agent, request, type Dispatcher } from 'undici';
import { loadConfigText } from '../../src/config/load.js';
import { Gateway } from '../../src/server/gateway.js';
import { SimulatedAirflow, type SimOptions } from '../../src/sim/airflow-sim.js';
import { AirflowState } from '../../src/sim/state.js';

/** Log lines a test gateway wrote, parsed. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    cb();
  }
}

export async function startSims(n: number, opts: Partial<SimOptions> = {}): Promise<SimulatedAirflow[]> {
  const state = opts.state ?? new AirflowState();
  return Promise.all(Array.from({ length: n }, (_, i) => new SimulatedAirflow({ name: `web-${i + 1}`, state, ...opts }).start()));
}

/** A gateway on a free port in front of `sims`, built from YAML through the real loader. */
export async function startGateway(yaml: string): Promise<{ gateway: Gateway; url: string; logs: LogCapture }> {
  const logs = new LogCapture();
  const config = loadConfigText(yaml, 'test.yaml');
  const gateway = new Gateway(config, { logger: pino({ level: 'debug' }, logs) });
  await gateway.start();
  return { gateway, url: `http://127.0.0.1:${gateway.port()}`, logs };
}

/** The smallest config in front of the given sims, with optional extra route/backend YAML. */
export function basicYaml(sims: readonly SimulatedAirflow[], extra: { route?: string; backend?: string; listener?: string; top?: string } = {}): string {
  return `listeners:
  - name: public
    address: 127.0.0.1:0
${extra.listener ?? ''}
backends:
  airflow:
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
${extra.backend ?? ''}
routes:
  - path: /
    backend: airflow
${extra.route ?? ''}
${extra.top ?? ''}`;
}

/** A client with its own connection pool, closed by `close()`. */
export function client(): { agent: Agent; req: (url: string, opts?: Partial<Omit<Dispatcher.RequestOptions, 'origin' | 'path'>>) => ReturnType<typeof request>; close: () => Promise<void> } {
  const agent = new Agent({ keepAliveTimeout: 1000 });
  return {
    agent,
    req: (url, opts = {}) => request(url, { ...opts, dispatcher: agent }),
    close: () => agent.close(),
  };
}
