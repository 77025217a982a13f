// Headers-exchange matching, following RabbitMQ: x-match = all (default) | any | all-with-x |
// any-with-x. Binding keys starting with "x-" only take part in the *-with-x modes. A binding
// value of void (null) only requires the header to be present. Values compare by value, not
// wire type (1 as 'I' equals 1 as 'l').
import type { FieldTable, FieldValue } from '../protocol';

export type XMatch = 'all' | 'any' | 'all-with-x' | 'any-with-x';

export interface HeadersBindingSpec {
  mode: XMatch;
  keys: string[];
  values: FieldValue[];
}

export function parseHeadersBinding(args: FieldTable): HeadersBindingSpec | string {
  const raw = args['x-match'];
  let mode: XMatch = 'all';
  if (raw !== undefined) {
    const s = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString() : null;
    if (s !== 'all' && s !== 'any' && s !== 'all-with-x' && s !== 'any-with-x') {
      return `Invalid x-match field value ${JSON.stringify(String(raw))}; expected all, any, all-with-x, or any-with-x`;
    }
    mode = s;
  }
  const withX = mode === 'all-with-x' || mode === 'any-with-x';
  const keys: string[] = [];
  const values: FieldValue[] = [];
  for (const k of Object.keys(args)) {
    if (k === 'x-match') continue;
    if (!withX && k.startsWith('x-')) continue;
    keys.push(k);
    values.push(args[k]);
  }
  return { mode, keys, values };
}

export function headersMatch(spec: HeadersBindingSpec, headers: FieldTable | undefined): boolean {
  const all = spec.mode === 'all' || spec.mode === 'all-with-x';
  const n = spec.keys.length;
  if (n === 0) return all;
  for (let i = 0; i < n; i++) {
    const k = spec.keys[i];
    const has = headers !== undefined && Object.prototype.hasOwnProperty.call(headers, k);
    const ok = has && (spec.values[i] === null || valueEquals(spec.values[i], headers![k]));
    if (all && !ok) return false;
    if (!all && ok) return true;
  }
  return all;
}

export function valueEquals(a: FieldValue, b: FieldValue): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (typeof a === 'number' || typeof a === 'bigint') {
    return (typeof b === 'number' || typeof b === 'bigint') && a == b;
  }
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) {
    return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  }
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valueEquals(a[i], b[i])) return false;
    return true;
  }
  const ak = Object.keys(a as object);
  const bk = Object.keys(b as object);
  if (ak.length !== bk.length) return false;
  for (const k of ak) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!valueEquals((a as FieldTable)[k], (b as FieldTable)[k])) return false;
  }
  return true;
}
