// Overview: totals, message rate and queued-message charts over 1 minute to 1 day, node figures
// and listeners.
import { h, clear, cards, kv } from '../dom.js';
import { get } from '../api.js';
import { COLORS, RANGES, fromSamples, lineChart } from '../chart.js';
import { bytes, duration, num } from '../format.js';
import { simpleTable } from '../table.js';

let range = RANGES[1];

export async function overviewPage(root: HTMLElement): Promise<() => Promise<void>> {
  const totals = h('div');
  const charts = h('div', { class: 'charts' });
  const rangeSel = h('select', { 'aria-label': 'Chart range', id: 'chart-range' }, ...RANGES.map((r) => h('option', { value: r.label, selected: r === range }, r.label)));
  const nodeBox = h('div');
  const listeners = h('div');
  const clusterBox = h('div');
  root.append(h('h1', {}, 'Overview'), totals, h('div', { class: 'toolbar' }, h('h2', {}, 'Messages'), rangeSel), charts,
    h('h2', {}, 'Node'), nodeBox, clusterBox, h('h2', {}, 'Listeners'), listeners);

  async function refresh(): Promise<void> {
    const q = `msg_rates_age=${range.age}&msg_rates_incr=${range.incr}&lengths_age=${range.age}&lengths_incr=${range.incr}`;
    const [o, nodes] = await Promise.all([get(`/api/overview?${q}`), get('/api/nodes')]);
    clear(totals);
    totals.append(cards([
      ['Connections', num(o.object_totals.connections)], ['Channels', num(o.object_totals.channels)], ['Exchanges', num(o.object_totals.exchanges)],
      ['Queues', num(o.object_totals.queues)], ['Consumers', num(o.object_totals.consumers)],
      ['Ready', num(o.queue_totals.messages_ready)], ['Unacked', num(o.queue_totals.messages_unacknowledged)],
      ['Publish', `${num(o.message_stats.publish_details.rate)}/s`], ['Deliver', `${num(o.message_stats.deliver_get_details.rate)}/s`],
    ]));
    const ms = o.message_stats, qt = o.queue_totals;
    clear(charts);
    charts.append(
      lineChart('Message rates', [
        { label: 'publish', color: COLORS[0], points: fromSamples(ms.publish_details, true) },
        { label: 'confirm', color: COLORS[3], points: fromSamples(ms.confirm_details, true) },
        { label: 'deliver / get', color: COLORS[1], points: fromSamples(ms.deliver_get_details, true) },
        { label: 'ack', color: COLORS[2], points: fromSamples(ms.ack_details, true) },
      ], '/s'),
      lineChart('Queued messages', [
        { label: 'ready', color: COLORS[0], points: fromSamples(qt.messages_ready_details, false) },
        { label: 'unacked', color: COLORS[1], points: fromSamples(qt.messages_unacknowledged_details, false) },
        { label: 'total', color: COLORS[4], points: fromSamples(qt.messages_details, false) },
      ]),
    );
    const n = nodes[0] ?? {};
    clear(nodeBox);
    nodeBox.append(kv([
      ['Name', n.name], ['Product', `${o.product_name} ${o.product_version}`], ['Cluster', o.cluster_name], ['Uptime', duration(n.uptime)],
      ['Memory used', bytes(n.mem_used)], ['Heap limit', bytes(n.mem_limit)],
      ['Free disk', h('span', {}, bytes(n.disk_free), ' (limit ', bytes(n.disk_free_limit), ') ', h('span', { class: `pill ${n.disk_free_alarm ? 'bad' : 'good'}` }, n.disk_free_alarm ? 'alarm' : 'ok'))],
      ['Sockets', num(n.sockets_used)], ['Processors', num(n.processors)],
    ]));
    // A cluster (docs/clustering.md): the leader serves this page; followers with their lag.
    clear(clusterBox);
    if (n.cluster_role !== undefined) {
      const rows = nodes.map((x: Record<string, unknown>) => ({
        name: x.cluster_id ?? x.name, role: x.cluster_role, in_sync: x.in_sync ? 'yes' : 'no',
        lag: x.replication_lag_bytes === undefined ? '' : `${bytes(x.replication_lag_bytes as number)}, ${x.replication_lag_seconds} s`,
      }));
      clusterBox.append(h('h2', {}, 'Cluster nodes'), simpleTable([{ key: 'name', label: 'Node' }, { key: 'role', label: 'Role' },
        { key: 'in_sync', label: 'In sync' }, { key: 'lag', label: 'Replication lag' }], rows));
    }
    clear(listeners);
    listeners.append(simpleTable([{ key: 'protocol', label: 'Protocol' }, { key: 'ip_address', label: 'Address' }, { key: 'port', label: 'Port', numeric: false }], o.listeners));
  }
  rangeSel.addEventListener('change', () => { range = RANGES.find((r) => r.label === rangeSel.value) ?? range; void refresh(); });
  await refresh();
  return refresh;
}
