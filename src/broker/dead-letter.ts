// The copy of a message that dead-lettering republishes, with the headers RabbitMQ adds: x-death
// (one table per (queue, reason), newest first, count incremented on repeats), x-first-death-*
// (set once) and x-last-death-*; the expiration property is removed and recorded as
// original-expiration. Other properties and header entries keep their bytes.
import { Typed, decodeProperties, typed, type BasicProperties, type FieldTable, type FieldValue } from '../protocol';
import type { LogRecord } from '../store';
import { type Message, envelopeOf, isPersistent, newMessage } from './message';
import { editProperties } from './props-edit';
import type { DeathReason } from './queue';

export interface DeadLettered {
  msg: Message;
  /** routing keys to publish it with (the dead-letter routing key, or the original key and CC) */
  keys: string[];
  /** its headers, decoded (for headers exchanges) */
  headers: FieldTable;
  /** its x-death tables, newest first */
  deaths: FieldTable[];
  priority: number;
}

/** The dead-lettered copy, or why it cannot be made (properties that do not decode). */
export function deadLetteredCopy(queueName: string, dlxName: string, dlrk: string | null, rec: LogRecord, reason: DeathReason): DeadLettered | string {
  const env = envelopeOf(rec);
  let props: BasicProperties;
  try {
    props = decodeProperties(rec.props);
  } catch (e) {
    return (e as Error).message;
  }
  const headers: FieldTable = props.headers ?? {};
  const routingKeys: string[] = [env[1]];
  const cc = headers['CC'];
  if (Array.isArray(cc)) for (const k of cc) { const s = headerString(k); if (s !== undefined) routingKeys.push(s); }

  const set: FieldTable = {};
  const old = headers['x-death'];
  const oldDeaths: FieldValue[] = Array.isArray(old) ? old : [];
  const deaths: FieldTable[] = [];
  let found: FieldTable | null = null;
  for (const d of oldDeaths) {
    if (!isTable(d)) continue;
    const e: FieldTable = { ...d };
    if (e['count'] !== undefined) e['count'] = typed('l', deathCount(e['count']));
    if (found === null && headerString(e['queue']) === queueName && headerString(e['reason']) === reason) found = e;
    else deaths.push(e);
  }
  if (found !== null) {
    found['count'] = typed('l', deathCount(found['count']) + 1);
    deaths.unshift(sortTable(found));
  } else {
    const entry: FieldTable = {
      count: typed('l', 1),
      reason,
      queue: queueName,
      time: new Date(Math.floor(Date.now() / 1000) * 1000),
      exchange: env[0],
      'routing-keys': routingKeys,
    };
    if (props.expiration !== undefined) entry['original-expiration'] = props.expiration;
    deaths.unshift(entry);
  }
  set['x-death'] = deaths;
  if (!Array.isArray(old)) {
    set['x-first-death-reason'] = reason;
    set['x-first-death-queue'] = queueName;
    set['x-first-death-exchange'] = env[0];
  }
  set['x-last-death-reason'] = reason;
  set['x-last-death-queue'] = queueName;
  set['x-last-death-exchange'] = env[0];
  // BCC never reaches consumers; with a dead-letter routing key, CC no longer applies either.
  const remove = dlrk !== null ? ['BCC', 'CC'] : ['BCC'];
  let newProps: Buffer;
  try {
    newProps = editProperties(rec.props, { set, remove, dropExpiration: true });
  } catch (e) {
    return (e as Error).message;
  }
  const newHeaders: FieldTable = { ...headers, ...set };
  for (const k of remove) delete newHeaders[k];

  const keys = dlrk !== null ? [dlrk] : routingKeys;
  const msg = newMessage(dlxName, keys[0], newProps, rec.body, isPersistent(rec), null);
  return { msg, keys, headers: newHeaders, deaths, priority: props.priority ?? 0 };
}

// RabbitMQ's rule: a message that would return to a queue it already died in, where none of
// the deaths since (that one included) was a rejection, is in an automatic cycle and dropped.
export function isDeathCycle(target: string, deaths: FieldTable[]): boolean {
  for (const d of deaths) {
    if (headerString(d['reason']) === 'rejected') return false;
    if (headerString(d['queue']) === target) return true;
  }
  return false;
}

function isTable(v: FieldValue): v is FieldTable {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date) && !(v instanceof Typed);
}

function headerString(v: FieldValue): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString();
  return undefined;
}

function deathCount(v: FieldValue): number {
  if (v instanceof Typed) return deathCount(v.value);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return 0;
}

// RabbitMQ sorts the keys of an x-death table when it updates it.
function sortTable(t: FieldTable): FieldTable {
  const out: FieldTable = {};
  for (const k of Object.keys(t).sort()) out[k] = t[k];
  return out;
}


