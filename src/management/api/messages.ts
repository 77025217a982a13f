// Messages over HTTP:
//   POST /api/exchanges/{vhost}/{exchange}/publish   RabbitMQ's publish ({"routed": bool})
//   POST /api/queues/{vhost}/{queue}/get             RabbitMQ's get: count, ackmode
//        (ack_requeue_true, ack_requeue_false, reject_requeue_true, reject_requeue_false),
//        encoding auto|base64, truncate
// and Warren's own, because every queue is a log:
//   POST /api/queues/{vhost}/{queue}/move            move the ready messages to another queue
//   GET  /api/queues/{vhost}/{queue}/messages        browse by ?offset= or ?from_time= without
//        consuming (?count=, ?lane= for priority queues, ?encoding=, ?truncate=)
//   GET  /api/queues/{vhost}/{queue}/unacked         the deliveries consumers hold: consumer,
//        channel, delivery tag, age
import { type BasicProperties, type FieldTable, decodeProperties, encodeProperties } from '../../protocol';
import { fromJson } from '../../broker/broker';
import type { LogRecord } from '../../store';
import { type Queue, EnqueueResult } from '../../broker/queue';
import type { MessageRef } from '../../broker/message-ref';
import { SyncPoints } from '../../broker/sync-points';
import { Routed } from '../../broker/vhost';
import { envelopeOf, isPersistent, newMessageWith, parseExpiration } from '../../broker/message';
import { checkPermission, visibleConnections } from './access';
import { type Body, int, jsonBody, object, str } from './body';
import { type ApiReply, type Req, type Route, badRequest, forbidden, ok } from './http';
import { exchangeOf } from './exchanges';
import { queueOf } from './queues';
import { channelName, connectionDetails, tableToJson } from '../format';

// ---- properties ---------------------------------------------------------------------------------

const PROP_NAMES: Array<[keyof BasicProperties, string]> = [
  ['contentType', 'content_type'], ['contentEncoding', 'content_encoding'], ['headers', 'headers'],
  ['deliveryMode', 'delivery_mode'], ['priority', 'priority'], ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'], ['expiration', 'expiration'], ['messageId', 'message_id'], ['timestamp', 'timestamp'],
  ['type', 'type'], ['userId', 'user_id'], ['appId', 'app_id'], ['clusterId', 'cluster_id'],
];

export function propertiesToJson(raw: Buffer): Record<string, unknown> {
  const p = decodeProperties(raw);
  const out: Record<string, unknown> = {};
  for (const [k, j] of PROP_NAMES) {
    const v = p[k];
    if (v === undefined) continue;
    out[j] = k === 'headers' ? tableToJson(v as FieldTable) : v;
  }
  return out;
}

function propertiesFromJson(o: Body | undefined): BasicProperties {
  const p: BasicProperties = {};
  if (!o) return p;
  const known = new Map(PROP_NAMES.map(([k, j]) => [j, k]));
  for (const [j, v] of Object.entries(o)) {
    const k = known.get(j);
    if (!k) throw badRequest(`properties: unknown property '${j}'`);
    if (v === null || v === undefined || v === '') continue;
    if (k === 'headers') {
      if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('properties.headers: expected a JSON object');
      p.headers = fromJson(v as Record<string, unknown>);
    } else if (k === 'deliveryMode' || k === 'priority' || k === 'timestamp') {
      const n = typeof v === 'number' ? v : Number(v);
      if (!Number.isInteger(n) || n < 0) throw badRequest(`properties.${j}: expected a non-negative integer`);
      (p as Record<string, unknown>)[k] = n;
    } else {
      (p as Record<string, unknown>)[k] = String(v);
    }
  }
  return p;
}

function payloadOf(rec: LogRecord, encoding: string, truncate: number | undefined): { payload: string; payload_encoding: string } {
  let body = rec.body;
  if (truncate !== undefined && body.length > truncate) body = body.subarray(0, truncate);
  if (encoding === 'auto') {
    const s = body.toString('utf8');
    // printable text comes back as a string, anything else as base64, as RabbitMQ does
    if (Buffer.from(s, 'utf8').equals(body) && !/[\u0000-\u0008\u000e-\u001f]/.test(s)) return { payload: s, payload_encoding: 'string' };
  }
  return { payload: body.toString('base64'), payload_encoding: 'base64' };
}

function describe(rec: LogRecord, encoding: string, truncate: number | undefined): Record<string, unknown> {
  const env = envelopeOf(rec);
  return {
    payload_bytes: rec.body.length,
    exchange: env[0],
    routing_key: env[1],
    properties: propertiesToJson(rec.props),
    ...payloadOf(rec, encoding, truncate),
  };
}

