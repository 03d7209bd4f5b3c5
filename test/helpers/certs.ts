/** Real certificates for TLS tests, made with openssl in a temporary folder: a CA and leaves it signed. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface KeyPair {
  cert: string;
  key: string;
}

export interface TestCerts {
  ca: KeyPair;
  /** For 127.0.0.1 and localhost, signed by the CA. */
  server: KeyPair;
  /** Signed by the CA, but for another host name. */
  wrongHost: KeyPair;
  /** A client certificate signed by the CA, for mutual TLS. */
  client: KeyPair;
  /** For 127.0.0.1, signed by itself. */
  selfSigned: KeyPair;
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'nexus-certs-'));
  const path = (name: string) => join(dir, name);
  const ca = { cert: path('ca.pem'), key: path('ca.key') };
  openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    '2',
    '-subj',
    '/CN=Nexus Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const leaf = (name: string, subject: string, extensions: string): KeyPair => {
    const pair = { cert: path(`${name}.pem`), key: path(`${name}.key`) };
    writeFileSync(path(`${name}.ext`), extensions);
    openssl(['req', ...EC_KEY, '-keyout', pair.key, '-out', path(`${name}.csr`), '-subj', `/CN=${subject}`]);
    openssl([
      'x509',
      '-req',
      '-in',
      path(`${name}.csr`),
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      pair.cert,
      '-days',
      '2',
      '-extfile',
      path(`${name}.ext`),
    ]);
    return pair;
  };
  const selfSigned = { cert: path('self.pem'), key: path('self.key') };
  openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    selfSigned.key,
    '-out',
    selfSigned.cert,
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return {
    ca,
    server: leaf('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'),
    wrongHost: leaf('wrong', 'wrong.example.test', 'subjectAltName=DNS:wrong.example.test\nextendedKeyUsage=serverAuth\n'),
    client: leaf('client', 'nexus-client', 'extendedKeyUsage=clientAuth\n'),
    selfSigned,
  };
}
