import { performance } from 'node:perf_hooks';

/** Monotonic milliseconds. Injected wherever time decides something, so tests can drive it. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

/** A uniform number in [0, 1). Injected so balancing tests are deterministic. */
export type Random = () => number;

export const systemRandom: Random = Math.random;

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A seeded pseudo-random generator (mulberry32) for deterministic tests. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Wall-clock milliseconds since the Unix epoch: for schedules every instance must agree on (key periods). */
export const wallClock: Clock = { now: () => Date.now() };
