import type { AirgateConfig } from '../config/schema.js';
import type { RedisBus } from '../store/redis-bus.js';

interface Entry {
  failures: number[];
  level: number;
  lockedUntil: number;
}

/**
 * Failed logins counted per client address and per user name: `max_failures` within `window`
 * lock the key out for `lockout`, doubling with each further lockout up to `max_lockout`. A
 * successful login clears the user's and the address's record. Bounded like the rate limits.
 */
export class LoginGuard {
  private readonly entries = new Map<string, Entry>();
  private readonly cfg: AirgateConfig['login_protection'];
  private readonly maxKeys: number;

  private bus: RedisBus | undefined;

  constructor(cfg: AirgateConfig['login_protection'], maxKeys: number) {
    this.cfg = cfg;
    this.maxKeys = maxKeys;
  }

  /** Share failures and successes with every instance (store: redis). */
  attach(bus: RedisBus): void {
    if (this.bus) return;
    this.bus = bus;
    bus.on('login', (m) => {
      const keys = m.keys as string[];
      if (m.op === 'failure') this.failure(keys, Number(m.now), true);
      else if (m.op === 'success') this.success(keys, true);
    });
  }

  /** Milliseconds left in a lockout of any of the keys, or 0. */
  lockedFor(keys: readonly string[], now: number): number {
    if (!this.cfg.enabled) return 0;
    let left = 0;
    for (const k of keys) {
      const e = this.entries.get(k);
      if (e && e.lockedUntil > now) left = Math.max(left, e.lockedUntil - now);
    }
    return left;
  }

  failure(keys: readonly string[], now: number, remote = false): void {
    if (!this.cfg.enabled) return;
    if (!remote) this.bus?.publish('login', { op: 'failure', keys, now });
    for (const k of keys) {
      let e = this.entries.get(k);
      if (!e) {
        if (this.entries.size >= this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
        this.entries.set(k, (e = { failures: [], level: 0, lockedUntil: 0 }));
      }
      e.failures = e.failures.filter((t) => now - t < this.cfg.window);
      e.failures.push(now);
      if (e.failures.length >= this.cfg.max_failures) {
        e.lockedUntil = now + Math.min(this.cfg.max_lockout, this.cfg.lockout * 2 ** e.level);
        e.level++;
        e.failures = [];
      }
    }
  }

  success(keys: readonly string[], remote = false): void {
    if (!remote) this.bus?.publish('login', { op: 'success', keys });
    for (const k of keys) this.entries.delete(k);
  }
}
