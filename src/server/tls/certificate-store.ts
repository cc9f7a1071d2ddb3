import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { ListenerConfig } from '../../config/schema.js';
import type { Logger } from '../../observability/logger.js';
import type { AcmeManager } from './acme-manager.js';
import { acmeChallenges } from './acme-challenges.js';

const REFUSED = 'new TLS certificate refused; the previous one stays in service';

interface Loaded {
  names: string[];
  context: SecureContext;
  notAfter: Date;
  file: string;
  pem: { cert: string; key: string };
  source: 'file' | 'acme';
}

/**
 * The certificates of one TLS listener: loaded from their files, indexed by the DNS names in
 * their SAN (exact names, then `*.suffix` wildcards), and chosen per connection by SNI; the first
 * certificate is the default. `reload()` reads the files again and swaps only if every
 * certificate loads and matches its key — otherwise the old set stays in service and the reason
 * is logged. Open connections never notice: a context is only used at the handshake. With
 * `tls.acme`, an AcmeManager supplies the certificate (installIssued) and renews it; until the
 * first one arrives the listener has none and handshakes fail. A TLS-ALPN-01 handshake gets the
 * challenge certificate.
 */
export class CertificateStore {
  private exact = new Map<string, SecureContext>();
  private wildcard = new Map<string, SecureContext>();
  private fallback: SecureContext | undefined;
  private loaded: Loaded[] = [];
  /** The certificate an ACME manager obtained (kept across file reloads). */
  private issued: Loaded[] = [];
  /** With `tls.acme`: obtains and renews the certificate; until it has one, handshakes fail. */
  acme: AcmeManager | undefined;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private tls: NonNullable<ListenerConfig['tls']>;
  private readonly logger: Logger;
  private readonly listener: string;
  /** Called after a new set is installed (the server rebuilds its context for clients without SNI). */
  onChange: (() => void) | undefined;

  constructor(listener: string, tls: NonNullable<ListenerConfig['tls']>, logger: Logger) {
    this.listener = listener;
    this.tls = tls;
    this.logger = logger;
    this.install(this.load(tls)); // throws at startup: a listener without its certificates must not start
    if (tls.watch) this.watch();
    this.startAcme(tls);
  }

  private closed = false;

  /** acme-client (and its HTTP stack) is loaded only when a listener uses ACME: it adds seconds to a cold start otherwise. */
  private startAcme(tls: NonNullable<ListenerConfig['tls']>): void {
    const acme = tls.acme;
    if (!acme) return;
    void import('./acme-manager.js').then(({ AcmeManager }) => {
      if (this.closed || this.tls.acme !== acme) return;
      this.acme = new AcmeManager(this.listener, acme, this.logger, (pem) => this.installIssued(pem));
      this.acme.start();
    });
  }

  /** Install a certificate the ACME manager obtained or loaded; false (old one kept) when it does not load. */
  installIssued(pem: { cert: string; key: string }): boolean {
    try {
      const next = parsePair({ certPem: pem.cert, keyPem: pem.key }, `ACME certificate for ${this.tls.acme?.domains[0] ?? this.listener}`, this.tls, 'acme');
      this.issued = [next];
      this.install([...this.loaded.filter((c) => c.source === 'file'), next]);
      return true;
    } catch (err) {
      this.logger.error({ listener: this.listener, reason: (err as Error).message }, REFUSED);
      return false;
    }
  }

  /** Node's SNICallback. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, (servername && acmeChallenges.alpnContext(servername)) || this.contextFor(servername));
  };

  contextFor(servername: string | undefined): SecureContext | undefined {
    if (!servername) return this.fallback;
    const name = servername.toLowerCase();
    const exact = this.exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return (dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined) ?? this.fallback;
  }

  /** The default context (first certificate), for the server's own options. */
  get defaultContext(): SecureContext | undefined {
    return this.fallback;
  }

  /**
   * The default certificate and key as PEM. Node's TLS server ignores a `secureContext` option and
   * calls SNICallback only when the client sends a name, so clients without SNI (an IP address in
   * the URL) are served from the server's own `cert`/`key` options, kept in step through `onChange`.
   */
  get defaultPem(): { cert: string; key: string } | undefined {
    return this.loaded[0]?.pem;
  }

