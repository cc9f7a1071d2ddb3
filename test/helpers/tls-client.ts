import { connect, type ConnectionOptions, type PeerCertificate } from 'node:tls';

/** What a TLS client saw of the server during the handshake. */
export interface Handshake {
  subjectaltname: string;
  fingerprint256: string;
  serialNumber: string;
  protocol: string | null;
  alpnProtocol: string | false;
}

/**
 * Open a new TLS connection to 127.0.0.1:`port`, complete the handshake, report what the server
 * presented and close. Rejects with the handshake error (its `code` tells which side refused).
 */
export function handshake(port: number, opts: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...opts }, () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      const result: Handshake = { subjectaltname: cert.subjectaltname ?? '', fingerprint256: cert.fingerprint256, serialNumber: cert.serialNumber, protocol: socket.getProtocol(), alpnProtocol: socket.alpnProtocol ?? false };
      socket.end();
      socket.destroy();
      resolve(result);
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}

/**
 * Poll an asynchronous observation until it holds (each poll is a fresh observation, e.g. a new
 * TLS connection); fail after `timeoutMs`. The short pause between polls only paces the loop.
 */
export async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
