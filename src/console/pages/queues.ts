// Queues and streams: list with filter, sort and paging (add a queue); detail with charts,
// consumers, bindings, get (requeue by default), publish, purge, delete and move; and, because
// every queue is a log, browsing by offset or time without consuming, and the unacked
// deliveries with their consumer and age.
import { h, kv, link, form, input, select } from '../dom.js';
import { api, enc, get, type Json } from '../api.js';
import { COLORS, fromSamples, lineChart } from '../chart.js';
import { bool, bytes, duration, json, num, rate } from '../format.js';
import { serverTable, simpleTable } from '../table.js';
import { bindForm, bindingsTable, parseJsonField, publishForm, replace, vhostNames } from './common.js';

export async function queuesPage(root: HTMLElement, params: string[]): Promise<() => Promise<void>> {
  if (params.length >= 2) return queueDetail(root, params[0], params[1]);
  const t = serverTable('/api/queues', [
    { key: 'vhost', label: 'Virtual host' },
    { key: 'name', label: 'Name', render: (q) => link(q.name, 'queues', q.vhost, q.name) },
    { key: 'type', label: 'Type' },
    { key: 'policy', label: 'Policy', render: (q) => [q.policy, q.operator_policy].filter(Boolean).join(' + ') },
    { key: 'consumers', label: 'Consumers', numeric: true },
    { key: 'messages_ready', label: 'Ready', numeric: true }, { key: 'messages_unacknowledged', label: 'Unacked', numeric: true },
    { key: 'messages', label: 'Total', numeric: true },
    { key: 'message_stats.publish_details.rate', label: 'Incoming', numeric: true, render: (q) => rate(q.message_stats?.publish_details?.rate) },
    { key: 'message_stats.deliver_get_details.rate', label: 'Deliver / get', numeric: true, render: (q) => rate(q.message_stats?.deliver_get_details?.rate) },
    { key: 'message_stats.ack_details.rate', label: 'Ack', numeric: true, render: (q) => rate(q.message_stats?.ack_details?.rate) },
  ], { id: 'queues-table', extraColumns: ['operator_policy'] });
  const vhosts = await vhostNames();
  root.append(h('h1', {}, 'Queues and Streams'), t.el, form('Add a new queue', [
    ['Virtual host', select('vhost', vhosts, '/')], ['Type', select('type', ['classic', 'quorum'])], ['Name', input('name', { required: true })],
    ['Durability', select('durable', ['true', 'false'])], ['Auto delete', select('auto_delete', ['false', 'true'])],
    ['Arguments (JSON)', input('arguments', { placeholder: '{"x-max-length": 1000, "x-message-ttl": 60000}' })],
  ], 'Add queue', async (v) => {
    const args = parseJsonField(v.arguments, 'Arguments');
    if (v.type !== 'classic') args['x-queue-type'] = v.type;
    await api('PUT', `/api/queues/${enc(v.vhost)}/${enc(v.name)}`, { durable: v.durable === 'true', auto_delete: v.auto_delete === 'true', arguments: args });
    await t.refresh();
  }, { id: 'add-queue' }));
  await t.refresh();
  return t.refresh;
}

