// Exchanges: list (add one), detail with bindings both ways, publish, add/remove bindings, delete.
import { h, kv, link, form, input, select } from '../dom.js';
import { api, enc, get } from '../api.js';
import { bool, json } from '../format.js';
import { serverTable } from '../table.js';
import { bindForm, bindingsTable, parseJsonField, publishForm, replace, vhostNames } from './common.js';

export async function exchangesPage(root: HTMLElement, params: string[]): Promise<() => Promise<void>> {
  if (params.length >= 2) return exchangeDetail(root, params[0], params[1]);
  const t = serverTable('/api/exchanges', [
    { key: 'vhost', label: 'Virtual host' },
    { key: 'name', label: 'Name', render: (x) => link(x.name === '' ? '(AMQP default)' : x.name, 'exchanges', x.vhost, x.name === '' ? 'amq.default' : x.name) },
    { key: 'type', label: 'Type' }, { key: 'durable', label: 'Durable', render: (x) => bool(x.durable) },
    { key: 'auto_delete', label: 'Auto-delete', render: (x) => bool(x.auto_delete) }, { key: 'internal', label: 'Internal', render: (x) => bool(x.internal) },
    { key: 'policy', label: 'Policy' }, { key: 'arguments', label: 'Arguments', sort: false, render: (x) => h('span', { class: 'mono' }, json(x.arguments)) },
  ], { id: 'exchanges-table' });
  const vhosts = await vhostNames();
  root.append(h('h1', {}, 'Exchanges'), t.el, form('Add a new exchange', [
    ['Virtual host', select('vhost', vhosts, '/')], ['Name', input('name', { required: true })],
    ['Type', select('type', ['direct', 'fanout', 'topic', 'headers'])], ['Durability', select('durable', ['true', 'false'])],
    ['Auto delete', select('auto_delete', ['false', 'true'])], ['Internal', select('internal', ['false', 'true'])],
    ['Arguments (JSON)', input('arguments', { placeholder: '{"alternate-exchange": "unrouted"}' })],
  ], 'Add exchange', async (v) => {
    await api('PUT', `/api/exchanges/${enc(v.vhost)}/${enc(v.name)}`, {
      type: v.type, durable: v.durable === 'true', auto_delete: v.auto_delete === 'true', internal: v.internal === 'true', arguments: parseJsonField(v.arguments, 'Arguments'),
    });
    await t.refresh();
  }, { id: 'add-exchange' }));
  await t.refresh();
  return t.refresh;
}

async function exchangeDetail(root: HTMLElement, vhost: string, name: string): Promise<() => Promise<void>> {
  const base = `/api/exchanges/${enc(vhost)}/${enc(name)}`;
  const info = h('div'), source = h('div'), dest = h('div');
  const isDefault = name === 'amq.default' || name === '';
  root.append(h('h1', {}, 'Exchange ', h('span', { class: 'mono' }, isDefault ? '(AMQP default)' : name), h('span', { class: 'muted' }, ` in ${vhost}`)), info,
    h('h2', {}, 'Bindings from this exchange'), source, h('h2', {}, 'Bindings to this exchange'), dest);
  async function refresh(): Promise<void> {
    const [x, from, to] = await Promise.all([get(base), get(`${base}/bindings/source`), get(`${base}/bindings/destination`)]);
    replace(info, kv([['Type', x.type], ['Durable', bool(x.durable)], ['Auto delete', bool(x.auto_delete)], ['Internal', bool(x.internal)],
      ['Policy', x.policy ?? ''], ['Arguments', h('span', { class: 'mono' }, json(x.arguments))]]));
    replace(source, bindingsTable(from, vhost, () => void refresh()));
    replace(dest, bindingsTable(to, vhost, () => void refresh()));
  }
  if (!isDefault) root.append(bindForm(vhost, { source: name }, () => void refresh()));
  root.append(publishForm(vhost, isDefault ? '' : name));
  if (!isDefault && !name.startsWith('amq.')) {
    root.append(form('Delete this exchange', [['Only if unused', select('if_unused', ['false', 'true'])]], 'Delete', async (v) => {
      await api('DELETE', `${base}${v.if_unused === 'true' ? '?if-unused=true' : ''}`);
      location.hash = '#/exchanges';
    }, { id: 'delete-exchange' }));
  }
  await refresh();
  return refresh;
}
