import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext } from 'node:tls';
import { X509Certificate as X509 } from 'node:crypto';
import acme from 'acme-client';
import type { z } from 'zod';
import type { acmeSchema } from '../../config/tls-schema.js';
import type { Logger } from '../../observability/logger.js';
import { systemRandom, type Random } from '../../core/clock.js';
import { acmeChallenges } from './acme-challenges.js';
import { DirectoryStorage, RedisStorage, type AcmeStorage, type StoredPair } from './acme-storage.js';

export type AcmeConfig = z.infer<typeof acmeSchema>;

/** How long an order may hold the lock; another process takes over after that. */
const LOCK_TTL = 10 * 60_000;
/** How often a process that found the lock taken looks for the certificate the holder ordered. */
const LOCK_POLL = 1_000;
/** The longest a timer waits before looking again (setTimeout's limit is ~24.8 days). */
const MAX_WAIT = 86_400_000;

/** The manager retries failed orders with its own backoff: the library's retries (5, up to 75 s) are cut to one, after 1 s. */
const settings = (acme.axios.defaults as unknown as { acmeSettings: Record<string, number> }).acmeSettings;
Object.assign(settings, { retryMaxAttempts: 1, retryDefaultDelay: 1 });

/** acme-client talks through one axios instance: a private CA bundle is chosen per directory origin. */
const agents = new Map<string, HttpsAgent>();
acme.axios.interceptors.request.use((config) => {
  const agent = config.url ? agents.get(new URL(config.url).origin) : undefined;
  if (agent) config.httpsAgent = agent;
  return config;
});

/** When a certificate is due: two thirds of its lifetime, minus up to 1/20 of it as jitter so instances spread out. */
export function renewalTime(pem: string, random: Random): number {
  const x = new X509(pem);
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  return from + ((to - from) * 2) / 3 - random() * ((to - from) / 20);
}

/**
 * Obtains and renews one ACME certificate for a listener: at start it serves the stored
 * certificate (or orders one when there is none), then renews at two thirds of the lifetime.
 * One process orders at a time (a lock in the storage); the others pick the result up from the
 * storage. A failure keeps the current certificate, is logged and counted, and is retried with
 * exponential backoff. Emits `installed` (source: ordered | stored) and `failed`.
 */
export class AcmeManager extends EventEmitter {
  readonly renewals = { ok: 0, failed: 0 };
  private readonly storage: AcmeStorage;
  readonly name: string;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failures = 0;
  private current: string | undefined;
  private readonly dropLookup: () => void;
  /** This process's share of the renewal jitter, fixed so "due" and the timer always agree. */
  private readonly jitter: number;

  constructor(
    private readonly listener: string,
    private readonly cfg: AcmeConfig,
    private readonly logger: Logger,
    private readonly install: (pair: StoredPair) => boolean,
    private readonly random: Random = systemRandom,
  ) {
    super();
    this.storage = cfg.redis ? new RedisStorage(cfg.redis) : new DirectoryStorage(cfg.storage);
    this.name = cfg.domains[0].toLowerCase();
    if (cfg.ca) agents.set(new URL(cfg.directory).origin, new HttpsAgent({ ca: readFileSync(cfg.ca, 'utf8'), keepAlive: true }));
    this.dropLookup = acmeChallenges.addLookup((token) => this.storage.getChallenge(token));
    this.jitter = random();
  }

  /** Milliseconds until `cert` is due for renewal (≤ 0: due now). */
  private dueIn(cert: string): number {
    return renewalTime(cert, () => this.jitter) - Date.now();
  }

  start(): void {
    void this.run();
  }

