// Admin: users, virtual hosts, permissions, policies and operator policies, limits, shovels and
// federation. Users, vhosts, permissions and limits are RabbitMQ's access-control endpoints; a
// build without them says so instead of failing.
import { h, form, input, select, textarea } from '../dom.js';
import { ApiError, api, enc, get, type Json } from '../api.js';
import { json } from '../format.js';
import { simpleTable } from '../table.js';
import { parseJsonField, replace, vhostNames } from './common.js';

const TABS: Array<[string, string]> = [['users', 'Users'], ['vhosts', 'Virtual hosts'], ['permissions', 'Permissions'], ['policies', 'Policies'],
  ['limits', 'Limits'], ['shovels', 'Shovels'], ['federation', 'Federation']];

export async function adminPage(root: HTMLElement, params: string[]): Promise<() => Promise<void>> {
  const tab = TABS.some(([k]) => k === params[0]) ? params[0] : 'users';
  root.append(h('h1', {}, 'Admin'), h('nav', { class: 'tabs' }, ...TABS.map(([k, label]) => h('a', { href: `#/admin/${k}`, class: k === tab ? 'active' : '' }, label))));
  const body = h('div', { id: `admin-${tab}` });
  root.append(body);
  const render = RENDER[tab];
  const refresh = await render(body);
  return refresh;
}

// Lists from endpoints this build may not have: a 404 becomes a note, not an error.
async function optional<T>(path: string, fallback: T): Promise<{ value: T; missing: boolean }> {
  try { return { value: await get<T>(path), missing: false }; } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return { value: fallback, missing: true };
    throw e;
  }
}

const missingNote = (what: string) => h('p', { class: 'muted' }, `${what} are not available in this build of Warren.`);

type Render = (body: HTMLElement) => Promise<() => Promise<void>>;

const users: Render = async (body) => {
  const list = h('div');
  body.append(list, form('Add or update a user', [
    ['Username', input('name', { required: true })], ['Password', input('password', { type: 'password' })],
    ['Tags', input('tags', { placeholder: 'administrator, monitoring, policymaker, management' })],
  ], 'Add user', async (v) => {
    await api('PUT', `/api/users/${enc(v.name)}`, { password: v.password, tags: v.tags });
    await refresh();
  }, { id: 'add-user' }));
  async function refresh(): Promise<void> {
    const r = await optional<Json[]>('/api/users', []);
    replace(list, r.missing ? missingNote('Users') : simpleTable([
      { key: 'name', label: 'Name' }, { key: 'tags', label: 'Tags', render: (u) => (Array.isArray(u.tags) ? u.tags.join(', ') : String(u.tags ?? '')) },
      { key: 'hashing_algorithm', label: 'Password hash' },
      { key: 'delete', label: '', render: (u) => h('button', { type: 'button', class: 'danger', onclick: async () => { await api('DELETE', `/api/users/${enc(u.name)}`); await refresh(); } }, 'Delete') },
    ], r.value));
  }
  await refresh();
  return refresh;
};

const vhosts: Render = async (body) => {
  const list = h('div');
  body.append(list, form('Add a virtual host', [['Name', input('name', { required: true })], ['Description', input('description')]], 'Add virtual host', async (v) => {
    await api('PUT', `/api/vhosts/${enc(v.name)}`, { description: v.description });
    await refresh();
  }, { id: 'add-vhost' }));
  async function refresh(): Promise<void> {
    const vs = await get<Json[]>('/api/vhosts');
    replace(list, simpleTable([
      { key: 'name', label: 'Name' }, { key: 'messages', label: 'Messages', numeric: true },
      { key: 'messages_ready', label: 'Ready', numeric: true }, { key: 'messages_unacknowledged', label: 'Unacked', numeric: true },
      { key: 'delete', label: '', render: (v) => h('button', { type: 'button', class: 'danger', onclick: async () => { await api('DELETE', `/api/vhosts/${enc(v.name)}`); await refresh(); } }, 'Delete') },
    ], vs));
  }
  await refresh();
  return refresh;
};

