// The management API under /api: routes, HTTP Basic authentication against the broker's users,
// per-user visibility and permission checks, and the handlers. Request and reply are plain
// objects; http-server.ts does the socket side.
//
// Shaped like RabbitMQ's management plugin: the same paths (vhost names URL-encoded, "%2F" for
// "/"), the same JSON field names, 201 for a created object and 204 for an update or delete,
// errors as {"error": ..., "reason": ...}.
import * as os from 'node:os';
import type { IncomingHttpHeaders } from 'node:http';
import { type Broker, type Definitions, fromJson } from '../broker/broker';
import { AmqpError, ReplyCode } from '../broker/errors';
import type { VHost } from '../broker/vhost';
import { type User, permits } from '../broker/users';
import type { FieldTable } from '../protocol';
import type { AmqpServer } from '../server/server';
import { VERSION } from '../server/server';
import type { Connection } from '../server/connection';
import type { StatsTracker } from './stats';
import {
  type BindingView, channelName, connectionState, defaultBinding, formatBinding, formatChannel, formatConnection,
  formatExchange, formatQueue, propertiesKey, vhostBindings,
} from './format';
import { tableKey } from '../broker/exchange';
import { log } from '../logger';

export interface ManagementContext {
  broker: Broker;
  amqp: AmqpServer;
  stats: StatsTracker;
  node: string;
  listeners: Array<{ protocol: string; ip_address: string; port: number }>;
}

export function nodeName(): string {
  return `warren@${os.hostname()}`;
}

export interface ApiRequest {
  method: string;
  path: string[];                 // decoded path segments, "api" first
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  remoteAddress: string | undefined;
  readBody(): Promise<string>;
}

export interface ApiReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export class HttpError extends Error {
  constructor(readonly status: number, readonly error: string, readonly reason: string, readonly headers: Record<string, string> = {}) {
    super(`${status} ${error}: ${reason}`);
  }
}

const notFound = () => new HttpError(404, 'Object Not Found', 'Not Found');
const badRequest = (reason: string) => new HttpError(400, 'bad_request', reason);
const forbidden = (reason: string) => new HttpError(403, 'access_refused', reason);

// ---- authentication -----------------------------------------------------------------------------

const MANAGEMENT_TAGS = new Set(['administrator', 'monitoring', 'policymaker', 'management']);

// HTTP Basic against the broker's users, with the same loopback-only rule for guest as AMQP.
// The console page sends X-Warren-Console so that a failed login shows its own form rather than
// the browser's password dialog.
export function authenticate(ctx: ManagementContext, req: ApiRequest): User {
  const challenge: Record<string, string> = req.headers['x-warren-console'] ? {} : { 'WWW-Authenticate': 'Basic realm="Warren Management"' };
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h) : null;
  if (!m) throw new HttpError(401, 'not_authorised', 'Not_Authorized', challenge);
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new HttpError(401, 'not_authorised', 'Not_Authorized', challenge);
  const res = ctx.broker.authenticate(decoded.slice(0, colon), decoded.slice(colon + 1), req.remoteAddress);
  if (typeof res === 'string') {
    log.warn(`HTTP access denied: ${res}`);
    throw new HttpError(401, 'not_authorised', 'Login failed', challenge);
  }
  if (!res.tags.some((t) => MANAGEMENT_TAGS.has(t))) {
    log.warn(`HTTP access denied: user '${res.name}' has no management tag`);
    throw new HttpError(401, 'not_authorised', 'Not management user', challenge);
  }
  return res;
}

// ---- routing ------------------------------------------------------------------------------------

interface Req extends ApiRequest {
  user: User;
  params: string[];
  ctx: ManagementContext;
}
type Handler = (r: Req) => ApiReply | Promise<ApiReply>;
interface Route { pattern: string[]; methods: Record<string, Handler> }

