// Arguments (field tables) to and from the JSON of definitions files and the HTTP API. Nesting is
// bounded by the field-table codec's own depth limit, so that a hostile document is refused with
// a clear error instead of overflowing the stack.
import type { FieldTable, FieldValue } from '../../protocol';
import { preconditionFailed } from '../errors';

export const MAX_ARGUMENT_DEPTH = 64;

export function toJson(t: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(t)) out[k] = jsonValue(v);
  return out;
}

function jsonValue(v: FieldValue): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Buffer.isBuffer(v)) return v.toString();
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (Array.isArray(v)) return v.map(jsonValue);
  if (v && typeof v === 'object') {
    if ('type' in v && 'value' in v && Object.keys(v).length === 2) return jsonValue((v as { value: FieldValue }).value);
    return toJson(v as FieldTable);
  }
  return v;
}

export function fromJson(o: Record<string, unknown> | undefined, depth = 0): FieldTable {
  const out: FieldTable = {};
  if (!o) return out;
  if (depth > MAX_ARGUMENT_DEPTH) throw preconditionFailed(`arguments nested deeper than ${MAX_ARGUMENT_DEPTH} levels`);
  for (const [k, v] of Object.entries(o)) out[k] = fromJsonValue(v, depth + 1);
  return out;
}

function fromJsonValue(v: unknown, depth: number): FieldValue {
  if (depth > MAX_ARGUMENT_DEPTH) throw preconditionFailed(`arguments nested deeper than ${MAX_ARGUMENT_DEPTH} levels`);
  if (Array.isArray(v)) return v.map((x) => fromJsonValue(x, depth + 1));
  if (v && typeof v === 'object') return fromJson(v as Record<string, unknown>, depth);
  return v as FieldValue;
}
