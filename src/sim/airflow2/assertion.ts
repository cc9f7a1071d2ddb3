import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

/** The headers airgate sends and airflow/airgate_identity.py reads (ASSERTION_HEADER, USER_HEADER). */
export const ASSERTION_HEADER = 'x-airgate-assertion';
export const ENCODING_HEADER = 'x-auth-encoding';

/** What airflow/airgate_airflow/settings.py reads from AIRGATE_* for the Airflow 2 components. */
export interface AirgateSettings {
  /** AIRGATE_JWKS_URL, e.g. http://airgate/_airgate/jwks.json */
  jwksUrl: string;
  /** AIRGATE_AUDIENCE (Airflow 2 default: airgate's route name for any host and path /). */
  audience?: readonly string[];
  /** AIRGATE_ISSUER (default `airgate`). */
  issuer?: string;
  /** AIRGATE_USER_CLAIM (default `sub`): must equal the decoded X-Auth-User. */
  userClaim?: string;
}

/** C0 controls, DEL and C1 controls (airflow/airgate_airflow/headers.py has_control_characters). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const NOT_PRINTABLE_ASCII = /[^\u0020-\u007e]/;

/**
 * One identity header value as airflow/airgate_airflow/headers.py `decode_identity_value` reads
 * it: with `X-Auth-Encoding: percent` the value is percent-encoded UTF-8, else it is printable
 * ASCII without `%`. A value breaking the rule, or holding a control character, is absent.
 */
export function decodeIdentityValue(value: string | undefined, encoding: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let text: string;
  if ((encoding ?? '').trim().toLowerCase() === 'percent') {
    if (NOT_PRINTABLE_ASCII.test(value)) return undefined;
    try {
      text = decodeURIComponent(value);
    } catch {
      return undefined;
    }
  } else {
    if (value.includes('%') || NOT_PRINTABLE_ASCII.test(value)) return undefined;
    text = value;
  }
  return CONTROL.test(text) ? undefined : text;
}

export interface RequestIdentity {
  claims: JWTPayload | undefined;
  headerUser: string | undefined;
  /** Why an assertion (or a user header) that came cannot be trusted. */
  error: string | undefined;
}

/**
 * A header as WSGI hands it to Flask under gunicorn before 22: `X_Auth_User`, `X-Auth_User` and
 * `X-Auth-User` all become `HTTP_X_AUTH_USER`, several values joined with `,`
 * (gunicorn/http/message.py; 22.0 drops names with `_`). Undefined when absent.
 */
export function environHeader(req: IncomingMessage, name: string): string | undefined {
  const want = name.toLowerCase();
  const values: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase().replace(/_/g, '-') === want) values.push(req.rawHeaders[i + 1]!);
  return values.length ? values.join(',') : undefined;
}

/**
 * Verifies `X-Airgate-Assertion` as airflow/airgate_airflow/verify.py `Verifier` does: ES256 with
 * a `kid` from airgate's JWKS, issuer, audience, `exp`/`iat`/`sub` required, 10 s leeway. Every
 * failure (an unknown key id, an unreachable JWKS included) is an error value, never a throw:
 * the Python side catches `jwt.PyJWTError`, so Airflow answers 401, not 500.
 */
export class AirgateVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly audience: string[];
  readonly issuer: string;
  readonly userClaim: string;
  readonly userHeader: string;

  constructor(s: AirgateSettings, userHeader: string) {
    this.jwks = createRemoteJWKSet(new URL(s.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 300_000 });
    this.audience = [...(s.audience ?? ['*/'])];
    this.issuer = s.issuer ?? 'airgate';
    this.userClaim = s.userClaim ?? 'sub';
    this.userHeader = userHeader.toLowerCase();
  }

  /** airgate_identity.request_identity: the verified claims, the decoded user header, or why not. */
  async identify(req: IncomingMessage): Promise<RequestIdentity> {
    const token = environHeader(req, ASSERTION_HEADER);
    const rawUser = environHeader(req, this.userHeader);
    const headerUser = decodeIdentityValue(rawUser, environHeader(req, ENCODING_HEADER));
    if (!token) return { claims: undefined, headerUser, error: rawUser !== undefined ? 'X-Auth-User came without X-Airgate-Assertion' : undefined };
    try {
      const { payload } = await jwtVerify(token, this.jwks, { algorithms: ['ES256'], issuer: this.issuer, audience: this.audience, clockTolerance: 10, requiredClaims: ['exp', 'iat', 'sub', this.userClaim] });
      return { claims: payload, headerUser, error: undefined };
    } catch (err) {
      return { claims: undefined, headerUser, error: `${(err as Error).name}: ${(err as Error).message}` };
    }
  }

  /** The Airflow role airgate decided (airgate_identity.role_from_claims). */
  static role(claims: JWTPayload): string | undefined {
    let role = claims.role;
    if (role === undefined && Array.isArray(claims.roles) && claims.roles.length > 0) role = claims.roles[0];
    if (typeof role !== 'string' || !role.trim()) return undefined;
    const standard: Record<string, string> = { admin: 'Admin', op: 'Op', user: 'User', viewer: 'Viewer', public: 'Public' };
    return standard[role.trim().toLowerCase()] ?? role.trim();
  }
}
