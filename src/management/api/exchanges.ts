// /api/exchanges: list, declare, delete, the bindings an exchange is source or destination of.
import { checkPermission, vhostOf, vhostScope } from './access';
import { args, bool, jsonBody, queryBool, str } from './body';
import { type ApiReply, type Handler, type Req, type Route, created, noContent, notFound, ok } from './http';
import { listReply } from './listing';
import type { Exchange } from '../../broker/exchange';
import { formatExchange, vhostBindings } from '../format';

// The default exchange is "amq.default" in a path and "" in a listing.
export const exchangeName = (s: string) => (s === 'amq.default' ? '' : s);

function listExchanges(r: Req): ApiReply {
  const items: Array<{ x: Exchange; vhost: string }> = [];
  for (const vh of vhostScope(r, r.params[0])) for (const x of vh.exchanges.values()) items.push({ x, vhost: vh.name });
  return listReply(r, { items, name: (i) => i.x.name, secondary: (i) => i.vhost, format: (i) => formatExchange(i.x, i.vhost) });
}

export function exchangeOf(r: Req, i = 1) {
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
  return existed ? noContent : created;
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
    const items = all.filter((b) => (side === 'source' ? b.source === x.name : b.destination_type === 'exchange' && b.destination === x.name));
    return listReply(r, { items, name: (b) => b.destination, format: (b) => b as unknown as Record<string, unknown> });
  };
}

export const exchangeRoutes: Route[] = [
  { pattern: ['api', 'exchanges'], methods: { GET: listExchanges } },
  { pattern: ['api', 'exchanges', '*'], methods: { GET: listExchanges } },
  { pattern: ['api', 'exchanges', '*', '*'], methods: {
    GET: (r) => { const { vh, x } = exchangeOf(r); return ok(formatExchange(x, vh.name)); }, PUT: putExchange, DELETE: deleteExchange,
  } },
  { pattern: ['api', 'exchanges', '*', '*', 'bindings', 'source'], methods: { GET: exchangeBindings('source') } },
  { pattern: ['api', 'exchanges', '*', '*', 'bindings', 'destination'], methods: { GET: exchangeBindings('destination') } },
];
