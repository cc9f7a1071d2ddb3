import type { Logger } from '../observability/logger.js';
import type { RedisBus } from '../store/redis-bus.js';

const LIMIT = 2000;

export interface DriftSignal {
  backend: string;
  sign: string;
  nodes: string[];
  at: number;
}

/** Signs needed within WINDOW_MS before drift is suspected: one stale form after a restart is not drift. */
export const DRIFT_SIGNS = 2;
export const DRIFT_WINDOW_MS = 5 * 60_000;
/** Without a sign for this long (while requests keep flowing through the same nodes), the nodes agree again. */
export const DRIFT_CLEAR_MS = 10 * 60_000;

interface BackendDrift {
  /** Times of recent signs (within the window). */
  signs: number[];
  last: number;
  suspected: boolean;
}

/**
 * Notices the signs of Airflow webservers with different `[webserver] secret_key` values, which
 * stickiness would hide: "The CSRF session token is missing." or "Bad Signature" answers, and a
 * `session` cookie accepted by one node and refused (redirected to the login page) by another.
 * Two signs within five minutes raise the named warning AIRGATE_WARN_SECRET_KEY_DRIFT in the
 * logs, metrics and status; ten minutes without a sign clear it (logged, and shown as an event).
 * Time comes from the injected clock.
 */
export class SecretKeyDrift {
  private readonly state = new Map<string, BackendDrift>();
  readonly recent: DriftSignal[] = [];
  private readonly accepted = new Map<string, string>();
  private readonly logger: Logger;
  private readonly onSignal: (s: DriftSignal) => void;
  private readonly onClear: (backend: string) => void;
  private readonly now: () => number;
  private bus: RedisBus | undefined;

  /** Share signals with every instance (store: redis). */
  attach(bus: RedisBus): void {
    if (this.bus) return;
    this.bus = bus;
    bus.on('drift', (m) => this.raise(String(m.backend), String(m.sign), m.nodes as string[], true));
  }

  constructor(logger: Logger, onSignal: (s: DriftSignal) => void, onClear: (backend: string) => void = () => undefined, now: () => number = Date.now) {
    this.logger = logger;
    this.onSignal = onSignal;
    this.onClear = onClear;
    this.now = now;
  }

  /** Backends where drift is suspected now (clearing those whose nodes have agreed long enough). */
  active(): ReadonlySet<string> {
    const now = this.now();
    const out = new Set<string>();
    for (const [backend, st] of this.state) {
      if (!st.suspected) continue;
      if (now - st.last >= DRIFT_CLEAR_MS) {
        st.suspected = false;
        st.signs = [];
        this.logger.info({ code: 'AIRGATE_WARN_SECRET_KEY_DRIFT', backend, cleared: true }, `secret_key drift in backend ${backend} cleared: no sign for ${DRIFT_CLEAR_MS / 60_000} minutes`);
        this.onClear(backend);
        continue;
      }
      out.add(backend);
    }
    return out;
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
    const at = this.now();
    const s: DriftSignal = { backend, sign, nodes, at };
    this.recent.unshift(s);
    this.recent.length = Math.min(this.recent.length, 20);
    let st = this.state.get(backend);
    if (!st) this.state.set(backend, (st = { signs: [], last: at, suspected: false }));
    st.signs = st.signs.filter((t) => at - t < DRIFT_WINDOW_MS);
    st.signs.push(at);
    st.last = at;
    if (st.suspected) {
      // Already suspected: every further sign is a warning too.
      this.logger.warn({ code: 'AIRGATE_WARN_SECRET_KEY_DRIFT', backend, sign, nodes, signs: st.signs.length }, `secret_key drift in backend ${backend}: another sign: ${sign} (${nodes.join(', ')})`);
      return;
    }
    if (st.signs.length < DRIFT_SIGNS) {
      this.logger.info({ backend, sign, nodes, signs: st.signs.length }, `secret_key mismatch sign in backend ${backend}: ${sign} (not drift until ${DRIFT_SIGNS} signs within ${DRIFT_WINDOW_MS / 60_000} minutes)`);
      return;
    }
    st.suspected = true;
    this.logger.warn({ code: 'AIRGATE_WARN_SECRET_KEY_DRIFT', backend, sign, nodes, signs: st.signs.length }, `secret_key drift suspected in backend ${backend}: ${sign} (${nodes.join(', ')}); every webserver must share [webserver] secret_key`);
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
