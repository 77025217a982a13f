// The internal user database: names, password hashes (RabbitMQ's formats), tags and per-user
// limits. Pure data and validation; AuthStore (auth-store.ts) owns the table and its events.
import {
  DEFAULT_HASHING, LEGACY_HASHING, type HashingAlgorithm, checkPassword, hashPassword, hashProblem, isHashingAlgorithm,
} from './password-hash';
import { type UserLimits, limitsProblem } from './limits';

export interface User {
  name: string;
  passwordHash: string;           // '' for a user without a password (EXTERNAL only)
  hashingAlgorithm: HashingAlgorithm;
  tags: string[];
  limits: UserLimits;
}

// RabbitMQ's user tags. Others are kept (RabbitMQ accepts any tag) but grant nothing.
export const KNOWN_TAGS = ['administrator', 'monitoring', 'policymaker', 'management', 'impersonator'] as const;

export function parseTags(v: unknown): string[] | null {
  let list: unknown[];
  if (v === undefined || v === null) list = [];
  else if (typeof v === 'string') list = v.split(',');
  else if (Array.isArray(v)) list = v;
  else return null;
  const out: string[] = [];
  for (const t of list) {
    if (typeof t !== 'string') return null;
    const s = t.trim();
    if (s !== '' && !out.includes(s)) out.push(s);
  }
  return out;
}

export function newUser(name: string, password: string | null, tags: string[] = [], algo: HashingAlgorithm = DEFAULT_HASHING): User {
  return { name, passwordHash: password === null || password === '' ? '' : hashPassword(password, algo), hashingAlgorithm: algo, tags, limits: {} };
}

export function passwordMatches(u: User, password: string): boolean {
  return checkPassword(u.passwordHash, u.hashingAlgorithm, password);
}

// A user as RabbitMQ writes it in definitions and in the HTTP API.
export interface UserJson {
  name: string;
  password_hash: string;
  hashing_algorithm: HashingAlgorithm;
  tags: string[];
  limits: Record<string, number>;
}

export function userJson(u: User): UserJson {
  return { name: u.name, password_hash: u.passwordHash, hashing_algorithm: u.hashingAlgorithm, tags: [...u.tags], limits: { ...u.limits } };
}

// Reads a user record of a definitions file or an HTTP PUT body: password (cleartext) or
// password_hash (+ hashing_algorithm; none named means MD5, as RabbitMQ assumes for pre-3.6
// exports), tags as a list or a comma-separated string, limits. Returns the problems found, or
// the user. A record with neither password field is a user without a password (on update
// this clears the password, as RabbitMQ's put_user does).
export function userFromJson(name: string, o: Record<string, unknown>): User | string[] {
  const problems: string[] = [];
  if (typeof name !== 'string' || name === '') problems.push('user name must be a non-empty string');
  const tags = parseTags(o['tags']);
  if (tags === null) problems.push(`user '${name}': tags must be a string or a list of strings`);
  const hasPassword = o['password'] !== undefined && o['password'] !== null;
  const hasHash = o['password_hash'] !== undefined && o['password_hash'] !== null;
  if (hasPassword && hasHash) problems.push(`user '${name}': both password and password_hash given`);
  let algo: HashingAlgorithm = DEFAULT_HASHING;
  let passwordHash = '';
  if (hasHash) {
    const a = o['hashing_algorithm'];
    if (a === undefined || a === null) algo = LEGACY_HASHING;
    else if (isHashingAlgorithm(a)) algo = a;
    else problems.push(`user '${name}': unsupported hashing_algorithm ${JSON.stringify(a)}`);
    const h = o['password_hash'];
    if (typeof h !== 'string') problems.push(`user '${name}': password_hash must be a string`);
    else {
      const p = hashProblem(h, algo);
      if (p) problems.push(`user '${name}': ${p}`);
      passwordHash = h;
    }
  } else if (hasPassword) {
    const pw = o['password'];
    if (typeof pw !== 'string') problems.push(`user '${name}': password must be a string`);
    else if (pw !== '') passwordHash = hashPassword(pw, algo);
  }
  const limits = o['limits'] ?? {};
  const lp = limitsProblem('user', limits);
  if (lp) problems.push(`user '${name}': ${lp}`);
  if (problems.length > 0) return problems;
  return { name, passwordHash, hashingAlgorithm: algo, tags: tags!, limits: { ...(limits as UserLimits) } };
}
