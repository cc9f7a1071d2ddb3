import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisClient } from './redis-client.js';
import type { Logger } from '../observability/logger.js';

type Handler = (message: Record<string, unknown>) => void;

/**
 * Events every instance must hear (failed and successful logins, secret-key drift signals),
 * published through Redis. Each instance applies its own events at once and the others' when
 * they arrive, so state converges without a round trip on the request path. While Redis is down
 * each instance works alone.
 */
export class RedisBus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly origin = randomBytes(6).toString('base64url');
  private readonly handlers = new Map<string, Handler[]>();

  constructor(url: string, logger: Logger) {
    this.pub = redisClient(url, 'commands');
    this.sub = redisClient(url, 'subscriber');
    this.pub.on('error', () => undefined);
    this.sub.on('error', () => undefined);
    this.sub.on('message', (channel: string, text: string) => {
      try {
        const m = JSON.parse(text) as { origin: string; body: Record<string, unknown> };
        if (m.origin === this.origin) return;
        for (const h of this.handlers.get(channel) ?? []) h(m.body);
      } catch (err) {
        logger.warn({ channel, reason: (err as Error).message }, 'unreadable message on the Redis bus');
      }
    });
  }

  on(channel: string, handler: Handler): void {
    const full = `airgate:bus:${channel}`;
    if (!this.handlers.has(full)) void this.sub.subscribe(full).catch(() => undefined);
    this.handlers.set(full, [...(this.handlers.get(full) ?? []), handler]);
  }

  publish(channel: string, body: Record<string, unknown>): void {
    if (this.pub.status !== 'ready') return;
    this.pub.publish(`airgate:bus:${channel}`, JSON.stringify({ origin: this.origin, body })).catch(() => undefined);
  }

  get ready(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready';
  }

  close(): void {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