const permissions: Render = async (body) => {
  const list = h('div'), topic = h('div');
  const names = await vhostNames();
  body.append(list, form('Set permission', [
    ['User', input('user', { required: true })], ['Virtual host', select('vhost', names, '/')],
    ['Configure regexp', input('configure', { value: '.*' })], ['Write regexp', input('write', { value: '.*' })], ['Read regexp', input('read', { value: '.*' })],
  ], 'Set permission', async (v) => {
    await api('PUT', `/api/permissions/${enc(v.vhost)}/${enc(v.user)}`, { configure: v.configure, write: v.write, read: v.read });
    await refresh();
  }, { id: 'set-permission' }), h('h2', {}, 'Topic permissions'), topic);
  async function refresh(): Promise<void> {
    const r = await optional<Json[]>('/api/permissions', []);
    replace(list, r.missing ? missingNote('Permissions') : simpleTable([
      { key: 'user', label: 'User' }, { key: 'vhost', label: 'Virtual host' }, { key: 'configure', label: 'Configure' },
      { key: 'write', label: 'Write' }, { key: 'read', label: 'Read' },
      { key: 'x', label: '', render: (p) => h('button', { type: 'button', class: 'danger', onclick: async () => { await api('DELETE', `/api/permissions/${enc(p.vhost)}/${enc(p.user)}`); await refresh(); } }, 'Clear') },
    ], r.value));
    const tp = await optional<Json[]>('/api/topic-permissions', []);
    replace(topic, tp.missing ? missingNote('Topic permissions') : simpleTable([
      { key: 'user', label: 'User' }, { key: 'vhost', label: 'Virtual host' }, { key: 'exchange', label: 'Exchange' },
      { key: 'write', label: 'Write' }, { key: 'read', label: 'Read' },
    ], tp.value));
  }
  await refresh();
  return refresh;
};

const policies: Render = async (body) => {
  const list = h('div'), ops = h('div');
  const names = await vhostNames();
  const policyForm = (kind: 'policies' | 'operator-policies', title: string, id: string) => form(title, [
    ['Virtual host', select('vhost', names, '/')], ['Name', input('name', { required: true })], ['Pattern', input('pattern', { required: true, placeholder: '^amq\\.' })],
    ['Apply to', select('apply_to', kind === 'policies' ? ['queues', 'exchanges', 'all'] : ['queues'])], ['Priority', input('priority', { type: 'number', value: '0' })],
    ['Definition (JSON)', textarea('definition', { placeholder: '{"max-length": 1000, "dead-letter-exchange": "dlx"}' })],
  ], 'Add / update policy', async (v) => {
    await api('PUT', `/api/${kind}/${enc(v.vhost)}/${enc(v.name)}`, { pattern: v.pattern, 'apply-to': v.apply_to, priority: Number(v.priority || 0), definition: parseJsonField(v.definition, 'Definition') });
    await refresh();
  }, { id });
  const table = (kind: string, rows: Json[]) => simpleTable([
    { key: 'vhost', label: 'Virtual host' }, { key: 'name', label: 'Name' }, { key: 'pattern', label: 'Pattern' },
    { key: 'apply-to', label: 'Apply to' }, { key: 'definition', label: 'Definition', render: (p) => h('span', { class: 'mono' }, json(p.definition)) },
    { key: 'priority', label: 'Priority', numeric: true },
    { key: 'x', label: '', render: (p) => h('button', { type: 'button', class: 'danger', onclick: async () => { await api('DELETE', `/api/${kind}/${enc(p.vhost)}/${enc(p.name)}`); await refresh(); } }, 'Clear') },
  ], rows, 'No policies.');
  body.append(h('h2', {}, 'User policies'), list, policyForm('policies', 'Add / update a policy', 'add-policy'),
    h('h2', {}, 'Operator policies'), ops, policyForm('operator-policies', 'Add / update an operator policy', 'add-operator-policy'));
  async function refresh(): Promise<void> {
    replace(list, table('policies', await get('/api/policies')));
    replace(ops, table('operator-policies', await get('/api/operator-policies')));
  }
  await refresh();
  return refresh;
};

