// /api/bindings: list, and create/read/delete the bindings between an exchange and a queue or
// exchange (named by RabbitMQ's properties_key).
import { tableKey } from '../../broker/exchange';
import { checkPermission, vhostScope } from './access';
import { args, jsonBody, str } from './body';
import { type ApiReply, type Handler, type Req, type Route, forbidden, noContent, notFound, ok } from './http';
import { type BindingView, formatBinding, propertiesKey, vhostBindings } from '../format';
import { exchangeName, exchangeOf } from './exchanges';
import { listReply } from './listing';

function listBindings(r: Req): ApiReply {
  const out: BindingView[] = [];
  for (const vh of vhostScope(r, r.params[0])) out.push(...vhostBindings(vh));
  return listReply(r, { items: out, name: (b) => b.source, secondary: (b) => b.destination, format: (b) => b as unknown as Record<string, unknown> });
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

export const bindingRoutes: Route[] = [
  { pattern: ['api', 'bindings'], methods: { GET: listBindings } },
  { pattern: ['api', 'bindings', '*'], methods: { GET: listBindings } },
  { pattern: ['api', 'bindings', '*', 'e', '*', 'q', '*'], methods: { GET: listBindingsBetween('queue'), POST: createBinding('queue') } },
  { pattern: ['api', 'bindings', '*', 'e', '*', 'q', '*', '*'], methods: { GET: getBinding('queue'), DELETE: deleteBinding('queue') } },
  { pattern: ['api', 'bindings', '*', 'e', '*', 'e', '*'], methods: { GET: listBindingsBetween('exchange'), POST: createBinding('exchange') } },
  { pattern: ['api', 'bindings', '*', 'e', '*', 'e', '*', '*'], methods: { GET: getBinding('exchange'), DELETE: deleteBinding('exchange') } },
];
