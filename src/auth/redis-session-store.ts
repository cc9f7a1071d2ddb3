import type { Redis } from 'ioredis';
import { redisClient } from '../store/redis-client.js';
import type { Logger } from '../observability/logger.js';
import type { SessionStore, SessionTokens } from './session-store.js';

const P = 'airgate:session:';

/**
 * Sessions shared by every instance through Redis (`store: { type: redis }`): tokens per session
 * id, indexes by subject and IdP session id (so a back-channel logout received by one instance
 * finds sessions created by another), and revocations published to every instance, which keeps
 * them in memory so the per-request check never waits for Redis. While Redis is unreachable the
 * instance works on what it knows locally and says so in the logs.
 */
export class RedisSessionStore implements SessionStore {
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly revoked = new Map<string, number>();
  private readonly local = new Map<string, SessionTokens>();
  private readonly logger: Logger;

  constructor(url: string, logger: Logger) {
    this.logger = logger;
    this.redis = redisClient(url, 'commands');
    this.subscriber = redisClient(url, 'subscriber');
    this.redis.on('error', () => undefined);
    this.subscriber.on('error', () => undefined);
    void this.subscriber.subscribe(`${P}revoked`).catch(() => undefined);
    this.subscriber.on('message', (_channel: string, message: string) => {
      const [sid, until] = message.split(' ');
      if (sid) this.revoked.set(sid, Number(until) || Date.now() + 86_400_000);
    });
  }

  get ready(): boolean {
    return this.redis.status === 'ready' && this.subscriber.status === 'ready';
  }

  async get(sid: string): Promise<SessionTokens | undefined> {
    const local = this.local.get(sid);
    if (local) return local;
    try {
      const raw = await this.redis.get(`${P}${sid}`);
      if (!raw) return undefined;
      const t = JSON.parse(raw) as SessionTokens;
      this.local.set(sid, t);
      return t;
    } catch {
      return undefined;
    }
  }

  known(sid: string): SessionTokens | null {
    return this.local.get(sid) ?? null;
  }

  async set(sid: string, tokens: SessionTokens, ttlMs: number): Promise<void> {
    this.local.set(sid, tokens);
    try {
      const { refreshing: _r, ...plain } = tokens;
      await this.redis.multi().set(`${P}${sid}`, JSON.stringify(plain), 'PX', ttlMs).sadd(`${P}sub:${tokens.sub}`, sid).pexpire(`${P}sub:${tokens.sub}`, ttlMs).exec();
      if (tokens.idpSid) await this.redis.multi().sadd(`${P}idp:${tokens.idpSid}`, sid).pexpire(`${P}idp:${tokens.idpSid}`, ttlMs).exec();
    } catch (err) {
      this.logger.warn({ reason: (err as Error).message }, 'Redis unreachable: this session is known to this instance only');
    }
  }

  isRevoked(sid: string): boolean {
    return this.revoked.has(sid);
  }

  async revoke(match: { sid?: string | undefined; idpSid?: string | undefined; sub?: string | undefined }, maxAgeMs: number): Promise<number> {
    const until = Date.now() + maxAgeMs;
    const sids = new Set<string>();
    if (match.sid) sids.add(match.sid);
    try {
      if (match.idpSid) for (const s of await this.redis.smembers(`${P}idp:${match.idpSid}`)) sids.add(s);
      else if (match.sub) for (const s of await this.redis.smembers(`${P}sub:${match.sub}`)) sids.add(s);
      for (const sid of sids) {
        this.revoked.set(sid, until);
        this.local.delete(sid);
        await this.redis.multi().del(`${P}${sid}`).publish(`${P}revoked`, `${sid} ${until}`).exec();
      }
    } catch (err) {
      for (const sid of sids) this.revoked.set(sid, until);
      this.logger.warn({ reason: (err as Error).message }, 'Redis unreachable: a logout ended the session on this instance only');
    }
    return sids.size;
  }

  close(): void {
    this.redis.disconnect();
    this.subscriber.disconnect();
  }
}
