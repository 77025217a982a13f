// `warren ctl VERB ...`: rabbitmqctl's common verbs against a running broker's HTTP API.
// Output is a table (or tab-separated values with --tsv), or the API's JSON with --json.
//
//   warren ctl [--url http://localhost:15672] [-u guest] [--password guest] [-p vhost] VERB ...
import * as fs from 'node:fs';
import type { Command } from 'commander';

export interface CtlIO { out(s: string): void; err(s: string): void }
const PROCESS_IO: CtlIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

interface Ctx { url: string; auth: string; vhost: string; json: boolean; tsv: boolean; io: CtlIO }

export class CtlError extends Error {}

async function api(c: Ctx, method: string, p: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(c.url.replace(/\/$/, '') + '/api' + p, {
      method, headers: { authorization: c.auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  } catch (e) {
    throw new CtlError(`cannot reach ${c.url}: ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text; }
  if (res.status === 401) throw new CtlError(`access refused: the broker did not accept the credentials (${res.status})`);
  if (res.status >= 400) {
    const reason = String((parsed as { reason?: string })?.reason ?? text).replace(/\s*\n\s*/g, ' ').trim();
    throw new CtlError(res.status === 404 && !reason ? `not found: ${p}` : `${method} ${p}: ${res.status} ${reason}`);
  }
  return parsed;
}

const v = (s: string) => encodeURIComponent(s);

// rabbitmqctl column names that the HTTP API calls differently.
const ALIASES: Record<string, Record<string, string>> = {
  bindings: { source_name: 'source', destination_name: 'destination', destination_kind: 'destination_type', source_kind: '=exchange' },
  channels: { pid: 'name', consumer_count: 'consumer_count' },
  consumers: { queue_name: 'queue.name', channel_pid: 'channel_details.name' },
  users: { user: 'name' },
  connections: { pid: 'name' },
  // rabbitmq-streams' column names (the stream plugin's CLI, 3.10)
  stream_connections: { conn_name: 'name', connection_state: 'state', heartbeat: 'timeout', subscriptions: 'consumers' },
  stream_consumers: { connection_pid: 'connection_details.name', stream: 'queue.name', messages_consumed: 'consumed' },
  stream_publishers: {
    connection_pid: 'connection_details.name', stream: 'queue.name',
    messages_published: 'published', messages_confirmed: 'confirmed', messages_errored: 'errored',
  },
};

const LISTS: Record<string, { path: (c: Ctx) => string; cols: string[]; vhost: boolean }> = {
  queues: { path: (c) => `/queues/${v(c.vhost)}`, cols: ['name', 'messages'], vhost: true },
  exchanges: { path: (c) => `/exchanges/${v(c.vhost)}`, cols: ['name', 'type'], vhost: true },
  bindings: { path: (c) => `/bindings/${v(c.vhost)}`, cols: ['source_name', 'source_kind', 'destination_name', 'destination_kind', 'routing_key', 'arguments'], vhost: true },
  connections: { path: () => '/connections', cols: ['user', 'peer_host', 'peer_port', 'state'], vhost: false },
  channels: { path: () => '/channels', cols: ['pid', 'user', 'consumer_count', 'messages_unacknowledged'], vhost: false },
  consumers: { path: (c) => `/consumers/${v(c.vhost)}`, cols: ['queue_name', 'channel_pid', 'consumer_tag', 'ack_required', 'prefetch_count', 'active', 'arguments'], vhost: true },
  users: { path: () => '/users', cols: ['user', 'tags'], vhost: false },
  vhosts: { path: () => '/vhosts', cols: ['name'], vhost: false },
  policies: { path: (c) => `/policies/${v(c.vhost)}`, cols: ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'], vhost: true },
  // rabbitmq-streams list_stream_* verbs, with its default columns
  stream_connections: { path: () => '/stream/connections', cols: ['conn_name'], vhost: false },
  stream_consumers: {
    path: (c) => `/stream/consumers/${v(c.vhost)}`,
    cols: ['connection_pid', 'subscription_id', 'stream', 'messages_consumed', 'offset', 'offset_lag', 'credits', 'properties'], vhost: true,
  },
  stream_publishers: {
    path: (c) => `/stream/publishers/${v(c.vhost)}`,
    cols: ['connection_pid', 'publisher_id', 'stream', 'reference', 'messages_published', 'messages_confirmed', 'messages_errored'], vhost: true,
  },
};

function pick(row: Record<string, unknown>, col: string, kind: string): unknown {
  const path = ALIASES[kind]?.[col] ?? col;
  if (path.startsWith('=')) return path.slice(1);
  let x: unknown = row;
  for (const k of path.split('.')) x = x !== null && typeof x === 'object' ? (x as Record<string, unknown>)[k] : undefined;
  return x;
}

function cell(x: unknown): string {
  if (x === undefined || x === null) return '';
  if (Array.isArray(x)) return x.map(cell).join(',');
  if (typeof x === 'object') return JSON.stringify(x);
  return String(x);
}

export function table(cols: string[], rows: unknown[][], tsv: boolean): string {
  const text = rows.map((r) => r.map(cell));
  if (tsv) return [cols, ...text].map((r) => r.join('\t')).join('\n') + '\n';
  const w = cols.map((c, i) => Math.max(c.length, ...text.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((s, i) => s.padEnd(w[i])).join('  ').trimEnd();
  return [line(cols), line(w.map((n) => '-'.repeat(n))), ...text.map(line)].join('\n') + '\n';
}

function out(c: Ctx, json: unknown, text: () => string): void {
  c.io.out(c.json ? JSON.stringify(json, null, 2) + '\n' : text());
}

async function list(c: Ctx, kind: string, cols: string[]): Promise<void> {
  const spec = LISTS[kind];
  const rows = (await api(c, 'GET', spec.path(c))) as Array<Record<string, unknown>>;
  const use = cols.length > 0 ? cols : spec.cols;
  out(c, rows, () => table(use, rows.map((r) => use.map((col) => pick(r, col, kind))), c.tsv));
}

function need(args: string[], n: number, usage: string): void {
  if (args.length < n) throw new CtlError(`usage: warren ctl ${usage}`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's JSON, read field by field
type Json = any;

async function status(c: Ctx): Promise<void> {
  const o = (await api(c, 'GET', '/overview')) as Record<string, Json>;
  const n = ((await api(c, 'GET', '/nodes')) as Array<Record<string, Json>>)[0] ?? {};
  out(c, { overview: o, node: n }, () => {
    const rows: Array<[string, unknown]> = [
      ['Node', o.node], ['Product', `${o.product_name} ${o.product_version}`], ['Cluster name', o.cluster_name],
      ['Uptime (s)', Math.round((n.uptime ?? 0) / 1000)], ['OS pid', n.os_pid],
      ['Memory used (bytes)', n.mem_used], ['Free disk (bytes)', n.disk_free], ['Free disk limit (bytes)', n.disk_free_limit],
      ['Alarms', o.disk_free_alarm ? 'free disk space' : '(none)'],
      ['Listeners', (o.listeners ?? []).map((l: Json) => `${l.protocol} ${l.ip_address}:${l.port}`).join(', ')],
      ['Connections', o.object_totals?.connections], ['Channels', o.object_totals?.channels], ['Queues', o.object_totals?.queues],
      ['Consumers', o.object_totals?.consumers], ['Messages', o.queue_totals?.messages],
      ['Publish rate (msg/s)', o.message_stats?.publish_details?.rate ?? 0], ['Deliver rate (msg/s)', o.message_stats?.deliver_get_details?.rate ?? 0],
    ];
    return rows.map(([k, x]) => `${k}: ${cell(x)}`).join('\n') + '\n';
  });
}

type Verb = (c: Ctx, args: string[], o: Record<string, string | boolean | undefined>) => Promise<void>;

const done = (c: Ctx, msg: string) => { if (!c.json) c.io.out(msg + '\n'); };

const VERBS: Record<string, Verb> = {
  help: async (c) => { c.io.out(`verbs: ${Object.keys(VERBS).sort().join(', ')}\n`); },
  status: (c) => status(c),
  purge_queue: async (c, a) => { need(a, 1, 'purge_queue <queue>'); await api(c, 'DELETE', `/queues/${v(c.vhost)}/${v(a[0])}/contents`); done(c, `Purging queue '${a[0]}' in vhost '${c.vhost}' ...`); },
  delete_queue: async (c, a, o) => {
    need(a, 1, 'delete_queue <queue> [--if-empty] [--if-unused]');
    const q = [o.ifEmpty ? 'if-empty=true' : '', o.ifUnused ? 'if-unused=true' : ''].filter(Boolean).join('&');
    await api(c, 'DELETE', `/queues/${v(c.vhost)}/${v(a[0])}${q ? '?' + q : ''}`);
    done(c, `Deleting queue '${a[0]}' on vhost '${c.vhost}' ...`);
  },
  close_connection: async (c, a) => {
    need(a, 1, 'close_connection <connection name> [<explanation>]');
    const res = await fetch(c.url.replace(/\/$/, '') + `/api/connections/${v(a[0])}`, { method: 'DELETE', headers: { authorization: c.auth, 'x-reason': a[1] ?? 'Closed via warren ctl' } });
    if (res.status >= 400) throw new CtlError(`close_connection: ${res.status} ${(await res.text()) || 'not found'}`);
    done(c, `Closing connection ${a[0]}, reason: ${a[1] ?? 'Closed via warren ctl'}...`);
  },
  add_user: async (c, a) => { need(a, 2, 'add_user <username> <password>'); await api(c, 'PUT', `/users/${v(a[0])}`, { password: a[1], tags: '' }); done(c, `Adding user "${a[0]}" ...`); },
  delete_user: async (c, a) => { need(a, 1, 'delete_user <username>'); await api(c, 'DELETE', `/users/${v(a[0])}`); done(c, `Deleting user "${a[0]}" ...`); },
  change_password: async (c, a) => {
    need(a, 2, 'change_password <username> <new password>');
    const u = (await api(c, 'GET', `/users/${v(a[0])}`)) as { tags: string | string[] };
    await api(c, 'PUT', `/users/${v(a[0])}`, { password: a[1], tags: Array.isArray(u.tags) ? u.tags.join(',') : u.tags });
    done(c, `Changing password for user "${a[0]}" ...`);
  },
  set_user_tags: async (c, a) => {
    need(a, 1, 'set_user_tags <username> <tag> [...]');
    const u = (await api(c, 'GET', `/users/${v(a[0])}`)) as Record<string, unknown>;
    await api(c, 'PUT', `/users/${v(a[0])}`, { password_hash: u.password_hash, hashing_algorithm: u.hashing_algorithm, tags: a.slice(1).join(',') });
    done(c, `Setting tags for user "${a[0]}" to [${a.slice(1).join(', ')}] ...`);
  },
  set_permissions: async (c, a) => {
    need(a, 4, 'set_permissions [-p <vhost>] <username> <conf> <write> <read>');
    await api(c, 'PUT', `/permissions/${v(c.vhost)}/${v(a[0])}`, { configure: a[1], write: a[2], read: a[3] });
    done(c, `Setting permissions for user "${a[0]}" in vhost "${c.vhost}" ...`);
  },
  add_vhost: async (c, a) => { need(a, 1, 'add_vhost <vhost>'); await api(c, 'PUT', `/vhosts/${v(a[0])}`, {}); done(c, `Adding vhost "${a[0]}" ...`); },
  delete_vhost: async (c, a) => { need(a, 1, 'delete_vhost <vhost>'); await api(c, 'DELETE', `/vhosts/${v(a[0])}`); done(c, `Deleting vhost "${a[0]}" ...`); },
  set_policy: async (c, a, o) => {
    need(a, 3, 'set_policy [-p <vhost>] [--priority <n>] [--apply-to queues|exchanges|all] <name> <pattern> <definition JSON>');
    let definition: unknown;
    try { definition = JSON.parse(a[2]); } catch { throw new CtlError(`set_policy: the definition is not JSON: ${a[2]}`); }
    await api(c, 'PUT', `/policies/${v(c.vhost)}/${v(a[0])}`, { pattern: a[1], definition, priority: Number(o.priority ?? 0), 'apply-to': o.applyTo ?? 'all' });
    done(c, `Setting policy "${a[0]}" for pattern "${a[1]}" to "${a[2]}" with priority "${o.priority ?? 0}" for vhost "${c.vhost}" ...`);
  },
  clear_policy: async (c, a) => { need(a, 1, 'clear_policy [-p <vhost>] <name>'); await api(c, 'DELETE', `/policies/${v(c.vhost)}/${v(a[0])}`); done(c, `Clearing policy "${a[0]}" on vhost "${c.vhost}" ...`); },
  export_definitions: async (c, a) => {
    need(a, 1, 'export_definitions <file> (- for standard output)');
    const d = await api(c, 'GET', '/definitions');
    const text = JSON.stringify(d, null, 2) + '\n';
    if (a[0] === '-') c.io.out(text);
    else { fs.writeFileSync(a[0], text); done(c, `Exported definitions to ${a[0]}`); }
  },
  import_definitions: async (c, a) => {
    need(a, 1, 'import_definitions <file> (- for standard input)');
    const text = a[0] === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(a[0], 'utf8');
    try { JSON.parse(text); } catch (e) { throw new CtlError(`${a[0]}: invalid JSON: ${(e as Error).message}`); }
    await api(c, 'POST', '/definitions', text);
    done(c, `Imported definitions from ${a[0]}`);
  },
};

for (const kind of Object.keys(LISTS)) {
  VERBS[`list_${kind}`] = (c, a) => list(c, kind, a);
}

export function registerCtl(program: Command, io: CtlIO = PROCESS_IO, exit: (code: number) => void = (code) => process.exit(code)): void {
  program.command('ctl')
    .description("rabbitmqctl's common verbs against a running broker's HTTP API (warren ctl help lists them)")
    .argument('<verb>', 'what to do')
    .argument('[args...]', 'its arguments')
    .option('--url <url>', 'the broker\'s HTTP API (env WARREN_CTL_URL)', process.env.WARREN_CTL_URL ?? 'http://localhost:15672')
    .option('-u, --username <name>', 'user (env WARREN_CTL_USER)', process.env.WARREN_CTL_USER ?? 'guest')
    .option('--password <password>', 'password (env WARREN_CTL_PASSWORD)', process.env.WARREN_CTL_PASSWORD ?? 'guest')
    .option('-p, --vhost <vhost>', 'virtual host', '/')
    .option('--json', 'print the API\'s JSON')
    .option('--tsv', 'tab-separated output (no alignment)')
    .option('--if-empty', 'delete_queue: only if empty')
    .option('--if-unused', 'delete_queue: only if unused')
    .option('--priority <n>', 'set_policy: priority', '0')
    .option('--apply-to <what>', 'set_policy: queues, exchanges or all', 'all')
    .allowUnknownOption(false)
    .action(async (verb: string, args: string[], o: Record<string, string | boolean | undefined>) => {
      const fn = VERBS[verb];
      if (!fn) {
        io.err(`warren ctl: unknown verb '${verb}'; one of: ${Object.keys(VERBS).sort().join(', ')}\n`);
        exit(2);
        return;
      }
      const c: Ctx = {
        url: String(o.url), vhost: String(o.vhost), json: Boolean(o.json), tsv: Boolean(o.tsv), io,
        auth: 'Basic ' + Buffer.from(`${o.username}:${o.password}`).toString('base64'),
      };
      try {
        await fn(c, args, o);
      } catch (e) {
        io.err(`warren ctl: ${e instanceof CtlError ? e.message : (e as Error).message}\n`);
        exit(1);
      }
    });
}

// `warren ctl ARGS...` in this process (tests): the exit code, with the output collected.
export async function runCtl(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { Command } = await import('commander');
  let out = '', err = '', code = 0;
  const program = new Command().exitOverride().configureOutput({ writeOut: (s) => { out += s; }, writeErr: (s) => { err += s; } });
  registerCtl(program, { out: (s) => { out += s; }, err: (s) => { err += s; } }, (c) => { code = c; });
  try {
    await program.parseAsync(['node', 'warren', 'ctl', ...argv]);
  } catch (e) {
    code = (e as { exitCode?: number }).exitCode ?? 1;
  }
  return { code, out, err };
}
