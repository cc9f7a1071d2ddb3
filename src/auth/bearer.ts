import { createHash } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { AirgateConfig } from '../config/schema.js';
import { mapRole, stringList, type Identity } from './identity.js';

type Issuer = AirgateConfig['auth'] extends infer A ? (A extends { bearer: (infer I)[] } ? I : never) : never;

/**
 * Bearer JWTs from configured issuers (service accounts, client-credentials tokens): signature
 * from the issuer's JWKS (cached, refreshed on key rollover by jose), issuer, audience allow-list,
 * expiry with clock-skew tolerance.
 */
export class BearerVerifier {
  private readonly issuers: { cfg: Issuer; jwks: ReturnType<typeof createRemoteJWKSet> }[];
  private readonly auth: NonNullable<AirgateConfig['auth']>;

  constructor(auth: NonNullable<AirgateConfig['auth']>) {
    this.auth = auth;
    this.issuers = auth.bearer.map((cfg) => ({ cfg, jwks: createRemoteJWKSet(new URL(cfg.jwks_url), { cooldownDuration: 30_000, cacheMaxAge: 600_000 }) }));
  }

  /** The identity a token proves, or a reason it proves nothing. */
  async verify(token: string): Promise<{ identity: Identity } | { error: string }> {
    let iss: unknown;
    try {
      iss = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { iss?: unknown }).iss;
    } catch {
      return { error: 'the bearer token is not a JWT' };
    }
    const issuer = this.issuers.find((i) => i.cfg.issuer === iss);
    if (!issuer) return { error: 'the bearer token comes from an issuer this gateway does not trust' };
    try {
      const { payload, protectedHeader } = await jwtVerify(token, issuer.jwks, { issuer: issuer.cfg.issuer, audience: issuer.cfg.audiences, clockTolerance: 60, requiredClaims: ['exp'] });
      const typ = typeof protectedHeader.typ === 'string' ? protectedHeader.typ.toLowerCase() : undefined;
      if (typ !== undefined && !issuer.cfg.token_types.includes(typ)) return { error: `the bearer token's type "${protectedHeader.typ}" is not an access token type this gateway accepts` };
      if (payload.nonce !== undefined || payload.at_hash !== undefined || payload.c_hash !== undefined) return { error: 'the bearer token is an ID token, not an access token' };
      const user = String(payload[issuer.cfg.username_claim] ?? payload.sub ?? '');
      const groups = stringList(payload[issuer.cfg.groups_claim]);
      const email = typeof payload.email === 'string' ? payload.email : undefined;
      return {
        identity: {
          sub: String(payload.sub ?? user),
          user,
          email,
          groups,
          role: mapRole(this.auth.roles, this.auth.default_role, { user, email, groups, claims: payload }),
          method: 'bearer',
          sid: `bearer:${createHash('sha256').update(token).digest('base64url').slice(0, 22)}`,
          claims: payload,
        },
      };
    } catch (err) {
      return { error: `the bearer token was refused: ${(err as { code?: string }).code ?? (err as Error).message}` };
    }
  }
}
