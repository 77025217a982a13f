// Mutual authentication of a replication connection with the cluster's shared secret: each side
// sends a random nonce and proves knowledge of the secret with an HMAC-SHA256 over both nonces
// and its role. The secret itself never crosses the wire.
//
// Over TLS (--replication-tls) the proofs also cover the TLS session's exported keying material
// (RFC 5705/8446 exporter, "channel binding"): both ends of one TLS session compute the same
// value, a man in the middle holds two sessions with different values, so it can neither relay
// a proof nor read the stream, although neither end verifies the other's certificate (the
// certificate only serves the key exchange; the secret is what authenticates).
import * as crypto from 'node:crypto';
import * as tls from 'node:tls';
import type * as net from 'node:net';

export const nonce = (): string => crypto.randomBytes(16).toString('hex');

const EXPORTER_LABEL = 'EXPORTER-warren-replication';

/** The TLS session's binding value (hex), '' on a plain connection. */
export function channelBinding(s: net.Socket): string {
  return s instanceof tls.TLSSocket ? s.exportKeyingMaterial(32, EXPORTER_LABEL, Buffer.alloc(0)).toString('hex') : '';
}

export function proof(secret: string, role: 'leader' | 'follower', a: string, b: string, binding = ''): string {
  // A plain connection's input is the one of earlier versions (mixed versions during a rolling
  // upgrade still authenticate).
  return crypto.createHmac('sha256', secret).update(`${role}:${a}:${b}${binding === '' ? '' : `:${binding}`}`).digest('hex');
}

export function checkProof(secret: string, role: 'leader' | 'follower', a: string, b: string, got: unknown, binding = ''): boolean {
  if (typeof got !== 'string') return false;
  const want = Buffer.from(proof(secret, role, a, b, binding), 'hex');
  const have = Buffer.from(got, 'hex');
  return have.length === want.length && crypto.timingSafeEqual(have, want);
}
