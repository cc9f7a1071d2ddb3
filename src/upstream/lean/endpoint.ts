import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/** How to reach the server: plain TCP or TLS with the backend's options. */
export interface Endpoint {
  url: URL;
  /** The Host header when the request has none (`host:port` of the URL). */
  host: string;
  tls: ConnectionOptions | undefined;
}

/**
 * Open a socket to the endpoint (TCP, or TLS with the backend's CA, client certificate and SNI,
 * offering only http/1.1), with Nagle off; `ready` runs once it can carry a request.
 */
export function openSocket(endpoint: Endpoint, ready: () => void): Socket {
  const host = endpoint.url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(endpoint.url.port) || (endpoint.tls ? 443 : 80);
  let socket: Socket;
  if (endpoint.tls) {
    const servername = endpoint.tls.servername ?? (isIP(host) ? undefined : host);
    socket = tlsConnect({ ...endpoint.tls, host, port, servername, ALPNProtocols: ['http/1.1'] });
    socket.once('secureConnect', ready);
  } else {
    socket = netConnect({ host, port });
    socket.once('connect', ready);
  }
  socket.setNoDelay(true);
  return socket;
}