  /** Certificates in service with their names and expiry (status pages, metrics); `name` is the first DNS name, else the file. */
  get certificates(): { file: string; name: string; names: string[]; notAfter: Date; source: 'file' | 'acme' }[] {
    return this.loaded.map(({ file, names, notAfter, source }) => ({ file, name: names[0] ?? file, names, notAfter, source }));
  }

  private load(tls: NonNullable<ListenerConfig['tls']>): Loaded[] {
    return tls.certificates.map(({ cert, key }) => {
      let certPem: string;
      let keyPem: string;
      try {
        certPem = readFileSync(cert, 'utf8');
      } catch (err) {
        throw new Error(`cannot read certificate ${cert}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
      }
      try {
        keyPem = readFileSync(key, 'utf8');
      } catch (err) {
        throw new Error(`cannot read key ${key}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
      }
      return parsePair({ certPem, keyPem }, cert, tls, 'file', key);
    });
  }

  private install(set: Loaded[]): void {
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    for (const c of set) {
      for (const n of c.names) {
        if (n.startsWith('*.')) wildcard.has(n.slice(2)) || wildcard.set(n.slice(2), c.context);
        else exact.has(n) || exact.set(n, c.context);
      }
    }
    this.exact = exact;
    this.wildcard = wildcard;
    this.fallback = set[0]?.context;
    this.loaded = set;
    this.onChange?.();
  }

  /** Read the files again (optionally with a new config); keep the old set on any error. */
  reload(tls: NonNullable<ListenerConfig['tls']> = this.tls): boolean {
    try {
      const set = [...this.load(tls), ...this.issued];
      this.install(set);
      if (JSON.stringify(tls.acme) !== JSON.stringify(this.tls.acme)) {
        void this.acme?.close();
        this.acme = undefined;
        this.issued = [];
        this.tls = tls;
        this.startAcme(tls);
      }
      this.tls = tls;
      this.logger.info({ listener: this.listener, certificates: set.map((c) => ({ file: c.file, names: c.names, notAfter: c.notAfter.toISOString() })) }, 'TLS certificates loaded');
      return true;
    } catch (err) {
      this.logger.error({ listener: this.listener, reason: (err as Error).message }, REFUSED);
      return false;
    }
  }

  private watch(): void {
    const files = new Set(this.tls.certificates.flatMap((c) => [c.cert, c.key]));
    for (const f of files) {
      try {
        // Files are often replaced (rename) rather than written: debounce and re-read everything.
        const w = watch(f, { persistent: false }, () => this.scheduleReload());
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch {
        /* a file that cannot be watched is still reloaded on SIGHUP */
      }
    }
  }

  private scheduleReload(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.reload();
      // A replaced file is a new inode: watch the new one.
      for (const w of this.watchers.splice(0)) w.close();
      this.watch();
    }, 100);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    void this.acme?.close();
    clearTimeout(this.timer);
    for (const w of this.watchers.splice(0)) w.close();
  }
}

/** Check a PEM pair (parses, matches its key, not expired) and index its SAN names. */
function parsePair({ certPem, keyPem }: { certPem: string; keyPem: string }, label: string, tls: NonNullable<ListenerConfig['tls']>, source: 'file' | 'acme', keyLabel = 'its key'): Loaded {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${label} is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let context: SecureContext;
  try {
    context = createSecureContext({ cert: certPem, key: keyPem, minVersion: tls.min_version, ciphers: tls.ciphers, honorCipherOrder: true });
  } catch (err) {
    throw new Error(`${label} with ${keyLabel}: ${(err as Error).message}`, { cause: err });
  }
  const names = (x509.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  const notAfter = new Date(x509.validTo);
  if (notAfter.getTime() < Date.now()) throw new Error(`${label} expired on ${notAfter.toISOString()}`);
  return { names, context, notAfter, file: label, pem: { cert: certPem, key: keyPem }, source };
}
