// The routing rule of RabbitMQ's `x-federation-upstream` exchange type, which a federation
// link declares on its upstream (Warren or RabbitMQ) between the federated exchange and the
// link's queue: a message goes on to the downstream only if it has made fewer hops than the
// link allows and has not been through the downstream already. Its hops are the entries of its
// `x-received-from` header (each link that forwarded it adds one, naming where it came from).
import type { FieldTable, FieldValue } from '../protocol';
import { Typed } from '../protocol';

function plain(v: FieldValue | undefined): FieldValue | undefined {
  return v instanceof Typed ? v.value : v;
}

function text(v: FieldValue | undefined): string | undefined {
  const p = plain(v);
  return typeof p === 'string' ? p : Buffer.isBuffer(p) ? p.toString() : undefined;
}

/** `args` are the upstream exchange's: x-max-hops, x-downstream-name, x-downstream-vhost. */
export function shouldForward(headers: FieldTable | undefined, args: FieldTable): boolean {
  const hopsArg = plain(args['x-max-hops']);
  const maxHops = typeof hopsArg === 'number' ? hopsArg : typeof hopsArg === 'bigint' ? Number(hopsArg) : 1;
  const seen = plain(headers?.['x-received-from']);
  if (!Array.isArray(seen)) return maxHops > 0;
  if (seen.length >= maxHops) return false;
  const name = text(args['x-downstream-name']);
  const vhost = text(args['x-downstream-vhost']);
  for (const e of seen) {
    const entry = plain(e);
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || Buffer.isBuffer(entry) || entry instanceof Date) continue;
    const t = entry as FieldTable;
    if (name !== undefined && text(t['cluster-name']) === name && (vhost === undefined || text(t['vhost']) === undefined || text(t['vhost']) === vhost)) return false;
  }
  return true;
}
