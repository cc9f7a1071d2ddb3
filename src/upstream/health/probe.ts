import { Agent, request } from 'undici';
import type { BackendConfig } from '../../config/schema.js';
import { jsonPath, readAirflowHealth, type AirflowComponents } from './airflow-health.js';
import { upstreamTls } from '../upstream-tls.js';

export interface ProbeResult {
  /** The server answered as a healthy server of its kind answers (components aside). */
  answered: boolean;
  reason: string;
  latencyMs: number;
  /** Airflow mode: what the body says about the metadatabase and scheduler. */
  components?: AirflowComponents;
}

/** The check path a backend uses: configured, or Airflow's own for `airflow: 2 | 3`. */
export function healthPath(cfg: BackendConfig): string {
  if (cfg.health.path) return cfg.health.path;
  return cfg.airflow === 3 ? '/api/v2/monitor/health' : '/health';
}

/**
 * One HTTP health check. Airflow mode reads the JSON body (Airflow answers 200 even when
 * unhealthy); generic mode checks the status, an optional body regex and JSON fields.
 */
export class Prober {
  private readonly agent: Agent;
  private readonly cfg: BackendConfig;
  private readonly path: string;
  private readonly bodyRegex: RegExp | undefined;

  constructor(cfg: BackendConfig) {
    this.cfg = cfg;
    this.path = healthPath(cfg);
    this.bodyRegex = cfg.health.expect?.body ? new RegExp(cfg.health.expect.body) : undefined;
    // Own connections, so checks never queue behind user traffic inside the gateway.
    this.agent = new Agent({
      connections: 2,
      keepAliveTimeout: Math.min(cfg.pool.keep_alive, 60_000),
      connect: { timeout: cfg.health.timeout, ...(cfg.servers.some((s) => s.url.protocol === 'https:') || cfg.discovery?.scheme === 'https' ? upstreamTls(cfg.tls).options : {}) },
    });
  }

  async probe(origin: string, now: () => number): Promise<ProbeResult> {
    const started = now();
    const timeout = this.cfg.health.timeout;
    try {
      const res = await request(`${origin}${this.path}`, {
        dispatcher: this.agent,
        headers: { 'user-agent': 'airgate-health', accept: 'application/json' },
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout),
      });
      const text = await res.body.text();
      const latencyMs = now() - started;
      return { ...this.judge(res.statusCode, text), latencyMs };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const latencyMs = now() - started;
      const timedOut = e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT';
      return { answered: false, reason: timedOut ? `timeout after ${timeout}ms` : `connection failed: ${e.code ?? e.message}`, latencyMs };
    }
  }

  private judge(status: number, text: string): Omit<ProbeResult, 'latencyMs'> {
    const expect = this.cfg.health.expect;
    if (this.cfg.airflow !== 'none' && !expect) {
      if (status !== 200) return { answered: false, reason: `status ${status}` };
      const verdict = readAirflowHealth(text);
      if (!verdict.ok) return { answered: false, reason: verdict.reason };
      return { answered: true, reason: 'ok', components: verdict.components };
    }
    const statuses = expect?.status ?? [200];
    if (!statuses.includes(status)) return { answered: false, reason: `status ${status}, expected ${statuses.join('/')}` };
    if (this.bodyRegex && !this.bodyRegex.test(text)) return { answered: false, reason: `body does not match /${this.bodyRegex.source}/` };
    if (expect?.json) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        return { answered: false, reason: 'body is not JSON' };
      }
      for (const [path, want] of Object.entries(expect.json)) {
        const got = jsonPath(doc, path);
        if (got !== want) return { answered: false, reason: `${path} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}` };
      }
    }
    return { answered: true, reason: 'ok' };
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