function encodingOf(v: string): string {
  if (v !== 'auto' && v !== 'base64') throw badRequest(`encoding: expected auto or base64, got '${v}'`);
  return v;
}

// ---- publish ------------------------------------------------------------------------------------

async function publish(r: Req): Promise<ApiReply> {
  const { vh, x } = exchangeOf(r);
  const body = await jsonBody(r);
  checkPermission(r, vh.name, 'write', x.name, 'exchange');
  if (x.internal) throw forbidden(`cannot publish to internal exchange '${x.name}' in vhost '${vh.name}'`);
  const routingKey = str(body, 'routing_key', undefined);
  const enc = str(body, 'payload_encoding', 'string');
  const payload = str(body, 'payload', undefined);
  let bytes: Buffer;
  if (enc === 'string') bytes = Buffer.from(payload, 'utf8');
  else if (enc === 'base64') bytes = Buffer.from(payload, 'base64');
  else throw badRequest(`payload_encoding: expected string or base64, got '${enc}'`);
  const props = propertiesFromJson(object(body, 'properties'));
  if (props.userId !== undefined && props.userId !== r.user.name) {
    throw badRequest(`user_id property set to '${props.userId}' but authenticated user was '${r.user.name}'`);
  }
  let expiration: number | null = null;
  if (props.expiration !== undefined) {
    const e = parseExpiration(props.expiration);
    if (e === 'invalid') throw badRequest(`invalid expiration '${props.expiration}' for message`);
    expiration = e;
  }
  const msg = newMessageWith([x.name, routingKey, expiration], encodeProperties(props), bytes, props.deliveryMode === 2);
  // the reply waits until a persistent message is on disk in every durable queue it reached
  const sync = new SyncPoints();
  const routed = vh.publish(x, routingKey, msg, props.priority ?? 0, sync);
  if (!sync.empty) await sync.whenSynced();
  return ok({ routed: routed !== Routed.Unroutable });
}

// ---- get ----------------------------------------------------------------------------------------

const ACK_MODES = new Set(['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false']);

async function get(r: Req): Promise<ApiReply> {
  const { vh, q } = queueOf(r);
  const body = await jsonBody(r);
  checkPermission(r, vh.name, 'read', q.name, 'queue');
  const count = int(body, 'count', 1, 1);
  // rabbitmqadmin's default; RabbitMQ's API requires it
  const ackmode = str(body, 'ackmode', 'ack_requeue_true');
  if (!ACK_MODES.has(ackmode)) throw badRequest(`ackmode: expected one of ${[...ACK_MODES].join(', ')}`);
  const encoding = encodingOf(str(body, 'encoding', 'auto'));
  const truncate = body.truncate === undefined || body.truncate === null || body.truncate === '' ? undefined : int(body, 'truncate', undefined);
  const requeue = ackmode.endsWith('true');
  const taken: Array<{ ref: MessageRef; rec: LogRecord; redelivered: boolean }> = [];
  const o = { ref: 0 as MessageRef, rec: undefined as LogRecord | undefined, redelivered: false, count: 0 };
  const before = q.messageCount;
  // Every message is taken first and settled after, so requeued ones are not got twice.
  while (taken.length < count && q.get(false, o)) {
    taken.push({ ref: o.ref, rec: o.rec!, redelivered: o.redelivered });
    o.rec = undefined;
  }
  // message_count: what was left in the queue after each get, as basic.get-ok reports it
  const out = taken.map((t, i) => ({ ...describe(t.rec, encoding, truncate), redelivered: t.redelivered, message_count: Math.max(0, before - i - 1) }));
  for (const t of taken) {
    if (requeue) q.requeue(t.ref);
    else if (ackmode.startsWith('ack')) q.ack(t.ref);
    else q.discard(t.ref);
  }
  if (q.consumerCount > 0) q.scheduleDispatch();
  return ok(out);
}

// ---- move ---------------------------------------------------------------------------------------

