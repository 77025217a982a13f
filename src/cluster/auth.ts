// Mutual authentication of a replication connection with the cluster's shared secret: each side
// sends a random nonce and proves knowledge of the secret with an HMAC-SHA256 over both nonces
// and its role. The secret itself never crosses the wire. (The stream is not encrypted: run
// replication on a private network, or through a tunnel.)
import * as crypto from 'node:crypto';

export const nonce = (): string => crypto.randomBytes(16).toString('hex');

export function proof(secret: string, role: 'leader' | 'follower', a: string, b: string): string {
  return crypto.createHmac('sha256', secret).update(`${role}:${a}:${b}`).digest('hex');
}

export function checkProof(secret: string, role: 'leader' | 'follower', a: string, b: string, got: unknown): boolean {
  if (typeof got !== 'string') return false;
  const want = Buffer.from(proof(secret, role, a, b), 'hex');
  const have = Buffer.from(got, 'hex');
  return have.length === want.length && crypto.timingSafeEqual(have, want);
}
