import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SecureContext } from 'node:tls';

const PREFIX = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** Where challenges ordered by another worker or instance can be found (the shared ACME storage). */
export type SharedLookup = (token: string) => Promise<string | undefined>;

/**
 * The ACME challenges this process answers. HTTP-01: the key authorization for a token, served by
 * every plain listener at /.well-known/acme-challenge/<token> (local first, then the shared
 * storage, so any instance answers an order another one placed). TLS-ALPN-01: the challenge
 * certificate for a name, presented on a handshake that negotiates `acme-tls/1`.
 */
class AcmeChallenges {
  private readonly http01 = new Map<string, string>();
  private readonly alpn = new Map<string, SecureContext>();
  private readonly lookups = new Set<SharedLookup>();
  /** Set by the ALPN callback, read by the SNI callback of the same handshake (TLS 1.3 selects ALPN first, synchronously). */
  private alpnFor: string | undefined;
  /** Validation requests answered (HTTP-01 with a key authorization, TLS-ALPN-01 handshakes). */
  readonly answered = { http01: 0, tlsAlpn01: 0 };

  addHttp(token: string, keyAuthorization: string): void {
    this.http01.set(token, keyAuthorization);
  }

  removeHttp(token: string): void {
    this.http01.delete(token);
  }

  addLookup(lookup: SharedLookup): () => void {
    this.lookups.add(lookup);
    return () => this.lookups.delete(lookup);
  }

  /** The key authorization for a request path, when it names a token this process knows. */
  answer(path: string): string | undefined {
    return path.startsWith(PREFIX) ? this.http01.get(path.slice(PREFIX.length)) : undefined;
  }

  /**
   * Answer an HTTP-01 validation request; false when `req` is not one (the listener carries on).
   * Unknown tokens get a plain 404, never a route to Airflow.
   */
  respond(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    if (!url.startsWith(PREFIX)) return false;
    const token = url.slice(PREFIX.length);
    const send = (value: string | undefined) => {
      if (value) this.answered.http01++;
      const body = value ?? 'no such ACME challenge\n';
      res.writeHead(value ? 200 : 404, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const local = this.http01.get(token);
    if (local || !TOKEN.test(token) || this.lookups.size === 0) send(local);
    else void this.lookupShared(token).then(send, () => send(undefined));
    return true;
  }

  private async lookupShared(token: string): Promise<string | undefined> {
    for (const lookup of this.lookups) {
      const v = await lookup(token);
      if (v) return v;
    }
    return undefined;
  }

  addAlpn(name: string, context: SecureContext): void {
    this.alpn.set(name.toLowerCase(), context);
  }

  removeAlpn(name: string): void {
    this.alpn.delete(name.toLowerCase());
  }

  /** Node's ALPNCallback for a listener that offers `protocols` (server preference order). */
  alpnCallback(protocols: readonly string[]): (info: { servername: string; protocols: string[] }) => string | undefined {
    return ({ servername, protocols: offered }) => {
      if (offered.includes('acme-tls/1') && servername && this.alpn.has(servername.toLowerCase())) {
        this.alpnFor = servername.toLowerCase();
        return 'acme-tls/1';
      }
      return protocols.find((p) => offered.includes(p));
    };
  }

  /** The challenge context when this handshake negotiated `acme-tls/1` for `servername`. */
  alpnContext(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase();
    if (this.alpnFor !== name) return undefined;
    this.alpnFor = undefined;
    const context = this.alpn.get(name);
    if (context) this.answered.tlsAlpn01++;
    return context;
  }
}

/** One per process: tokens are random, so listeners and orders share it safely. */
export const acmeChallenges = new AcmeChallenges();

/**
 * TLS-ALPN-01 on a listener: replace its fixed ALPN list with a callback that selects `acme-tls/1`
 * for a name with a pending challenge and otherwise what the list would have (server order).
 */
export function enableAlpnChallenges(server: object, protocols: readonly string[]): void {
  Object.assign(server, { ALPNProtocols: undefined, ALPNCallback: acmeChallenges.alpnCallback(protocols) });
}
