import type { Redis } from 'ioredis';
import { redisClient } from '../store/redis-client.js';
import type { Logger } from '../observability/logger.js';
import { GcraStore } from './rate-limiter.js';
import type { SharedCounter } from './shared-counter.js';

/**
 * GCRA in Lua, so instances sharing Redis count as one: reads the key's theoretical arrival
 * time, decides, and writes it back with an expiry, atomically.
 * KEYS[1] key; ARGV: now (ms), emission (ms), burst. Returns {allowed, remaining, retryAfterMs, resetMs}.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
local emission = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tolerance = emission * (burst - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + emission
local allow_at = nxt - tolerance - emission
if allow_at > now then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], nxt, 'PX', math.ceil(nxt - now + 1000))
return {1, math.floor((now + tolerance + emission - nxt) / emission), 0, math.ceil(nxt - now)}
`;

type Result = { allowed: boolean; remaining: number; retryAfterMs: number; resetMs: number };

/**
 * Rate-limit counters shared by several airgate instances through Redis. Redis never blocks
 * traffic: a command that fails or takes longer than 50 ms falls back to this instance's own
 * counters, which is logged once per outage (and shown by `degraded`); counting goes back to Redis
 * as soon as it answers again.
 */
export class SharedGcra implements SharedCounter {
  readonly redis: Redis;
  private readonly local: GcraStore;
  private readonly logger: Logger;
  private readonly prefix: string;
  /** True while Redis is unreachable and limits are local. */
  degraded = false;

  constructor(url: string, local: GcraStore, logger: Logger, prefix = 'airgate:rl:') {
    this.local = local;
    this.logger = logger;
    this.prefix = prefix;
    this.redis = redisClient(url, 'commands');
    this.redis.on('error', () => this.fallBack('connection error'));
    this.redis.on('ready', () => {
      if (this.degraded) this.logger.warn('Redis is back: rate limits are shared again');
      this.degraded = false;
    });
    this.redis.defineCommand('airgateGcra', { numberOfKeys: 1, lua: SCRIPT });
  }

  private fallBack(why: string): void {
    if (!this.degraded) this.logger.warn({ reason: why }, 'Redis unreachable: rate limits fall back to this instance’s own counters');
    this.degraded = true;
  }

  async take(key: string, now: number, emissionMs: number, burst: number): Promise<Result> {
    if (this.redis.status !== 'ready') {
      this.fallBack(`Redis ${this.redis.status}`);
      return this.local.take(key, now, emissionMs, burst);
    }
    try {
      const call = (this.redis as unknown as { airgateGcra(k: string, a: number, b: number, c: number): Promise<number[]> }).airgateGcra(this.prefix + key, now, emissionMs, burst);
      const r = await Promise.race([call, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('Redis took longer than 50 ms')), 50).unref())]);
      return { allowed: r[0] === 1, remaining: Number(r[1]), retryAfterMs: Number(r[2]), resetMs: Number(r[3]) };
    } catch (err) {
      this.fallBack((err as Error).message);
      return this.local.take(key, now, emissionMs, burst);
    }
  }

  close(): void {
    this.redis.disconnect();
  }
}
