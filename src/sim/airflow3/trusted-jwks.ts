import { readFileSync } from 'node:fs';

interface Jwk {
  kid?: string;
  [k: string]: unknown;
}

/**
 * `[api_auth] trusted_jwks_url` (airflow-core/src/airflow/api_fastapi/auth/tokens.py `JWKS`): a
 * file is read once; an http(s) URL is fetched when first needed and again when the last fetch is
 * older than `refresh_interval_secs` (3600) and the last attempt older than 10 s. A failed fetch
 * keeps the keys held. A kid not in the set is not re-fetched for: it is a KeyError.
 */
export class TrustedJwks {
  private keys: Map<string, Jwk> | undefined;
  private fetchedAt = 0;
  private attemptAt = 0;
  /** Fetches made (tests read it to see the hourly refresh). */
  fetches = 0;

  constructor(
    readonly url: string,
    private readonly refreshMs = 3_600_000,
    private readonly now: () => number = Date.now,
  ) {}

  private due(): boolean {
    if (!this.url.startsWith('http')) return this.keys === undefined;
    const t = this.now();
    return this.keys === undefined || (t - this.fetchedAt > this.refreshMs && t - this.attemptAt > 10_000);
  }

  async key(kid: string): Promise<Jwk | undefined> {
    if (this.due()) await this.fetch();
    return this.keys?.get(kid);
  }

  private async fetch(): Promise<void> {
    this.fetches++;
    this.attemptAt = this.now();
    try {
      const data = this.url.startsWith('http') ? ((await (await fetch(this.url)).json()) as { keys: Jwk[] }) : (JSON.parse(readFileSync(this.url, 'utf8')) as { keys: Jwk[] });
      this.keys = new Map(data.keys.filter((k) => typeof k.kid === 'string').map((k) => [k.kid!, k]));
      this.fetchedAt = this.now();
    } catch {
      // "Failed to fetch remote JWKS": keep what is held.
    }
  }
}