export async function handleApi(ctx: ManagementContext, req: ApiRequest): Promise<ApiReply> {
  const route = match(req.path);
  if (!route) throw notFound();
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const handler = route.methods[method];
  if (!handler) {
    const allow = Object.keys(route.methods).join(', ');
    throw new HttpError(405, 'method_not_allowed', `${req.method} not allowed here; allowed: ${allow}`, { Allow: allow });
  }
  const user = authenticate(ctx, req);
  const params = route.pattern.flatMap((p, i) => (p === '*' ? [req.path[i]] : []));
  try {
    // A change to durable definitions is answered once it is on disk (definitions.ts).
    const mark = ctx.broker.metadata.seq;
    const reply = await handler({ ...req, user, params, ctx });
    await ctx.broker.metadata.syncedSince(mark);
    return reply;
  } catch (e) {
    if (e instanceof AmqpError) throw fromAmqp(e);
    throw e;
  }
}

function match(path: string[]): Route | undefined {
  return ROUTES.find((r) => r.pattern.length === path.length && r.pattern.every((p, i) => p === '*' || p === path[i]));
}

function fromAmqp(e: AmqpError): HttpError {
  if (e.code === ReplyCode.NOT_FOUND) return new HttpError(404, 'not_found', e.text);
  if (e.code === ReplyCode.ACCESS_REFUSED) return forbidden(e.text);
  return badRequest(e.text);
}

const ok = (body: unknown): ApiReply => ({ status: 200, body });
const noContent: ApiReply = { status: 204 };

// ---- visibility and permissions -----------------------------------------------------------------

const isAdmin = (u: User) => u.tags.includes('administrator');
const seesAll = (u: User) => isAdmin(u) || u.tags.includes('monitoring');

function visibleVhosts(r: Req): VHost[] {
  const all = [...r.ctx.broker.vhosts.values()].filter((vh) => seesAll(r.user) || r.ctx.broker.canAccessVhost(r.user, vh.name));
  return all.sort((a, b) => cmp(a.name, b.name));
}

// The vhosts a list covers: one named in the path (which must exist and be visible), or all.
function vhostScope(r: Req, name: string | undefined): VHost[] {
  if (name === undefined) return visibleVhosts(r);
  return [vhostOf(r, name)];
}

function vhostOf(r: Req, name: string): VHost {
  const vh = r.ctx.broker.vhosts.get(name);
  if (!vh) throw notFound();
  if (!seesAll(r.user) && !r.ctx.broker.canAccessVhost(r.user, name)) throw forbidden(`access to vhost '${name}' refused for user '${r.user.name}'`);
  return vh;
}

// The user's configure/write/read pattern for a resource, as for AMQP (administrators too).
function checkPermission(r: Req, vhost: string, kind: 'configure' | 'write' | 'read', resource: string, what: string): void {
  if (!permits(r.ctx.broker, r.user.name, vhost, kind, resource)) throw forbidden(`${kind} access to ${what} '${resource}' in vhost '${vhost}' refused for user '${r.user.name}'`);
}

function requireAdmin(r: Req): void {
  if (!isAdmin(r.user)) throw forbidden(`user '${r.user.name}' is not an administrator`);
}

// ---- request bodies -----------------------------------------------------------------------------

async function jsonBody(r: Req): Promise<Record<string, unknown>> {
  const text = await r.readBody();
  if (text.trim() === '') return {};
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { throw badRequest(`invalid JSON: ${(e as Error).message}`); }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('expected a JSON object');
  return v as Record<string, unknown>;
}

