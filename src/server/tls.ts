// TLS for the AMQP and HTTP listeners: certificate, key and CA files, RabbitMQ's verify_peer and
// fail_if_no_peer_cert, TLS 1.2 and 1.3 only, and reloading the files (SIGHUP) into listening
// servers without dropping their connections (tls.Server.setSecureContext).
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { log } from '../logger';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile?: string;
  // Ask for a client certificate and verify it against the CA (a client without one is still
  // accepted unless failIfNoPeerCert).
  verifyPeer?: boolean;
  failIfNoPeerCert?: boolean;
}

// Reads the files; throws naming the file that cannot be read.
export function secureContextOptions(t: TlsFiles): tls.SecureContextOptions {
  const read = (what: string, f: string) => {
    try {
      return fs.readFileSync(f);
    } catch (e) {
      throw new Error(`TLS ${what} file ${f}: ${(e as Error).message}`);
    }
  };
  return {
    cert: read('certificate', t.certFile),
    key: read('key', t.keyFile),
    ...(t.caFile ? { ca: read('CA', t.caFile) } : {}),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
  };
}

export function serverOptions(t: TlsFiles, handshakeTimeoutMs: number): tls.TlsOptions {
  const verify = t.verifyPeer === true || t.failIfNoPeerCert === true;
  return {
    ...secureContextOptions(t),
    requestCert: verify,
    // Node refuses both "no certificate" and "bad certificate" when this is set; verify_peer
    // without fail_if_no_peer_cert is completed in peerRefusal().
    rejectUnauthorized: verify && t.failIfNoPeerCert === true,
    handshakeTimeout: handshakeTimeoutMs,
  };
}

// verify_peer: a client that presented a certificate the CA does not vouch for is refused even
// when clients without one are let in. Returns why, or null.
export function peerRefusal(socket: tls.TLSSocket, t: TlsFiles): string | null {
  const verify = t.verifyPeer === true || t.failIfNoPeerCert === true;
  if (!verify || socket.authorized) return null;
  const cert = socket.getPeerCertificate();
  const presented = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  if (!presented && t.failIfNoPeerCert !== true) return null;
  return presented ? `client certificate not accepted: ${socket.authorizationError}` : 'no client certificate';
}

// Re-reads the files into running servers; new handshakes use them, open connections go on.
// Throws (and changes nothing) when a file cannot be read or does not parse.
export function reloadTls(servers: tls.Server[], t: TlsFiles): void {
  const opts = secureContextOptions(t);
  tls.createSecureContext(opts); // throws on a certificate or key that does not parse or match
  for (const s of servers) s.setSecureContext(opts);
}

/**
 * A TLS listener's server (AMQP's and the Stream protocol's): sockets that pass the handshake and
 * the verify_peer check go to `accept`; refusals and failed handshakes are logged.
 */
export function createTlsServer(t: TlsFiles, handshakeTimeoutMs: number, accept: (socket: tls.TLSSocket) => void): tls.Server {
  const ts = tls.createServer({ ...serverOptions(t, handshakeTimeoutMs), noDelay: true }, (socket) => {
    const why = peerRefusal(socket, t);
    if (why !== null) {
      log.warn(`TLS connection from ${socket.remoteAddress}:${socket.remotePort} refused: ${why}`);
      socket.destroy();
      return;
    }
    accept(socket);
  });
  ts.on('tlsClientError', (e, socket) => log.info(`TLS handshake with ${socket.remoteAddress}:${socket.remotePort} failed: ${e.message}`));
  return ts;
}