const limits: Render = async (body) => {
  const vl = h('div'), ul = h('div');
  const names = await vhostNames();
  body.append(h('h2', {}, 'Virtual host limits'), vl, form('Set a virtual host limit', [
    ['Virtual host', select('vhost', names, '/')], ['Limit', select('name', ['max-connections', 'max-queues'])], ['Value', input('value', { type: 'number', required: true })],
  ], 'Set limit', async (v) => {
    await api('PUT', `/api/vhost-limits/${enc(v.vhost)}/${enc(v.name)}`, { value: Number(v.value) });
    await refresh();
  }, { id: 'set-vhost-limit' }), h('h2', {}, 'User limits'), ul, form('Set a user limit', [
    ['User', input('user', { required: true })], ['Limit', select('name', ['max-connections', 'max-channels'])], ['Value', input('value', { type: 'number', required: true })],
  ], 'Set limit', async (v) => {
    await api('PUT', `/api/user-limits/${enc(v.user)}/${enc(v.name)}`, { value: Number(v.value) });
    await refresh();
  }, { id: 'set-user-limit' }));
  async function refresh(): Promise<void> {
    const v = await optional<Json[]>('/api/vhost-limits', []);
    replace(vl, v.missing ? missingNote('Virtual host limits') : simpleTable([{ key: 'vhost', label: 'Virtual host' }, { key: 'value', label: 'Limits', render: (x) => json(x.value) }], v.value, 'No limits.'));
    const u = await optional<Json[]>('/api/user-limits', []);
    replace(ul, u.missing ? missingNote('User limits') : simpleTable([{ key: 'user', label: 'User' }, { key: 'value', label: 'Limits', render: (x) => json(x.value) }], u.value, 'No limits.'));
  }
  await refresh();
  return refresh;
};

// Shovels and federation upstreams: the parameters, and the links' status where the API has it.
function linkPage(component: 'shovel' | 'federation-upstream', statusPath: string, title: string, example: string): Render {
  return async (body) => {
    const list = h('div'), status = h('div');
    const names = await vhostNames();
    body.append(h('h2', {}, title), list, form(`Add a ${component}`, [
      ['Virtual host', select('vhost', names, '/')], ['Name', input('name', { required: true })], ['Definition (JSON)', textarea('value', { placeholder: example })],
    ], 'Add', async (v) => {
      await api('PUT', `/api/parameters/${component}/${enc(v.vhost)}/${enc(v.name)}`, { value: parseJsonField(v.value, 'Definition') });
      await refresh();
    }, { id: `add-${component}` }), h('h2', {}, 'Status'), status);
    async function refresh(): Promise<void> {
      const params = await get<Json[]>(`/api/parameters/${component}`);
      replace(list, simpleTable([
        { key: 'vhost', label: 'Virtual host' }, { key: 'name', label: 'Name' }, { key: 'value', label: 'Definition', render: (p) => h('span', { class: 'mono' }, json(p.value)) },
        { key: 'x', label: '', render: (p) => h('button', { type: 'button', class: 'danger', onclick: async () => { await api('DELETE', `/api/parameters/${component}/${enc(p.vhost)}/${enc(p.name)}`); await refresh(); } }, 'Delete') },
      ], params, `No ${component} parameters.`));
      const st = await optional<Json[]>(statusPath, []);
      replace(status, st.missing ? h('p', { class: 'muted' }, `The ${component === 'shovel' ? 'shovel' : 'federation'} links themselves are not running in this build: the definitions above are stored and exported, and take effect when link support is added.`)
        : simpleTable(component === 'shovel'
          ? [{ key: 'name', label: 'Name' }, { key: 'vhost', label: 'Virtual host' }, { key: 'state', label: 'State' }, { key: 'reason', label: 'Reason' },
            { key: 'forwarded', label: 'Forwarded' }, { key: 'pending', label: 'Awaiting confirm' }, { key: 'timestamp', label: 'Since' }]
          : [{ key: 'vhost', label: 'Virtual host' }, { key: 'type', label: 'Type' }, { key: 'x', label: 'Exchange or queue', render: (l) => String(l.exchange ?? l.queue ?? '') },
            { key: 'upstream', label: 'Upstream' }, { key: 'uri', label: 'URI' }, { key: 'status', label: 'Status' }, { key: 'error', label: 'Error' },
            { key: 'timestamp', label: 'Since' }], st.value, 'No links.'));
    }
    await refresh();
    return refresh;
  };
}

const RENDER: Record<string, Render> = {
  users, vhosts, permissions, policies, limits,
  shovels: linkPage('shovel', '/api/shovels', 'Shovels', '{"src-uri": "amqp://", "src-queue": "in", "dest-uri": "amqp://remote", "dest-queue": "out"}'),
  federation: linkPage('federation-upstream', '/api/federation-links', 'Federation upstreams', '{"uri": "amqp://upstream", "max-hops": 1}'),
};

