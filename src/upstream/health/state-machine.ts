export type HealthState = 'up' | 'degraded' | 'down';

/** One check result as the state machine sees it. */
export interface CheckOutcome {
  pass: boolean;
  /** Passed, but slower than `slow_threshold`. */
  slow: boolean;
  /** Why: `status 503`, `timeout after 1000ms`, `scheduler unhealthy`, `latency 812ms` … */
  reason: string;
}

export interface Transition {
  from: HealthState;
  to: HealthState;
  reason: string;
}

/**
 * HAProxy's rise/fall counting: a server that is up goes down after `fall` consecutive failed
 * checks; a server that is down comes up after `rise` consecutive passing checks. A passing
 * check slower than the slow threshold makes an up server degraded (still in rotation) and a
 * fast one makes it up again at once.
 */
export class HealthStateMachine {
  state: HealthState;
  /** Consecutive results pointing away from the current state (0 when stable). */
  streak = 0;
  private readonly rise: number;
  private readonly fall: number;

  constructor(rise: number, fall: number, initial: HealthState = 'up') {
    this.rise = rise;
    this.fall = fall;
    this.state = initial;
  }

  /** Whether a state change is being confirmed (fastinter applies). */
  get changing(): boolean {
    return this.streak > 0;
  }

  record(o: CheckOutcome): Transition | undefined {
    const from = this.state;
    if (from === 'down') {
      this.streak = o.pass ? this.streak + 1 : 0;
      if (this.streak >= this.rise) return this.move(o.slow ? 'degraded' : 'up', o.reason);
      return undefined;
    }
    if (!o.pass) {
      this.streak++;
      if (this.streak >= this.fall) return this.move('down', o.reason);
      return undefined;
    }
    this.streak = 0;
    const to: HealthState = o.slow ? 'degraded' : 'up';
    return to === from ? undefined : this.move(to, o.reason);
  }

  private move(to: HealthState, reason: string): Transition {
    const t = { from: this.state, to, reason };
    this.state = to;
    this.streak = 0;
    return t;
  }
}

/**
 * The delay before the next check: `downinter` while down, `fastinter` while a change is being
 * confirmed, `interval` otherwise; spread by ±jitter so checks of many servers do not align.
 */
export function nextCheckDelay(machine: HealthStateMachine, cfg: { interval: number; fastinter?: number | undefined; downinter?: number | undefined; jitter: number }, random: () => number): number {
  const base = machine.changing ? (cfg.fastinter ?? cfg.interval) : machine.state === 'down' ? (cfg.downinter ?? cfg.interval) : cfg.interval;
  return Math.max(1, Math.round(base * (1 + cfg.jitter * (2 * random() - 1))));
}
