// Pieces shared by the exchange and queue pages: bindings tables, the publish form, vhost lists.
import { h, clear, form, input, select, textarea, link } from '../dom.js';
import { api, enc, get, type Json } from '../api.js';
import { json } from '../format.js';
import { simpleTable } from '../table.js';

export async function vhostNames(): Promise<string[]> {
  const vs = await get<Array<{ name: string }>>('/api/vhosts');
  return vs.map((v) => v.name);
}

export function parseJsonField(text: string, what: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch { throw new Error(`${what}: expected a JSON object, like {"x-max-length": 10}`); }
}

export function publishForm(vhost: string, exchange: string, fixedKey?: string): HTMLElement {
  return form('Publish message', [
    ...(fixedKey === undefined ? [['Routing key', input('routing_key')] as [string, HTMLElement]] : []),
    ['Delivery mode', select('delivery_mode', ['1 - non-persistent', '2 - persistent'], '2 - persistent')],
    ['Headers (JSON)', input('headers', { placeholder: '{"key": "value"}' })],
    ['Properties (JSON)', input('properties', { placeholder: '{"content_type": "text/plain"}' })],
    ['Payload', textarea('payload')],
  ], 'Publish message', async (v) => {
    const properties = { ...parseJsonField(v.properties, 'Properties'), delivery_mode: Number(v.delivery_mode[0]) } as Record<string, unknown>;
    const headers = parseJsonField(v.headers, 'Headers');
    if (Object.keys(headers).length > 0) properties.headers = headers;
    const res = await api('POST', `/api/exchanges/${enc(vhost)}/${enc(exchange || 'amq.default')}/publish`,
      { properties, routing_key: fixedKey ?? v.routing_key, payload: v.payload, payload_encoding: 'string' });
    if (!res.routed) throw new Error('Message published, but not routed.');
  }, { id: 'publish-form' });
}

// Bindings of an exchange (as source, or as destination) or of a queue, with an unbind button.
export function bindingsTable(rows: Json[], vhost: string, onChange: () => void): HTMLTableElement {
  return simpleTable([
    { key: 'source', label: 'From', render: (b) => (b.source === '' ? h('span', { class: 'muted' }, '(default exchange)') : link(b.source, 'exchanges', vhost, b.source)) },
    { key: 'destination', label: 'To', render: (b) => link(b.destination, b.destination_type === 'queue' ? 'queues' : 'exchanges', vhost, b.destination) },
    { key: 'routing_key', label: 'Routing key' },
    { key: 'arguments', label: 'Arguments', render: (b) => h('span', { class: 'mono' }, json(b.arguments)) },
    { key: 'properties_key', label: '', render: (b) => (b.source === '' ? '' : h('button', { type: 'button', class: 'danger', onclick: async () => {
      const kind = b.destination_type === 'queue' ? 'q' : 'e';
      await api('DELETE', `/api/bindings/${enc(vhost)}/e/${enc(b.source)}/${kind}/${enc(b.destination)}/${enc(b.properties_key)}`);
      onChange();
    } }, 'Unbind')) },
  ], rows, 'No bindings.');
}

export function bindForm(vhost: string, side: { source?: string; queue?: string }, onDone: () => void): HTMLElement {
  const fields: Array<[string, HTMLElement]> = [];
  if (side.source === undefined) fields.push(['From exchange', input('source')]);
  else fields.push(['To', select('dest_type', ['queue', 'exchange'])], ['Destination', input('destination')]);
  fields.push(['Routing key', input('routing_key')], ['Arguments (JSON)', input('arguments', { placeholder: '{"x-match": "all"}' })]);
  return form('Add binding', fields, 'Bind', async (v) => {
    const source = side.source ?? v.source;
    const destType = side.queue !== undefined ? 'q' : v.dest_type === 'exchange' ? 'e' : 'q';
    const dest = side.queue ?? v.destination;
    await api('POST', `/api/bindings/${enc(vhost)}/e/${enc(source)}/${destType}/${enc(dest)}`, { routing_key: v.routing_key, arguments: parseJsonField(v.arguments, 'Arguments') });
    onDone();
  }, { id: 'bind-form' });
}

export function replace(el: HTMLElement, ...nodes: Node[]): void {
  clear(el);
  el.append(...nodes);
}
