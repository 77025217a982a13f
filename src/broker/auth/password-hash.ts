// Password hashes as RabbitMQ stores them, so that a RabbitMQ definitions export imports
// unchanged and every user keeps their password: base64(salt ++ H(salt ++ password)) with a
// 4-byte random salt, H being SHA-256 (the default), SHA-512 or MD5 (the hash RabbitMQ used
// before 3.6, and still assumes when a definitions file names no algorithm).
import * as crypto from 'node:crypto';

export const HASHING_ALGORITHMS = {
  rabbit_password_hashing_sha256: 'sha256',
  rabbit_password_hashing_sha512: 'sha512',
  rabbit_password_hashing_md5: 'md5',
} as const;

export type HashingAlgorithm = keyof typeof HASHING_ALGORITHMS;

export const DEFAULT_HASHING: HashingAlgorithm = 'rabbit_password_hashing_sha256';
// What RabbitMQ assumes for a user record without hashing_algorithm (pre-3.6 definitions).
export const LEGACY_HASHING: HashingAlgorithm = 'rabbit_password_hashing_md5';

const SALT_BYTES = 4;
const DIGEST_BYTES: Record<HashingAlgorithm, number> = {
  rabbit_password_hashing_sha256: 32,
  rabbit_password_hashing_sha512: 64,
  rabbit_password_hashing_md5: 16,
};

export function isHashingAlgorithm(s: unknown): s is HashingAlgorithm {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(HASHING_ALGORITHMS, s);
}

function digest(algo: HashingAlgorithm, salt: Buffer, password: string): Buffer {
  return crypto.createHash(HASHING_ALGORITHMS[algo]).update(salt).update(password, 'utf8').digest();
}

export function hashPassword(password: string, algo: HashingAlgorithm = DEFAULT_HASHING, salt = crypto.randomBytes(SALT_BYTES)): string {
  return Buffer.concat([salt, digest(algo, salt, password)]).toString('base64');
}

// Why a stored hash cannot be used, or null when it can. "" is a user without a password
// (one that logs in only with EXTERNAL); it is valid and matches no password.
export function hashProblem(hash: string, algo: HashingAlgorithm): string | null {
  if (hash === '') return null;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(hash) || hash.length % 4 !== 0) return 'password_hash is not base64';
  const n = Buffer.from(hash, 'base64').length;
  const want = SALT_BYTES + DIGEST_BYTES[algo];
  if (n !== want) return `password_hash decodes to ${n} bytes, ${algo} needs ${want}`;
  return null;
}

// Constant-time comparison of the stored hash with the hash of the offered password. A blank
// password never matches (RabbitMQ's internal backend refuses blank passwords outright).
export function checkPassword(hash: string, algo: HashingAlgorithm, password: string): boolean {
  if (password === '' || hash === '') return false;
  const raw = Buffer.from(hash, 'base64');
  if (raw.length !== SALT_BYTES + DIGEST_BYTES[algo]) return false;
  const got = digest(algo, raw.subarray(0, SALT_BYTES), password);
  return crypto.timingSafeEqual(got, raw.subarray(SALT_BYTES));
}