function bool(body: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = body[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw badRequest(`${key}: expected true or false, got ${JSON.stringify(v)}`);
}

function str(body: Record<string, unknown>, key: string, dflt: string | undefined): string {
  const v = body[key];
  if (v === undefined || v === null) {
    if (dflt === undefined) throw badRequest(`key_missing: ${key}`);
    return dflt;
  }
  if (typeof v !== 'string') throw badRequest(`${key}: expected a string`);
  return v;
}

function args(body: Record<string, unknown>): FieldTable {
  const v = body['arguments'];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('arguments: expected a JSON object');
  return fromJson(v as Record<string, unknown>);
}

function queryBool(r: Req, key: string): boolean {
  return r.query.get(key) === 'true';
}

// ---- handlers -----------------------------------------------------------------------------------

function overview(r: Req): ApiReply {
  const vhs = visibleVhosts(r);
  const names = new Set(vhs.map((v) => v.name));
  let exchanges = 0, queues = 0, consumers = 0, ready = 0, unacked = 0;
  for (const vh of vhs) {
    exchanges += vh.exchanges.size;
    for (const q of vh.queues.values()) {
      queues++;
      consumers += q.consumerCount;
      ready += q.messageCount;
      unacked += q.unackedCount;
    }
  }
  const conns = visibleConnections(r).filter((c) => c.vhost === null || names.has(c.vhost.name) || seesAll(r.user));
  const channels = conns.reduce((n, c) => n + c.channelCount, 0);
  const t = r.ctx.stats.totals();
  const rate = r.ctx.stats.rates();
  return ok({
    management_version: VERSION,
    product_name: 'Warren',
    product_version: VERSION,
    cluster_name: 'warren',
    node: r.ctx.node,
    listeners: r.ctx.listeners.map((l) => ({ node: r.ctx.node, ...l })),
    object_totals: { connections: conns.length, channels, exchanges, queues, consumers },
    queue_totals: { messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked },
    // publish counts messages entering queues (one per destination queue); deliver and
    // deliver_get both count deliveries to consumers and basic.get answers.
    message_stats: {
      publish: t.publish, publish_details: { rate: rate.publish },
      deliver: t.deliver, deliver_details: { rate: rate.deliver },
      deliver_get: t.deliver, deliver_get_details: { rate: rate.deliver },
      ack: t.ack, ack_details: { rate: rate.ack },
    },
    disk_free_alarm: r.ctx.broker.disk.alarmed,
  });
}

function nodes(r: Req): ApiReply {
  const b = r.ctx.broker;
  let diskFree: number | null = null;
  try { diskFree = b.disk.freeBytes(); } catch { diskFree = null; }
  return ok([{
    name: r.ctx.node,
    type: 'disc',
    running: true,
    uptime: Math.round(process.uptime() * 1000),
    mem_used: process.memoryUsage.rss(),
    mem_alarm: false,
    disk_free: diskFree,
    disk_free_limit: b.opts.diskFreeLimitBytes ?? 50_000_000,
    disk_free_alarm: b.disk.alarmed,
    sockets_used: r.ctx.amqp.connections.size,
  }]);
}

function formatVhost(vh: VHost): Record<string, unknown> {
  let ready = 0, unacked = 0;
  for (const q of vh.queues.values()) { ready += q.messageCount; unacked += q.unackedCount; }
  return {
    name: vh.name, description: '', tags: [], tracing: false,
    messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked,
  };
}

// -- queues

function listQueues(r: Req): ApiReply {
  const out: unknown[] = [];
  for (const vh of vhostScope(r, r.params[0])) {
    const qs = [...vh.queues.values()].sort((a, b) => cmp(a.name, b.name));
    for (const q of qs) out.push(formatQueue(q, r.ctx.node));
  }
  return ok(out);
}

function queueOf(r: Req) {
  const vh = vhostOf(r, r.params[0]);
  const q = vh.queues.get(r.params[1]);
  if (!q) throw notFound();
  return { vh, q };
}

// Management-declared queues are never exclusive; this owner only satisfies the vhost's API.
const HTTP_OWNER = Object.freeze({ owner: 'management API' });

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
  return existed ? noContent : { status: 201 };
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

// -- exchanges

// The default exchange is "amq.default" in a path and "" in a listing.
const exchangeName = (s: string) => (s === 'amq.default' ? '' : s);

function listExchanges(r: Req): ApiReply {
  const out: unknown[] = [];
  for (const vh of vhostScope(r, r.params[0])) {
    const xs = [...vh.exchanges.values()].sort((a, b) => cmp(a.name, b.name));
    for (const x of xs) out.push(formatExchange(x, vh.name));
  }
  return ok(out);
}

function exchangeOf(r: Req, i = 1) {
  const vh = vhostOf(r, r.params[0]);
  const x = vh.exchanges.get(exchangeName(r.params[i]));
  if (!x) throw notFound();
  return { vh, x };
}

async function putExchange(r: Req): Promise<ApiReply> {
  const vh = vhostOf(r, r.params[0]);
  const name = exchangeName(r.params[1]);
  const body = await jsonBody(r);
  const type = str(body, 'type', undefined);
  checkPermission(r, vh.name, 'configure', name, 'exchange');
  const existed = vh.exchanges.has(name);
  vh.declareExchange(name, {
    type, passive: false, durable: bool(body, 'durable', true), autoDelete: bool(body, 'auto_delete', false),
    internal: bool(body, 'internal', false), args: args(body),
  });
  return existed ? noContent : { status: 201 };
}

function deleteExchange(r: Req): ApiReply {
  const { vh, x } = exchangeOf(r);
  checkPermission(r, vh.name, 'configure', x.name, 'exchange');
  vh.deleteExchange(x.name, queryBool(r, 'if-unused'));
  return noContent;
}

function exchangeBindings(side: 'source' | 'destination'): Handler {
  return (r) => {
    const { vh, x } = exchangeOf(r);
    const all = vhostBindings(vh);
    return ok(all.filter((b) => (side === 'source' ? b.source === x.name : b.destination_type === 'exchange' && b.destination === x.name)));
  };
}

// -- bindings

function listBindings(r: Req): ApiReply {
  const out: BindingView[] = [];
  for (const vh of vhostScope(r, r.params[0])) out.push(...vhostBindings(vh));
  return ok(out);
}

// /api/bindings/{vhost}/e/{source}/{q|e}/{destination}[/{props}]
function bindingEnds(r: Req, kind: 'queue' | 'exchange') {
  const { vh, x } = exchangeOf(r);
  const destName = kind === 'queue' ? r.params[2] : exchangeName(r.params[2]);
  const exists = kind === 'queue' ? vh.queues.has(destName) : vh.exchanges.has(destName);
  if (!exists) throw notFound();
  const between = vhostBindings(vh).filter((b) => b.source === x.name && b.destination_type === kind && b.destination === destName);
  return { vh, x, destName, between };
}

function listBindingsBetween(kind: 'queue' | 'exchange'): Handler {
  return (r) => ok(bindingEnds(r, kind).between);
}

function createBinding(kind: 'queue' | 'exchange'): Handler {
  return async (r) => {
    const { vh, x, destName } = bindingEnds(r, kind);
    const body = await jsonBody(r);
    const routingKey = str(body, 'routing_key', '');
    const a = args(body);
    checkPermission(r, vh.name, 'write', destName, kind);
    checkPermission(r, vh.name, 'read', x.name, 'exchange');
    if (kind === 'queue') vh.bindQueue(destName, x.name, routingKey, a, null);
    else vh.bindExchange(destName, x.name, routingKey, a);
    const props = propertiesKey(routingKey, a, tableKey(a));
    const location = ['api', 'bindings', vh.name, 'e', x.name || 'amq.default', kind === 'queue' ? 'q' : 'e', destName, props]
      .map((s) => encodeURIComponent(s)).join('/');
    return { status: 201, headers: { Location: '/' + location } };
  };
}

function bindingByProps(r: Req, kind: 'queue' | 'exchange') {
  const ends = bindingEnds(r, kind);
  const b = ends.between.find((v) => v.properties_key === r.params[3]);
  if (!b) throw notFound();
  return { ...ends, b };
}

function getBinding(kind: 'queue' | 'exchange'): Handler {
  return (r) => ok(bindingByProps(r, kind).b);
}

function deleteBinding(kind: 'queue' | 'exchange'): Handler {
  return (r) => {
    const { vh, x, destName, b } = bindingByProps(r, kind);
    if (x.name === '') throw forbidden('operation not permitted on the default exchange');
    checkPermission(r, vh.name, 'write', destName, kind);
    checkPermission(r, vh.name, 'read', x.name, 'exchange');
    const binding = x.bindings.find((o) => o.dest.kind === kind && o.dest.name === destName && formatBinding(o, vh.name).properties_key === b.properties_key);
    if (!binding) throw notFound();
    if (kind === 'queue') vh.unbindQueue(destName, x.name, binding.routingKey, binding.args, (vh.queues.get(destName)?.exclusiveOwner) ?? null);
    else vh.unbindExchange(destName, x.name, binding.routingKey, binding.args);
    return noContent;
  };
}

// -- connections and channels

function visibleConnections(r: Req): Connection[] {
  const all = [...r.ctx.amqp.connections].filter((c) => c.connectionState !== 'closed');
  const mine = seesAll(r.user) ? all : all.filter((c) => c.user?.name === r.user.name);
  return mine.sort((a, b) => a.connectedAt - b.connectedAt || cmp(a.name, b.name));
}

function connectionOf(r: Req): Connection {
  const c = visibleConnections(r).find((x) => x.name === r.params[0]);
  if (!c) throw notFound();
  return c;
}

function deleteConnection(r: Req): ApiReply {
  const c = connectionOf(r);
  if (!isAdmin(r.user) && c.user?.name !== r.user.name) throw forbidden(`user '${r.user.name}' may not close connection '${c.name}'`);
  const reason = typeof r.headers['x-reason'] === 'string' ? r.headers['x-reason'] : 'Closed via management plugin';
  log.info(`closing AMQP connection ${c.name} on request of HTTP user '${r.user.name}'`);
  c.closeWithError(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`, 0, 0);
  return noContent;
}

function listChannels(r: Req, conns = visibleConnections(r)): unknown[] {
  const out: unknown[] = [];
  for (const c of conns) {
    if (connectionState(c) !== 'running') continue;
    for (const ch of c.openChannels.sort((a, b) => a.id - b.id)) out.push(formatChannel(c, ch, r.ctx.node));
  }
  return out;
}

function getChannel(r: Req): ApiReply {
  for (const c of visibleConnections(r)) {
    for (const ch of c.openChannels) if (channelName(c, ch) === r.params[0]) return ok(formatChannel(c, ch, r.ctx.node));
  }
  throw notFound();
}

// -- definitions

function getDefinitions(r: Req): ApiReply {
  requireAdmin(r);
  return ok({ product_name: 'Warren', product_version: VERSION, ...r.ctx.broker.exportDefinitions() });
}

async function postDefinitions(r: Req): Promise<ApiReply> {
  requireAdmin(r);
  const body = await jsonBody(r);
  for (const k of ['users', 'vhosts', 'permissions', 'exchanges', 'queues', 'bindings']) {
    if (body[k] !== undefined && !Array.isArray(body[k])) throw badRequest(`${k}: expected an array`);
  }
  try {
    r.ctx.broker.importDefinitions(body as unknown as Definitions);
  } catch (e) {
    if (e instanceof AmqpError) throw badRequest(`definitions import stopped: ${e.text}`);
    throw badRequest(`definitions import stopped: ${(e as Error).message}`);
  }
  log.info(`definitions imported over HTTP by user '${r.user.name}'`);
  return noContent;
}

// -- health

function healthAlarms(r: Req): ApiReply {
  if (r.ctx.broker.disk.alarmed) return { status: 503, body: { status: 'failed', reason: 'resource alarm(s) in effect: disk' } };
  return ok({ status: 'ok' });
}

// ---- the table ------------------------------------------------------------------------------------

const ROUTES: Route[] = [
  { pattern: ['api', 'overview'], methods: { GET: overview } },
  { pattern: ['api', 'whoami'], methods: { GET: (r) => ok({ name: r.user.name, tags: r.user.tags }) } },
  { pattern: ['api', 'nodes'], methods: { GET: nodes } },
  { pattern: ['api', 'vhosts'], methods: { GET: (r) => ok(visibleVhosts(r).map(formatVhost)) } },
  { pattern: ['api', 'vhosts', '*'], methods: { GET: (r) => ok(formatVhost(vhostOf(r, r.params[0]))) } },

  { pattern: ['api', 'queues'], methods: { GET: listQueues } },
  { pattern: ['api', 'queues', '*'], methods: { GET: listQueues } },
  { pattern: ['api', 'queues', '*', '*'], methods: {
    GET: (r) => ok(formatQueue(queueOf(r).q, r.ctx.node)), PUT: putQueue, DELETE: deleteQueue,
  } },
  { pattern: ['api', 'queues', '*', '*', 'contents'], methods: { DELETE: purgeQueue } },
  { pattern: ['api', 'queues', '*', '*', 'bindings'], methods: { GET: queueBindings } },

  { pattern: ['api', 'exchanges'], methods: { GET: listExchanges } },
  { pattern: ['api', 'exchanges', '*'], methods: { GET: listExchanges } },
  { pattern: ['api', 'exchanges', '*', '*'], methods: {
    GET: (r) => { const { vh, x } = exchangeOf(r); return ok(formatExchange(x, vh.name)); }, PUT: putExchange, DELETE: deleteExchange,
  } },
  { pattern: ['api', 'exchanges', '*', '*', 'bindings', 'source'], methods: { GET: exchangeBindings('source') } },
  { pattern: ['api', 'exchanges', '*', '*', 'bindings', 'destination'], methods: { GET: exchangeBindings('destination') } },

  { pattern: ['api', 'bindings'], methods: { GET: listBindings } },
  { pattern: ['api', 'bindings', '*'], methods: { GET: listBindings } },
  { pattern: ['api', 'bindings', '*', 'e', '*', 'q', '*'], methods: { GET: listBindingsBetween('queue'), POST: createBinding('queue') } },
  { pattern: ['api', 'bindings', '*', 'e', '*', 'q', '*', '*'], methods: { GET: getBinding('queue'), DELETE: deleteBinding('queue') } },
  { pattern: ['api', 'bindings', '*', 'e', '*', 'e', '*'], methods: { GET: listBindingsBetween('exchange'), POST: createBinding('exchange') } },
  { pattern: ['api', 'bindings', '*', 'e', '*', 'e', '*', '*'], methods: { GET: getBinding('exchange'), DELETE: deleteBinding('exchange') } },

  { pattern: ['api', 'connections'], methods: { GET: (r) => ok(visibleConnections(r).map((c) => formatConnection(c, r.ctx.node))) } },
  { pattern: ['api', 'connections', '*'], methods: { GET: (r) => ok(formatConnection(connectionOf(r), r.ctx.node)), DELETE: deleteConnection } },
  { pattern: ['api', 'connections', '*', 'channels'], methods: { GET: (r) => ok(listChannels(r, [connectionOf(r)])) } },
  { pattern: ['api', 'channels'], methods: { GET: (r) => ok(listChannels(r)) } },
  { pattern: ['api', 'channels', '*'], methods: { GET: getChannel } },

  { pattern: ['api', 'definitions'], methods: { GET: getDefinitions, POST: postDefinitions } },

  { pattern: ['api', 'healthchecks', 'node'], methods: { GET: () => ok({ status: 'ok' }) } },
  { pattern: ['api', 'health', 'checks', 'alarms'], methods: { GET: healthAlarms } },
  { pattern: ['api', 'health', 'checks', 'local-alarms'], methods: { GET: healthAlarms } },
];

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
