// /api/queues: list, declare, delete, purge, bindings of a queue.
import { checkPermission, vhostOf, vhostScope } from './access';
import { args, bool, jsonBody, queryBool } from './body';
import { type ApiReply, type Req, type Route, badRequest, cmp, created, noContent, notFound, ok } from './http';
import { type BindingView, defaultBinding, formatBinding, formatQueue } from '../format';

function listQueues(r: Req): ApiReply {
  const out: unknown[] = [];
  for (const vh of vhostScope(r, r.params[0])) {
    const qs = [...vh.queues.values()].sort((a, b) => cmp(a.name, b.name));
    for (const q of qs) out.push(formatQueue(q, r.ctx.node));
  }
  return ok(out);
}

export function queueOf(r: Req) {
  const vh = vhostOf(r, r.params[0]);
  const q = vh.queues.get(r.params[1]);
  if (!q) throw notFound();
  return { vh, q };
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
  vh.declareQueue(name, {
    passive: false, durable: bool(body, 'durable', true), exclusive: false,
    autoDelete: bool(body, 'auto_delete', false), args: args(body),
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
  return ok(out);
}

export const queueRoutes: Route[] = [
  { pattern: ['api', 'queues'], methods: { GET: listQueues } },
  { pattern: ['api', 'queues', '*'], methods: { GET: listQueues } },
  { pattern: ['api', 'queues', '*', '*'], methods: {
    GET: (r) => ok(formatQueue(queueOf(r).q, r.ctx.node)), PUT: putQueue, DELETE: deleteQueue,
  } },
  { pattern: ['api', 'queues', '*', '*', 'contents'], methods: { DELETE: purgeQueue } },
  { pattern: ['api', 'queues', '*', '*', 'bindings'], methods: { GET: queueBindings } },
];
