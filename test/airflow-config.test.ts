import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { AssertionSigner } from '../src/auth/assertion.js';

const CONFIG_DIR = dirname(fileURLToPath(new URL('../../airflow/webserver_config.py', import.meta.url)));

/** Run Debian's python3 (with python3-jwt) against airflow/webserver_config.py. */
function verifyInPython(token: string, jwks: unknown, audience: string): Promise<{ ok: boolean; out: string }> {
  const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(CONFIG_DIR)})
import webserver_config as w
try:
    claims = w.verify_assertion(sys.argv[1], json.loads(sys.argv[2]), audience=[sys.argv[3]])
    print(json.dumps({"ok": True, "sub": claims["sub"], "role": w.role_from_claims(claims), "email": claims.get("email")}))
except Exception as e:
    print(json.dumps({"ok": False, "error": type(e).__name__ + ": " + str(e)}))
`;
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', ['-c', script, token, JSON.stringify(jwks), audience], (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      const parsed = JSON.parse(stdout) as { ok: boolean };
      resolve({ ok: parsed.ok, out: stdout.trim() });
    });
  });
}

test('the Airflow half verifies airgate’s assertion with PyJWT and takes the role from it', async () => {
  const signer = await AssertionSigner.create([], 60_000, 'airgate');
  const identity = { sub: 'alice', user: 'alice', email: 'alice@example.com', groups: ['airflow-admins'], role: 'Admin', method: 'oidc' as const, sid: 's1' };
  const token = await signer.assertion(identity, '*/', Date.now());
  const good = await verifyInPython(token, signer.jwks(), '*/');
  assert.deepEqual(JSON.parse(good.out), { ok: true, sub: 'alice', role: 'Admin', email: 'alice@example.com' });

  const otherRoute = await verifyInPython(token, signer.jwks(), 'other-route');
  assert.equal(otherRoute.ok, false, 'another audience is refused');
  assert.match(otherRoute.out, /InvalidAudienceError/);

  const [h, p, sig] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const forgedPayload = Buffer.from(JSON.stringify({ ...claims, roles: ['Admin'], sub: 'mallory' })).toString('base64url');
  const forged = await verifyInPython(`${h}.${forgedPayload}.${sig}`, signer.jwks(), '*/');
  assert.equal(forged.ok, false, 'a changed payload is refused');
  assert.match(forged.out, /InvalidSignatureError/);

  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = signer.jwks().keys[0]!.kid!;
  const foreign = await new SignJWT({ roles: ['Admin'] }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('airgate').setAudience('*/').setSubject('mallory').setIssuedAt().setExpirationTime('1m').sign(privateKey);
  const foreignResult = await verifyInPython(foreign, signer.jwks(), '*/');
  assert.equal(foreignResult.ok, false, 'a token signed by another key is refused');

  const expired = await new SignJWT({ roles: ['Admin'] }).setProtectedHeader({ alg: 'ES256', kid: 'x' }).setIssuer('airgate').setAudience('*/').setSubject('a').setIssuedAt(1).setExpirationTime(2).sign(privateKey);
  const expiredJwks = { keys: [{ ...(await exportJWK(privateKey)), d: undefined, kid: 'x', alg: 'ES256', use: 'sig' }] };
  const old = await verifyInPython(expired, JSON.parse(JSON.stringify(expiredJwks)), '*/');
  assert.equal(old.ok, false, 'an expired assertion is refused');
  assert.match(old.out, /ExpiredSignatureError/);
});
