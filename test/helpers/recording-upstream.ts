import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

/** One request as the upstream received it. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/**
 * A plain upstream that records every request it receives and answers 200 (or what `answer`
 * says): the witness for "nothing refused reached Airflow". Not the simulated Airflow: it has no
 * opinions of its own.
 */
export async function recordingUpstream(answer?: (s: Seen) => { status: number; headers?: Record<string, string>; body?: string }): Promise<{ url: string; seen: Seen[]; close: () => Promise<void>; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
      seen.push(s);
      const a = answer?.(s) ?? { status: 200, body: `ok ${createHash('sha256').update(s.body).digest('hex').slice(0, 12)}` };
      res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
      res.end(a.body ?? '');
    });
  });
  server.on('upgrade', (req, socket) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) });
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    server,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A bearer-token issuer: its JWKS over HTTP and a signer (ES256, kid m1). */
export async function tokenIssuer(issuer = 'https://ci.example/issuer'): Promise<{ issuer: string; jwksUrl: string; sign: (claims: JWTPayload, opts?: { exp?: boolean; typ?: string }) => Promise<string>; close: () => Promise<void> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = { ...(await exportJWK(publicKey)), kid: 'm1', alg: 'ES256', use: 'sig' };
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [pub] })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    issuer,
    jwksUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks`,
    sign: (claims, opts = {}) => {
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'm1', ...(opts.typ ? { typ: opts.typ } : {}) })
        .setIssuer(issuer)
        .setIssuedAt();
      if (opts.exp !== false) jwt.setExpirationTime('5m');
      return jwt.sign(privateKey);
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
