import { Redis } from 'ioredis';

/**
 * The one way the gateway opens a Redis connection (session store, rate limits, the bus): fail
 * fast instead of queueing while Redis is away (the request path never waits for Redis), retry
 * the connection with a short capped backoff. `subscriber`: a connection that subscribes, whose
 * commands may wait for the connection.
 */
export function redisClient(url: string, role: 'commands' | 'subscriber'): Redis {
  return new Redis(url, { enableOfflineQueue: role === 'subscriber', maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: (n: number) => Math.min(n * 200, 2000) });
}