async function queueDetail(root: HTMLElement, vhost: string, name: string): Promise<() => Promise<void>> {
  const base = `/api/queues/${enc(vhost)}/${enc(name)}`;
  const info = h('div'), charts = h('div', { class: 'charts' }), consumers = h('div'), bindings = h('div'), unacked = h('div');
  const got = h('div', { id: 'get-results' }), browsed = h('div', { id: 'browse-results' });
  root.append(h('h1', {}, 'Queue ', h('span', { class: 'mono' }, name), h('span', { class: 'muted' }, ` in ${vhost}`)), info, charts,
    h('h2', {}, 'Consumers'), consumers, h('h2', {}, 'Bindings'), bindings);

  async function refresh(): Promise<void> {
    const [q, bs, un] = await Promise.all([
      get(`${base}?msg_rates_age=600&msg_rates_incr=5&lengths_age=600&lengths_incr=5`), get(`${base}/bindings`), get(`${base}/unacked?count=50`),
    ]);
    const ms = q.message_stats ?? {};
    replace(info, kv([
      ['Type', q.type], ['State', q.state], ['Durable', bool(q.durable)], ['Auto delete', bool(q.auto_delete)], ['Exclusive', bool(q.exclusive)],
      ['Arguments', h('span', { class: 'mono' }, json(q.arguments))],
      ['Policy', q.policy ?? ''], ['Operator policy', q.operator_policy ?? ''],
      ['Effective policy definition', h('span', { class: 'mono' }, json(q.effective_policy_definition))],
      ['Messages', `${num(q.messages)} (ready ${num(q.messages_ready)}, unacked ${num(q.messages_unacknowledged)})`],
      ['Ready bytes', bytes(q.message_bytes_ready)], ['Consumers', num(q.consumers)],
      ['Rates', `publish ${rate(ms.publish_details?.rate)}, deliver/get ${rate(ms.deliver_get_details?.rate)}, ack ${rate(ms.ack_details?.rate)}`],
    ]));
    replace(charts,
      lineChart('Queued messages (10 min)', [
        { label: 'ready', color: COLORS[0], points: fromSamples(q.messages_ready_details, false) },
        { label: 'unacked', color: COLORS[1], points: fromSamples(q.messages_unacknowledged_details, false) },
      ]),
      lineChart('Message rates (10 min)', [
        { label: 'publish', color: COLORS[0], points: fromSamples(ms.publish_details, true) },
        { label: 'deliver / get', color: COLORS[1], points: fromSamples(ms.deliver_get_details, true) },
        { label: 'ack', color: COLORS[2], points: fromSamples(ms.ack_details, true) },
      ], '/s'));
    replace(consumers, simpleTable([
      { key: 'consumer_tag', label: 'Tag' },
      { key: 'channel_details.name', label: 'Channel', render: (c) => link(c.channel_details.name, 'channels', c.channel_details.name) },
      { key: 'ack_required', label: 'Ack required', render: (c) => bool(c.ack_required) }, { key: 'prefetch_count', label: 'Prefetch', numeric: true },
      { key: 'messages_unacknowledged', label: 'Unacked', numeric: true }, { key: 'active', label: 'Active', render: (c) => bool(c.active) },
      { key: 'arguments', label: 'Arguments', render: (c) => json(c.arguments) },
    ], q.consumer_details ?? [], 'No consumers.'));
    replace(bindings, bindingsTable(bs, vhost, () => void refresh()));
    replace(unacked, h('p', { class: 'muted' }, `${num(un.total)} unacknowledged deliveries${un.total > un.items.length ? `, the ${un.items.length} oldest shown` : ''}.`),
      simpleTable([
        { key: 'age_ms', label: 'Age', render: (m) => duration(m.age_ms) }, { key: 'consumer_tag', label: 'Consumer', render: (m) => m.consumer_tag ?? '(basic.get)' },
        { key: 'channel', label: 'Channel', render: (m) => link(m.channel, 'channels', m.channel) }, { key: 'delivery_tag', label: 'Tag', numeric: true },
        { key: 'routing_key', label: 'Routing key' }, { key: 'payload', label: 'Payload', render: (m) => h('span', { class: 'mono' }, String(m.payload ?? '').slice(0, 120)) },
      ], un.items, 'No unacknowledged deliveries.'));
  }

  root.append(
    bindForm(vhost, { queue: name }, () => void refresh()),
    form('Get messages', [
      ['Ack mode', select('ackmode', ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'], 'ack_requeue_true')],
      ['Encoding', select('encoding', ['auto', 'base64'])], ['Messages', input('count', { value: '1', type: 'number', min: 1 })],
      ['Truncate at (bytes)', input('truncate', { value: '50000', type: 'number', min: 0 })],
    ], 'Get messages', async (v) => {
      const msgs = await api('POST', `${base}/get`, { count: Number(v.count), ackmode: v.ackmode, encoding: v.encoding, truncate: Number(v.truncate) });
      replace(got, ...(msgs.length === 0 ? [h('p', { class: 'muted' }, 'Queue is empty.')] : msgs.map((m: Json, i: number) => messageBox(`Message ${i + 1}`, m, [
        ['Redelivered', bool(m.redelivered)], ['Remaining in queue', num(m.message_count)]]))));
      await refresh();
    }, { id: 'get-form' }), got,
    publishForm(vhost, '', name),
    form('Move messages', [
      ['Destination queue', input('destination', { required: true })],
      ['Destination broker URI', input('uri', { placeholder: 'this broker; or amqp://user:password@host/vhost' })],
    ], 'Move messages', async (v) => {
      if (v.uri) {
        // to another broker: a shovel that deletes itself once the queue is moved, as RabbitMQ's console does it
        const shovel = `Move from ${name}`;
        await api('PUT', `/api/parameters/shovel/${enc(vhost)}/${enc(shovel)}`, { value: {
          'src-uri': 'amqp://', 'src-queue': name, 'dest-uri': v.uri, 'dest-queue': v.destination, 'ack-mode': 'on-confirm', 'src-delete-after': 'queue-length',
        } });
        return `Moving messages with the shovel '${shovel}' (see Admin, Shovels).`;
      }
      const r = await api('POST', `${base}/move`, { destination: v.destination });
      await refresh();
      return `Moved ${r.moved} messages.`;
    }, { id: 'move-form' }),
    form('Browse messages (without consuming them)', [
      ['From offset', input('offset', { type: 'number', min: 0, placeholder: 'first' })], ['Or from time', input('from_time', { type: 'datetime-local' })],
      ['Messages', input('count', { value: '20', type: 'number', min: 1, max: 500 })], ['Include consumed', select('include_acked', ['false', 'true'])],
    ], 'Browse', async (v) => {
      const p = new URLSearchParams({ count: v.count, include_acked: v.include_acked });
      if (v.offset !== '') p.set('offset', v.offset);
      else if (v.from_time !== '') p.set('from_time', String(new Date(v.from_time).getTime()));
      const r = await api('GET', `${base}/messages?${p}`);
      replace(browsed, h('p', { class: 'muted' }, `Offsets ${num(r.first_offset)} to ${num(r.next_offset - 1)} in the log; next page from offset ${num(r.continue_at)}.`),
        ...r.items.map((m: Json) => messageBox(`Offset ${m.offset}`, m, [['Time', m.timestamp], ['Persistent', bool(m.persistent)], ['Consumed', bool(m.consumed)]])));
    }, { id: 'browse-form' }), browsed,
    h('h2', {}, 'Unacknowledged messages'), unacked,
    form('Purge', [], 'Purge messages', async () => { await api('DELETE', `${base}/contents`); await refresh(); }, { id: 'purge-form' }),
    form('Delete', [['Only if unused', select('if_unused', ['false', 'true'])], ['Only if empty', select('if_empty', ['false', 'true'])]], 'Delete queue', async (v) => {
      const p = new URLSearchParams();
      if (v.if_unused === 'true') p.set('if-unused', 'true');
      if (v.if_empty === 'true') p.set('if-empty', 'true');
      await api('DELETE', `${base}${p.toString() ? '?' + p : ''}`);
      location.hash = '#/queues';
    }, { id: 'delete-form' }),
  );
  await refresh();
  return refresh;
}

function messageBox(title: string, m: Json, extra: Array<[string, Node | string]>): HTMLElement {
  const box = h('div', { class: 'msg' }, h('strong', {}, title));
  box.append(kv([['Exchange', m.exchange === '' ? '(AMQP default)' : m.exchange], ['Routing key', m.routing_key], ...extra,
    ['Properties', h('span', { class: 'mono' }, json(m.properties))], ['Payload', `${num(m.payload_bytes)} bytes, encoding: ${m.payload_encoding}`]]));
  const pre = h('pre', { class: 'payload' });
  pre.textContent = m.payload;
  box.append(pre);
  return box;
}