  /** One step: use a stored certificate that is not due, else order (holding the lock), then schedule the next step. */
  private async run(): Promise<void> {
    if (this.closed) return;
    try {
      const stored = await this.loadStored();
      if (stored && this.dueIn(stored.cert) > 0) {
        this.use(stored, 'stored');
        return this.schedule(this.dueIn(stored.cert));
      }
      if (stored) this.use(stored, 'stored'); // due, but still valid: serve it while renewing
      const release = await this.storage.lock(this.name, LOCK_TTL);
      if (!release) return this.schedule(LOCK_POLL); // another process is ordering: pick its result up
      try {
        const again = await this.loadStored();
        if (again && again.cert !== stored?.cert && this.dueIn(again.cert) > 0) {
          this.use(again, 'stored');
          return this.schedule(this.dueIn(again.cert));
        }
        const pair = await this.order();
        await this.storage.put(`${this.name}.key`, pair.key);
        await this.storage.put(`${this.name}.crt`, pair.cert);
        if (!this.install(pair)) throw new Error('the CA issued a certificate that does not load');
        this.current = pair.cert;
        this.renewals.ok++;
        this.failures = 0;
        this.logger.info({ listener: this.listener, domains: this.cfg.domains, notAfter: new X509(pair.cert).validTo }, 'ACME certificate obtained');
        this.emit('installed', pair, 'ordered');
        this.schedule(Math.max(0, this.dueIn(pair.cert)));
      } finally {
        await release().catch(() => undefined);
      }
    } catch (err) {
      this.renewals.failed++;
      this.failures++;
      const delay = Math.min(this.cfg.retry_max, this.cfg.retry_min * 2 ** (this.failures - 1)) * (0.75 + this.random() / 2);
      this.logger.error(
        { listener: this.listener, domains: this.cfg.domains, reason: (err as Error).message, retryInMs: Math.round(delay), serving: this.current ? 'the current certificate' : 'no certificate yet' },
        'ACME order failed; the current certificate stays in service',
      );
      this.emit('failed', err);
      this.schedule(delay);
    }
  }

  private use(pair: StoredPair, source: 'stored'): void {
    if (pair.cert === this.current) return;
    if (!this.install(pair)) throw new Error('the stored certificate does not load');
    this.current = pair.cert;
    this.logger.info({ listener: this.listener, domains: this.cfg.domains, notAfter: new X509(pair.cert).validTo }, 'ACME certificate loaded from storage');
    this.emit('installed', pair, source);
  }

  private async loadStored(): Promise<StoredPair | undefined> {
    const [cert, key] = await Promise.all([this.storage.get(`${this.name}.crt`), this.storage.get(`${this.name}.key`)]);
    if (!cert || !key) return undefined;
    try {
      const x = new X509(cert);
      if (Date.parse(x.validTo) <= Date.now()) return undefined;
      const names = this.cfg.domains.map((d) => d.toLowerCase());
      if (!names.every((n) => x.checkHost(n, { wildcards: false }) === n)) return undefined; // domains changed: order anew
    } catch {
      return undefined;
    }
    return { cert, key };
  }

  private async order(): Promise<StoredPair> {
    let accountKey = await this.storage.get('account.key');
    if (!accountKey) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey()).toString();
      await this.storage.put('account.key', accountKey);
    }
    const client = new acme.Client({
      directoryUrl: this.cfg.directory,
      accountKey,
      externalAccountBinding: this.cfg.eab ? { kid: this.cfg.eab.kid, hmacKey: this.cfg.eab.hmac_key } : undefined,
      // Poll a pending order from 500 ms on (the library's default starts at 5 s).
      backoffMin: 500,
      backoffMax: 10_000,
    });
    const [key, csr] = await acme.crypto.createCsr({ commonName: this.cfg.domains[0], altNames: this.cfg.domains }, await acme.crypto.createPrivateEcdsaKey());
    const contact = this.cfg.contact[0]?.replace(/^mailto:/, '');
    const cert = await client.auto({
      csr,
      email: contact,
      termsOfServiceAgreed: true,
      skipChallengeVerification: true, // the CA validates; a self-check from inside would need the public DNS view
      challengePriority: [this.cfg.challenge],
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type === 'http-01') {
          acmeChallenges.addHttp(challenge.token, keyAuthorization);
          await this.storage.putChallenge(challenge.token, keyAuthorization, LOCK_TTL);
        } else if ((challenge.type as string) === 'tls-alpn-01') {
          const [k, c] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
          acmeChallenges.addAlpn(authz.identifier.value, createSecureContext({ key: k, cert: c }));
        }
      },
      challengeRemoveFn: async (authz, challenge) => {
        if (challenge.type === 'http-01') {
          acmeChallenges.removeHttp(challenge.token);
          await this.storage.removeChallenge(challenge.token);
        } else acmeChallenges.removeAlpn(authz.identifier.value);
      },
    });
    return { cert, key: key.toString() };
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), Math.min(ms, MAX_WAIT));
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.dropLookup();
    await this.storage.close();
  }
}
