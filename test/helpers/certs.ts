// A throwaway PKI for TLS tests, made with the openssl command: a CA, a server certificate for
// localhost / 127.0.0.1, client certificates, and a second CA that the broker does not trust.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Pki {
  dir: string;
  ca: string;            // file paths (PEM)
  serverCert: string;
  serverKey: string;
  client: { cert: string; key: string };        // CN=tlsuser, SAN DNS:tls-san-user
  otherCa: string;
  otherClient: { cert: string; key: string };   // CN=tlsuser, signed by otherCa
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`], dir);
}

// Issues a certificate signed by `ca` into <name>.pem / <name>.key.
export function issue(dir: string, ca: string, name: string, subject: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', String(Date.now()),
    '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
}

export const SERVER_EXT = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
const CLIENT_EXT = 'subjectAltName=DNS:tls-san-user\nextendedKeyUsage=clientAuth\n';

export function makePki(dir: string): Pki {
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  issue(dir, 'ca', 'server', '/CN=localhost', SERVER_EXT);
  issue(dir, 'ca', 'client', '/O=Warren tests/CN=tlsuser', CLIENT_EXT);
  issue(dir, 'other-ca', 'other-client', '/CN=tlsuser', CLIENT_EXT);
  const p = (f: string) => path.join(dir, f);
  return {
    dir, ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'),
    client: { cert: p('client.pem'), key: p('client.key') },
    otherCa: p('other-ca.pem'), otherClient: { cert: p('other-client.pem'), key: p('other-client.key') },
  };
}
