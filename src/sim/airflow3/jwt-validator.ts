import { createHmac, timingSafeEqual } from 'node:crypto';
import { compactVerify, importJWK, type JWK } from 'jose';
import type { TrustedJwks } from './trusted-jwks.js';

/**
 * Airflow 3's `JWTValidator` (airflow-core/src/airflow/api_fastapi/auth/tokens.py): the token is
 * checked with `[api_auth] jwt_secret` (HS512) or, when a JWKS is configured, with the key its
 * `kid` names (a token without `kid` is an InvalidTokenError; a kid the JWKS does not hold raises
 * KeyError, which FastAPI answers with 500). Then PyJWT's `decode` (jwt/api_jwt.py) with
 * `options={"require": ["exp", "iat", "nbf"]}`, the audience always, the issuer only when
 * `jwt_issuer` is set, and `jwt_leeway` (10 s). Only `exp` has its own error (ExpiredSignatureError).
 */
export type Validation = { ok: true; claims: Record<string, unknown> } | { ok: false; kind: 'expired' | 'invalid' | 'unknown-kid'; message: string };

export interface ValidatorOptions {
  secret?: string | undefined;
  jwks?: TrustedJwks | undefined;
  audience: string;
  issuer?: string | undefined;
  /** `[api_auth] jwt_algorithm`: must be given with a JWKS (no GUESS), HS512 with a secret. */
  algorithms: readonly string[];
  leewayS?: number;
  now?: () => number;
}

const REQUIRED = ['exp', 'iat', 'nbf'] as const;

export class JwtValidator {
  constructor(private readonly o: ValidatorOptions) {}

  async validate(token: string): Promise<Validation> {
    const parts = token.split('.');
    if (parts.length !== 3) return invalid('Not enough segments');
    let header: { alg?: string; kid?: unknown };
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as typeof header;
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as Record<string, unknown>;
    } catch {
      return invalid('Invalid header or payload padding');
    }
    if (!header.alg || !this.o.algorithms.includes(header.alg)) return invalid('The specified alg value is not allowed');
    if (this.o.jwks) {
      if (typeof header.kid !== 'string') return invalid("Missing 'kid' in token header");
      const jwk = await this.o.jwks.key(header.kid);
      if (!jwk) return { ok: false, kind: 'unknown-kid', message: `Key ID ${header.kid} not found in keyset` };
      try {
        await compactVerify(token, await importJWK(jwk as JWK, header.alg), { algorithms: [...this.o.algorithms] });
      } catch {
        return invalid('Signature verification failed');
      }
    } else {
      const expected = createHmac('sha512', this.o.secret ?? '')
        .update(`${parts[0]}.${parts[1]}`)
        .digest();
      const given = Buffer.from(parts[2]!, 'base64url');
      if (header.alg !== 'HS512' || given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid('Signature verification failed');
    }
    return this.claims(claims);
  }

  /** PyJWT's claim checks, in its order: required, iat, nbf, exp, iss (when set), aud. */
  private claims(c: Record<string, unknown>): Validation {
    const now = (this.o.now ?? Date.now)() / 1000;
    const leeway = this.o.leewayS ?? 10;
    for (const r of REQUIRED) if (c[r] === undefined) return invalid(`Token is missing the "${r}" claim`);
    for (const r of REQUIRED) if (typeof c[r] !== 'number') return invalid(`${r} must be a number`);
    if ((c.iat as number) > now + leeway) return invalid('The token is not yet valid (iat)');
    if ((c.nbf as number) > now + leeway) return invalid('The token is not yet valid (nbf)');
    if ((c.exp as number) <= now - leeway) return { ok: false, kind: 'expired', message: 'Signature has expired' };
    if (this.o.issuer !== undefined && c.iss !== this.o.issuer) return invalid('Invalid issuer');
    const aud = c.aud;
    if (aud === undefined) return invalid('Token is missing the "aud" claim');
    const auds = Array.isArray(aud) ? aud : [aud];
    if (!auds.includes(this.o.audience)) return invalid("Audience doesn't match");
    return { ok: true, claims: c };
  }
}

function invalid(message: string): Validation {
  return { ok: false, kind: 'invalid', message };
}
