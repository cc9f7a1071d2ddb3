import type { Logger } from '../observability/logger.js';
import type { RedisBus } from '../store/redis-bus.js';

const LIMIT = 2000;

export interface DriftSignal {
  backend: string;
  sign: string;
  nodes: string[];
  at: number;
}

/**
 * Notices the signs of Airflow webservers with different `[webserver] secret_key` values, which
 * stickiness would hide: "The CSRF session token is missing." or "Bad Signature" answers, and a
 * `session` cookie accepted by one node and refused (redirected to the login page) by another.
 * Raises the named warning AIRGATE_WARN_SECRET_KEY_DRIFT in the logs, metrics and status.
 */
export class SecretKeyDrift {
  /** Backends with a drift signal, and when it was last seen. */
  readonly backends = new Map<string, number>();
  readonly recent: DriftSignal[] = [];
  private readonly accepted = new Map<string, string>();
  private readonly logger: Logger;
  private readonly onSignal: (s: DriftSignal) => void;
  private bus: RedisBus | undefined;

  /** Share signals with every instance (store: redis). */
  attach(bus: RedisBus): void {
    if (this.bus) return;
    this.bus = bus;
    bus.on('drift', (m) => this.raise(String(m.backend), String(m.sign), m.nodes as string[], true));
  }

  constructor(logger: Logger, onSignal: (s: DriftSignal) => void) {
    this.logger = logger;
    this.onSignal = onSignal;
  }

  /** A `session` cookie was accepted (a page served) by `server`. */
  sessionAccepted(sessionKey: string, backend: string, server: string): void {
    if (this.accepted.size >= LIMIT) this.accepted.clear();
    this.accepted.set(`${backend}\u0000${sessionKey}`, server);
  }

  /** A `session` cookie was refused (login redirect) by `server`. */
  sessionRefused(sessionKey: string, backend: string, server: string): void {
    const by = this.accepted.get(`${backend}\u0000${sessionKey}`);
    if (by !== undefined && by !== server) this.raise(backend, 'a session accepted by one node was refused by another', [by, server]);
  }

  /** An answer whose body carries Airflow's mismatch messages. */
  csrfOrSignature(backend: string, server: string, message: string): void {
    this.raise(backend, message, [server]);
  }

  private raise(backend: string, sign: string, nodes: string[], remote = false): void {
    if (!remote) this.bus?.publish('drift', { backend, sign, nodes });
    const s: DriftSignal = { backend, sign, nodes, at: Date.now() };
    this.backends.set(backend, s.at);
    this.recent.unshift(s);
    this.recent.length = Math.min(this.recent.length, 20);
    this.logger.warn({ code: 'AIRGATE_WARN_SECRET_KEY_DRIFT', backend, sign, nodes }, `secret_key drift suspected in backend ${backend}: ${sign} (${nodes.join(', ')}); every webserver must share [webserver] secret_key`);
    this.onSignal(s);
  }
}

const CSRF = Buffer.from('The CSRF session token is missing');
const BAD_SIGNATURE = Buffer.from('Bad Signature');

/** The mismatch message in the first chunk of a 400 answer, if any. */
export function mismatchMessage(chunk: Buffer): string | undefined {
  if (chunk.includes(CSRF)) return 'The CSRF session token is missing.';
  if (chunk.includes(BAD_SIGNATURE)) return 'Bad Signature';
  return undefined;
}
