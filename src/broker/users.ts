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

const compiled = new Map<string, RegExp | null>();

// Whether a user may act on a resource: RabbitMQ matches the permission's regular expression
// anywhere in the name (re:run semantics, so "^orders\." and ".*" both work); an empty
// pattern, or one that does not compile, grants nothing.
export function permits(broker: { permissions: Permission[] }, user: string, vhost: string,
  kind: 'configure' | 'write' | 'read', resource: string): boolean {
  const p = broker.permissions.find((x) => x.user === user && x.vhost === vhost);
  const pattern = p ? p[kind] : '';
  if (pattern === '') return false;
  if (pattern === '.*') return true;
  let re = compiled.get(pattern);
  if (re === undefined) {
    try { re = new RegExp(pattern); } catch { re = null; }
    compiled.set(pattern, re);
  }
  return re !== null && re.test(resource);
}
