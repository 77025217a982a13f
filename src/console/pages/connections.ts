// Connections and channels: lists and detail pages; close a connection.
import { h, clear, kv, link, form, input } from '../dom.js';
import { api, enc, get, type Json } from '../api.js';
import { bool, bytes, json, num, time } from '../format.js';
import { serverTable, simpleTable } from '../table.js';

export async function connectionsPage(root: HTMLElement, params: string[]): Promise<() => Promise<void>> {
  if (params.length > 0) return connectionDetail(root, params[0]);
  const t = serverTable('/api/connections', [
    { key: 'name', label: 'Name', render: (c) => link(c.user_provided_name ? `${c.user_provided_name} (${c.name})` : c.name, 'connections', c.name) },
    { key: 'vhost', label: 'Virtual host' }, { key: 'user', label: 'User' }, { key: 'state', label: 'State' },
    { key: 'channels', label: 'Channels', numeric: true }, { key: 'protocol', label: 'Protocol' },
    { key: 'recv_oct', label: 'From client', numeric: true, render: (c) => bytes(c.recv_oct) },
    { key: 'send_oct', label: 'To client', numeric: true, render: (c) => bytes(c.send_oct) },
    { key: 'connected_at', label: 'Connected', render: (c) => time(c.connected_at) },
  ], { id: 'connections-table', extraColumns: ['user_provided_name'] });
  root.append(h('h1', {}, 'Connections'), t.el);
  await t.refresh();
  return t.refresh;
}

async function connectionDetail(root: HTMLElement, name: string): Promise<() => Promise<void>> {
  const info = h('div');
  const channels = h('div');
  root.append(h('h1', {}, 'Connection ', h('span', { class: 'mono' }, name)), info, h('h2', {}, 'Channels'), channels,
    form('Close this connection', [['Reason', input('reason', { value: 'Closed via the Warren console' })]], 'Force close', async (v) => {
      await fetchClose(name, v.reason);
      location.hash = '#/connections';
    }, { id: 'close-connection' }));
  async function refresh(): Promise<void> {
    const c = await get(`/api/connections/${enc(name)}`);
    const chs = await get(`/api/connections/${enc(name)}/channels`);
    clear(info);
    info.append(kv([
      ['User', c.user], ['Virtual host', c.vhost], ['State', c.state], ['Protocol', c.protocol], ['Client', `${c.peer_host}:${c.peer_port}`],
      ['Server', `${c.host}:${c.port}`], ['Heartbeat', `${c.timeout} s`], ['Frame max', num(c.frame_max)], ['Channel max', num(c.channel_max)],
      ['Received', bytes(c.recv_oct)], ['Sent', bytes(c.send_oct)], ['Connected at', time(c.connected_at)],
      ['Client properties', h('span', { class: 'mono' }, json(c.client_properties))],
    ]));
    clear(channels);
    channels.append(channelTable(chs));
  }
  await refresh();
  return refresh;
}

async function fetchClose(name: string, reason: string): Promise<void> {
  await api('DELETE', `/api/connections/${enc(name)}`, undefined, { 'X-Reason': reason });
}

function channelTable(rows: Json[]): HTMLTableElement {
  return simpleTable([
    { key: 'name', label: 'Channel', render: (c) => link(c.name, 'channels', c.name) },
    { key: 'user', label: 'User' }, { key: 'state', label: 'State' },
    { key: 'consumer_count', label: 'Consumers', numeric: true }, { key: 'messages_unacknowledged', label: 'Unacked', numeric: true },
    { key: 'prefetch_count', label: 'Prefetch', numeric: true }, { key: 'confirm', label: 'Confirm', render: (c) => bool(c.confirm) },
    { key: 'transactional', label: 'Tx', render: (c) => bool(c.transactional) },
  ], rows, 'No channels.');
}

export async function channelsPage(root: HTMLElement, params: string[]): Promise<() => Promise<void>> {
  if (params.length > 0) return channelDetail(root, params[0]);
  const t = serverTable('/api/channels', [
    { key: 'name', label: 'Channel', render: (c) => link(c.name, 'channels', c.name) },
    { key: 'vhost', label: 'Virtual host' }, { key: 'user', label: 'User' }, { key: 'state', label: 'State' },
    { key: 'consumer_count', label: 'Consumers', numeric: true }, { key: 'messages_unacknowledged', label: 'Unacked', numeric: true },
    { key: 'prefetch_count', label: 'Prefetch', numeric: true }, { key: 'confirm', label: 'Confirm', render: (c) => bool(c.confirm) },
  ], { id: 'channels-table' });
  root.append(h('h1', {}, 'Channels'), t.el);
  await t.refresh();
  return t.refresh;
}

async function channelDetail(root: HTMLElement, name: string): Promise<() => Promise<void>> {
  const info = h('div');
  const consumers = h('div');
  root.append(h('h1', {}, 'Channel ', h('span', { class: 'mono' }, name)), info, h('h2', {}, 'Consumers'), consumers);
  async function refresh(): Promise<void> {
    const c = await get(`/api/channels/${enc(name)}`);
    const all = await get('/api/consumers');
    clear(info);
    info.append(kv([
      ['Connection', link(c.connection_details.name, 'connections', c.connection_details.name)], ['Number', c.number], ['User', c.user],
      ['Virtual host', c.vhost], ['State', c.state], ['Prefetch (per consumer)', num(c.prefetch_count)], ['Prefetch (channel)', num(c.global_prefetch_count)],
      ['Unacked', num(c.messages_unacknowledged)], ['Confirm mode', bool(c.confirm)], ['Transactional', bool(c.transactional)],
    ]));
    clear(consumers);
    consumers.append(simpleTable([
      { key: 'consumer_tag', label: 'Tag' }, { key: 'queue.name', label: 'Queue', render: (x) => link(x.queue.name, 'queues', x.queue.vhost, x.queue.name) },
      { key: 'ack_required', label: 'Ack required', render: (x) => bool(x.ack_required) }, { key: 'prefetch_count', label: 'Prefetch', numeric: true },
      { key: 'messages_unacknowledged', label: 'Unacked', numeric: true }, { key: 'exclusive', label: 'Exclusive', render: (x) => bool(x.exclusive) },
    ], all.filter((x: Json) => x.channel_details.name === name), 'No consumers on this channel.'));
  }
  await refresh();
  return refresh;
}
