// Users and permissions. Passwords are stored as RabbitMQ stores them
// (rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt), so
// definitions exported from RabbitMQ can be imported unchanged.
import * as crypto from 'node:crypto';

export interface User {
  name: string;
  passwordHash: string;
  tags: string[];
}

export interface Permission {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

export function hashPassword(password: string, salt = crypto.randomBytes(4)): string {
  const h = crypto.createHash('sha256').update(Buffer.concat([salt, Buffer.from(password)])).digest();
  return Buffer.concat([salt, h]).toString('base64');
}

export function checkPassword(user: User, password: string): boolean {
  const raw = Buffer.from(user.passwordHash, 'base64');
  if (raw.length !== 36) return false;
  const expect = hashPassword(password, raw.subarray(0, 4));
  return crypto.timingSafeEqual(Buffer.from(expect), Buffer.from(user.passwordHash));
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