async function move(r: Req): Promise<ApiReply> {
  const { vh, q } = queueOf(r);
  const body = await jsonBody(r);
  const destName = str(body, 'destination', undefined);
  const dest = vh.queues.get(destName);
  if (!dest) throw badRequest(`no queue '${destName}' in vhost '${vh.name}'`);
  if (dest === q) throw badRequest('destination is the source queue');
  checkPermission(r, vh.name, 'read', q.name, 'queue');
  checkPermission(r, vh.name, 'write', dest.name, 'queue');
  const max = body.count === undefined ? Infinity : int(body, 'count', undefined, 1);
  const o = { ref: 0 as MessageRef, rec: undefined as LogRecord | undefined, redelivered: false, count: 0 };
  const sync = new SyncPoints();
  const taken: MessageRef[] = [];
  while (taken.length < max && q.get(false, o)) {
    const rec = o.rec!;
    o.rec = undefined;
    const msg = newMessageWith(envelopeOf(rec), rec.props, rec.body, isPersistent(rec), rec.timestamp);
    if (dest.enqueue(msg, decodeProperties(rec.props).priority ?? 0, sync) === EnqueueResult.Rejected) {
      q.requeue(o.ref); // the destination refused it (a length limit with reject-publish): keep it here
      break;
    }
    taken.push(o.ref);
  }
  // the originals go once the copies are on disk
  if (!sync.empty) await sync.whenSynced();
  for (const ref of taken) q.ack(ref);
  return ok({ moved: taken.length });
}

// ---- browse -------------------------------------------------------------------------------------

function browse(r: Req): ApiReply {
  const { vh, q } = queueOf(r);
  checkPermission(r, vh.name, 'read', q.name, 'queue');
  const lane = Number(r.query.get('lane') ?? '0');
  const log = Number.isInteger(lane) && lane >= 0 ? q.browseLog(lane) : undefined;
  if (!log) throw badRequest(`no priority lane ${r.query.get('lane')} in this queue`);
  const count = Math.min(Math.max(Number(r.query.get('count') ?? '20') || 20, 1), 500);
  const encoding = encodingOf(r.query.get('encoding') ?? 'auto');
  const truncateText = r.query.get('truncate');
  const truncate = truncateText === null ? 50_000 : Number(truncateText);
  const includeAcked = r.query.get('include_acked') === 'true';
  let from = log.startOffset;
  const fromTime = r.query.get('from_time');
  if (r.query.get('offset') !== null) from = Math.max(from, Number(r.query.get('offset')) || 0);
  else if (fromTime !== null) from = firstAtOrAfter(log, Date.parse(fromTime) || Number(fromTime));
  const items: unknown[] = [];
  let off = from;
  for (; off < log.nextOffset && items.length < count; off++) {
    const acked = log.isAcked(off);
    if (acked && !includeAcked) continue;
    let rec: LogRecord | undefined;
    try { rec = log.read(off); } catch (e) { items.push({ offset: off, error: (e as Error).message }); continue; }
    if (!rec) continue;
    items.push({
      offset: off, timestamp: new Date(rec.timestamp).toISOString(), persistent: isPersistent(rec), consumed: acked,
      ...describe(rec, encoding, truncate),
    });
  }
  return ok({ lane, first_offset: log.startOffset, next_offset: log.nextOffset, continue_at: off, items });
}

// Binary search over offsets by record timestamp (appends are in time order).
function firstAtOrAfter(log: NonNullable<ReturnType<Queue['browseLog']>>, t: number): number {
  let lo = log.startOffset, hi = log.nextOffset;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    let rec: LogRecord | undefined;
    try { rec = log.read(mid); } catch { rec = undefined; }
    if (!rec || rec.timestamp < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// ---- unacked ------------------------------------------------------------------------------------

function unacked(r: Req): ApiReply {
  const { vh, q } = queueOf(r);
  checkPermission(r, vh.name, 'read', q.name, 'queue');
  const limit = Math.min(Math.max(Number(r.query.get('count') ?? '100') || 100, 1), 1000);
  const now = Date.now();
  const items: Array<Record<string, unknown>> = [];
  for (const c of visibleConnections(r)) {
    for (const ch of c.openChannels) {
      ch.forEachUnacked((tag, msgId, queue, consumerTag, at) => {
        if (queue !== q || items.length >= limit) return;
        const rec = q.peekMessage(msgId);
        items.push({
          delivery_tag: tag, consumer_tag: consumerTag, channel: channelName(c, ch), connection_details: connectionDetails(c),
          delivered_at: new Date(at).toISOString(), age_ms: now - at,
          ...(rec ? describe(rec, 'auto', 200) : {}),
        });
      });
    }
  }
  items.sort((a, b) => (b.age_ms as number) - (a.age_ms as number));
  return ok({ total: q.unackedCount, items });
}

export const messageRoutes: Route[] = [
  { pattern: ['api', 'exchanges', '*', '*', 'publish'], methods: { POST: publish } },
  { pattern: ['api', 'queues', '*', '*', 'get'], methods: { POST: get } },
  { pattern: ['api', 'queues', '*', '*', 'move'], methods: { POST: move } },
  { pattern: ['api', 'queues', '*', '*', 'messages'], methods: { GET: browse } },
  { pattern: ['api', 'queues', '*', '*', 'unacked'], methods: { GET: unacked } },
];
