// Request bodies and query parameters. rabbitmqadmin sends numbers and booleans as strings
// ("true", "5"), so both forms are accepted.
import { fromJson } from '../../broker/broker';
import type { FieldTable } from '../../protocol';
import { type Req, badRequest } from './http';

export type Body = Record<string, unknown>;

export async function jsonBody(r: Req): Promise<Body> {
  const text = await r.readBody();
  if (text.trim() === '') return {};
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { throw badRequest(`invalid JSON: ${(e as Error).message}`); }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('expected a JSON object');
  return v as Body;
}

export function bool(body: Body, key: string, dflt: boolean): boolean {
  const v = body[key];
  if (v === undefined || v === null || v === '') return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw badRequest(`${key}: expected true or false, got ${JSON.stringify(v)}`);
}

export function str(body: Body, key: string, dflt: string | undefined): string {
  const v = body[key];
  if (v === undefined || v === null) {
    if (dflt === undefined) throw badRequest(`key_missing: ${key}`);
    return dflt;
  }
  if (typeof v !== 'string') throw badRequest(`${key}: expected a string`);
  return v;
}

export function int(body: Body, key: string, dflt: number | undefined, min = 0): number {
  const v = body[key];
  if (v === undefined || v === null || v === '') {
    if (dflt === undefined) throw badRequest(`key_missing: ${key}`);
    return dflt;
  }
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw badRequest(`${key}: expected an integer${min === 0 ? ' >= 0' : ''}, got ${JSON.stringify(v)}`);
  return n;
}

export function object(body: Body, key: string): Body | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${key}: expected a JSON object`);
  return v as Body;
}

export function args(body: Body): FieldTable {
  return fromJson(object(body, 'arguments'));
}

export function queryBool(r: Req, key: string): boolean {
  return r.query.get(key) === 'true';
}
