// /api/queues: list (paged, filtered, sorted), declare, read (with consumers), delete, purge,
// and the bindings of a queue.
import { checkPermission, vhostOf, vhostScope } from './access';
import { args, bool, jsonBody, queryBool } from './body';
import { type ApiReply, type Req, type Route, badRequest, created, noContent, notFound, ok } from './http';
import { type BindingView, defaultBinding, formatBinding, formatQueue } from '../format';
import { columnsOf, listReply } from './listing';
import { sampleQuery } from '../stats';
import { consumerRows, formatConsumer } from './consumers';
import type { Queue } from '../../broker/queue';

function listQueues(r: Req): ApiReply {
  const items: Queue[] = [];
  for (const vh of vhostScope(r, r.params[0])) for (const q of vh.queues.values()) items.push(q);
  const opts = { stats: r.ctx.stats, msgRates: sampleQuery(r.query, 'msg_rates'), lengths: sampleQuery(r.query, 'lengths') };
  return listReply(r, { items, name: (q) => q.name, secondary: (q) => q.vhost, format: (q) => formatQueue(q, r.ctx.node, opts) });
}

export function queueOf(r: Req) {
  const vh = vhostOf(r, r.params[0]);
  const q = vh.queues.get(r.params[1]);
  if (!q) throw notFound();
  return { vh, q };
}

function getQueue(r: Req): ApiReply {
  const { vh, q } = queueOf(r);
  const opts = { stats: r.ctx.stats, msgRates: sampleQuery(r.query, 'msg_rates'), lengths: sampleQuery(r.query, 'lengths') };
  const out = formatQueue(q, r.ctx.node, opts);
  out.consumer_details = consumerRows(r, { vhost: vh.name, queue: q }).map((x) => formatConsumer(x, r.ctx.node));
  return ok(columnsOf(r.query, out));
}

// Management-declared queues are never exclusive; this owner only satisfies the vhost's API.
export const HTTP_OWNER = Object.freeze({ owner: 'management API' });

async function putQueue(r: Req): Promise<ApiReply> {
  const vh = vhostOf(r, r.params[0]);
  const name = r.params[1];
  const body = await jsonBody(r);
  if (bool(body, 'exclusive', false)) throw badRequest('exclusive queues cannot be declared over HTTP');
  checkPermission(r, vh.name, 'configure', name, 'queue');
  const existed = vh.queues.has(name);
  const a = args(body);
  // rabbitmqadmin's queue_type=quorum, sent as a field
  if (typeof body.queue_type === 'string' && a['x-queue-type'] === undefined) a['x-queue-type'] = body.queue_type;
  vh.declareQueue(name, {
    passive: false, durable: bool(body, 'durable', true), exclusive: false,
    autoDelete: bool(body, 'auto_delete', false), args: a,
  }, HTTP_OWNER);
  return existed ? noContent : created;
}

function deleteQueue(r: Req): ApiReply {
  const { vh, q } = queueOf(r);
  checkPermission(r, vh.name, 'configure', q.name, 'queue');
  // The management API may delete an exclusive queue, so it acts as the queue's owner.
  vh.deleteQueue(q.name, queryBool(r, 'if-unused'), queryBool(r, 'if-empty'), q.exclusiveOwner);
  return noContent;
}

function purgeQueue(r: Req): ApiReply {
  const { vh, q } = queueOf(r);
  checkPermission(r, vh.name, 'read', q.name, 'queue');
  vh.purgeQueue(q.name, q.exclusiveOwner);
  return noContent;
}

function queueBindings(r: Req): ApiReply {
  const { vh, q } = queueOf(r);
  const out: BindingView[] = [defaultBinding(q, vh.name)];
  for (const b of vh.allBindings()) if (b.dest === q) out.push(formatBinding(b, vh.name));
  return listReply(r, { items: out, name: (b) => b.source, format: (b) => b as unknown as Record<string, unknown> });
}

export const queueRoutes: Route[] = [
  { pattern: ['api', 'queues'], methods: { GET: listQueues } },
  { pattern: ['api', 'queues', '*'], methods: { GET: listQueues } },
  { pattern: ['api', 'queues', '*', '*'], methods: { GET: getQueue, PUT: putQueue, DELETE: deleteQueue } },
  { pattern: ['api', 'queues', '*', '*', 'contents'], methods: { DELETE: purgeQueue } },
  { pattern: ['api', 'queues', '*', '*', 'bindings'], methods: { GET: queueBindings } },
];
