import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { ListenerConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { CertificateStore } from './tls/certificate-store.js';
import { enableAlpnChallenges } from './tls/acme-challenges.js';

/** The node server behind a listener: plain HTTP/1.1, HTTPS, or HTTP/2 with HTTP/1.1 on the same port. */
export type NodeServer = HttpServer | Http2SecureServer;

export interface BuiltServer {
  server: NodeServer;
  certs: CertificateStore | undefined;
  /** Open HTTP/2 sessions (graceful GOAWAY on stop). */
  sessions: Set<ServerHttp2Session>;
  /** Open TLS sockets (HTTPS and HTTP/2 listeners, whose servers do not track connections). */
  sockets: Set<Socket>;
}

export function buildServer(config: ListenerConfig, logger: Logger): BuiltServer {
  const t = config.timeouts;
  const httpOptions = {
    maxHeaderSize: config.max_header_bytes,
    headersTimeout: t.client_header,
    requestTimeout: 0, // uploads may take long; the header deadline guards against slowloris
    keepAliveTimeout: t.keep_alive,
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(t.client_header / 4))),
    requireHostHeader: false, // checked by the listener so the 400 is ours, with a request id
  };
  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<Socket>();
  if (!config.tls) return { server: createHttpServer(httpOptions), certs: undefined, sessions, sockets };
  const certs = new CertificateStore(config.name, config.tls, logger);
  const contextOptions = { minVersion: config.tls.min_version, ciphers: config.tls.ciphers, honorCipherOrder: true };
  // The default certificate goes in the server's own options: clients that send no SNI name never reach SNICallback.
  // A client that never sends (or never finishes) its ClientHello is cut after tls_handshake.
  const tlsOptions = { SNICallback: certs.sniCallback, handshakeTimeout: t.tls_handshake, ...contextOptions, ...certs.defaultPem };
  let server: NodeServer;
  if (config.http2) {
    const h2 = createSecureServer({ ...tlsOptions, allowHTTP1: true, maxSessionMemory: 32, settings: { maxConcurrentStreams: 256 } });
    h2.on('session', (s: ServerHttp2Session) => {
      sessions.add(s);
      closeWhenIdle(s, t.http2_idle);
      s.once('close', () => sessions.delete(s));
    });
    // HTTP/1.1 on the same port goes through node's HTTP/1 machinery, which reads these from the server.
    Object.assign(h2, { headersTimeout: httpOptions.headersTimeout, requestTimeout: 0, keepAliveTimeout: httpOptions.keepAliveTimeout, maxHeaderSize: httpOptions.maxHeaderSize });
    server = h2;
  } else {
    server = createHttpsServer({ ...tlsOptions, ...httpOptions });
  }
  if (config.tls.acme?.challenge === 'tls-alpn-01') enableAlpnChallenges(server, config.http2 ? ['h2', 'http/1.1'] : ['http/1.1']);
  certs.onChange = () => (server as unknown as TlsServer).setSecureContext({ ...contextOptions, ...certs.defaultPem });
  // A handshake that times out (tls_handshake) or fails is reported here; the socket must be closed by us.
  server.on('tlsClientError', (_err: Error, s: Socket) => s.destroy());
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return { server, certs, sessions, sockets };
}

/** An HTTP/2 session with no open stream for `idleMs` is closed (GOAWAY, then the socket): idle sessions cannot pile up. */
function closeWhenIdle(session: ServerHttp2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => session.close(), idleMs);
    timer.unref();
  };
  session.on('stream', (stream: import('node:http2').ServerHttp2Stream) => {
    open++;
    clearTimeout(timer);
    stream.once('close', () => {
      if (--open === 0 && !session.closed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
  arm();
}
