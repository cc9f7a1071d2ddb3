import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throw-away CA and certificates signed by it, made with the openssl CLI in a temp dir. */
export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'airgate-pki-'));
  readonly caCert: string;
  readonly caKey: string;

  constructor() {
    this.caKey = join(this.dir, 'ca.key');
    this.caCert = join(this.dir, 'ca.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', this.caKey, '-out', this.caCert, '-days', '2', '-subj', '/CN=airgate test CA'], { stdio: 'ignore' });
  }

  /** A leaf certificate for the given DNS names (and IP 127.0.0.1); returns the file paths. */
  issue(name: string, dnsNames: string[], opts: { days?: number; clientAuth?: boolean } = {}): { cert: string; key: string } {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.pem`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, `subjectAltName=${[...dnsNames.map((d) => `DNS:${d}`), 'IP:127.0.0.1'].join(',')}\nextendedKeyUsage=${opts.clientAuth ? 'clientAuth' : 'serverAuth'}\n`);
    execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${dnsNames[0] ?? name}`], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', this.caCert, '-CAkey', this.caKey, '-CAcreateserial', '-out', cert, '-days', String(opts.days ?? 1), '-extfile', ext], { stdio: 'ignore' });
    return { cert, key };
  }

  read(file: string): string {
    return readFileSync(file, 'utf8');
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
