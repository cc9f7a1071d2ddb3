import { mkdirSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export interface StoredPair {
  cert: string;
  key: string;
}

/**
 * Where ACME state lives, shared by every worker (a directory) or every instance (Redis): the
 * account key, issued certificates, pending HTTP-01 answers, and a lock per certificate so one
 * process orders while the others wait for its result.
 */
export interface AcmeStorage {
  get(item: string): Promise<string | undefined>;
  put(item: string, value: string): Promise<void>;
  /** Take the lock named `name` for `ttlMs`; the release function, or undefined when another holder has it. */
  lock(name: string, ttlMs: number): Promise<(() => Promise<void>) | undefined>;
  putChallenge(token: string, keyAuthorization: string, ttlMs: number): Promise<void>;
  getChallenge(token: string): Promise<string | undefined>;
  removeChallenge(token: string): Promise<void>;
  close(): Promise<void>;
}

const SAFE = /^[A-Za-z0-9._-]+$/;

function safe(item: string): string {
  if (!SAFE.test(item)) throw new Error(`unsafe ACME storage item name ${JSON.stringify(item)}`);
  return item;
}

/** Files in a directory (mode 0700, keys 0600); the lock is a file created exclusively, stale after its ttl. */
export class DirectoryStorage implements AcmeStorage {
  constructor(private readonly dir: string) {
    mkdirSync(join(dir, 'challenges'), { recursive: true, mode: 0o700 });
  }

  async get(item: string): Promise<string | undefined> {
    return fs.readFile(join(this.dir, safe(item)), 'utf8').catch(() => undefined);
  }

  async put(item: string, value: string): Promise<void> {
    const file = join(this.dir, safe(item));
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, value, { mode: 0o600 });
    await fs.rename(tmp, file); // readers see the old or the new file, never half of one
  }

  async lock(name: string, ttlMs: number): Promise<(() => Promise<void>) | undefined> {
    const file = join(this.dir, `${safe(name)}.lock`);
    const mine = randomBytes(8).toString('hex');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.writeFile(file, `${Date.now() + ttlMs} ${mine}`, { flag: 'wx', mode: 0o600 });
        return async () => {
          const held = await fs.readFile(file, 'utf8').catch(() => '');
          if (held.endsWith(mine)) await fs.rm(file, { force: true });
        };
      } catch {
        const held = await fs.readFile(file, 'utf8').catch(() => '');
        if (Number(held.split(' ')[0]) > Date.now()) return undefined;
        await fs.rm(file, { force: true }); // a holder that died: its lock expired
      }
    }
    return undefined;
  }

  async putChallenge(token: string, keyAuthorization: string): Promise<void> {
    await fs.writeFile(join(this.dir, 'challenges', safe(token)), keyAuthorization, { mode: 0o600 });
  }

  getChallenge(token: string): Promise<string | undefined> {
    return fs.readFile(join(this.dir, 'challenges', safe(token)), 'utf8').catch(() => undefined);
  }

  async removeChallenge(token: string): Promise<void> {
    await fs.rm(join(this.dir, 'challenges', safe(token)), { force: true });
  }

  async close(): Promise<void> {}
}

/** Keys under `airgate:acme:` in Redis; the lock is SET NX PX with a token checked on release. */
export class RedisStorage implements AcmeStorage {
  private readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    this.redis.on('error', () => undefined); // failures surface as rejected commands, which the caller logs
  }

  async get(item: string): Promise<string | undefined> {
    return (await this.redis.get(`airgate:acme:${safe(item)}`)) ?? undefined;
  }

  async put(item: string, value: string): Promise<void> {
    await this.redis.set(`airgate:acme:${safe(item)}`, value);
  }

  async lock(name: string, ttlMs: number): Promise<(() => Promise<void>) | undefined> {
    const key = `airgate:acme:lock:${safe(name)}`;
    const mine = randomBytes(8).toString('hex');
    if ((await this.redis.set(key, mine, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
    return async () => {
      await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, key, mine);
    };
  }

  async putChallenge(token: string, keyAuthorization: string, ttlMs: number): Promise<void> {
    await this.redis.set(`airgate:acme:challenge:${safe(token)}`, keyAuthorization, 'PX', ttlMs);
  }

  async getChallenge(token: string): Promise<string | undefined> {
    return (await this.redis.get(`airgate:acme:challenge:${safe(token)}`)) ?? undefined;
  }

  async removeChallenge(token: string): Promise<void> {
    await this.redis.del(`airgate:acme:challenge:${safe(token)}`);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
