// `warren ctl`: rabbitmqctl's common verbs against a running broker, table and JSON output.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { MAIN, ROOT, startBroker, tempDir } from '../helpers/broker';
import { confirmChannel, connect, sleep, uniq } from '../helpers/amqp';
import * as amqplib from 'amqplib';
import { RawStreamClient, publishChunks } from '../helpers/stream-raw';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runCtl } = require(path.join(ROOT, 'dist', 'src', 'cli', 'ctl-command.js')) as typeof import('../../src/cli/ctl-command');

t.test('warren ctl', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const url = `http://127.0.0.1:${b.httpPort}`;
  // Most verbs run in this process (the same code as the command, without a node start each);
  // the exit codes and output of the real command are checked at the end.
  const ctl = (...args: string[]) => runCtl(['--url', url, ...args]);

  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const q = uniq('ctl');
  const ch = await confirmChannel(c);
  await ch.assertQueue(q);
  for (let i = 0; i < 4; i++) ch.sendToQueue(q, Buffer.from('x'));
  await ch.waitForConfirms();

  const st = await ctl('status');
  t.equal(st.code, 0);
  t.match(st.out, /^Node: warren@/m);
  t.match(st.out, new RegExp(`^Listeners: amqp 127\\.0\\.0\\.1:${b.port}, http 127\\.0\\.0\\.1:${b.httpPort}$`, 'm'));

  const lq = await ctl('list_queues');
  t.equal(lq.code, 0);
  t.match(lq.out, /^name\s+messages\n-+\s+-+\n/);
  t.match(lq.out, new RegExp(`^${q.replace('.', '\\.')}\\s+4$`, 'm'));
  const cols = await ctl('list_queues', 'name', 'messages_ready', 'durable', '--tsv');
  t.match(cols.out, new RegExp(`^${q.replace('.', '\\.')}\\t4\\ttrue$`, 'm'));
  const js = JSON.parse((await ctl('list_queues', '--json')).out);
  t.ok(js.some((x: { name: string; messages: number }) => x.name === q && x.messages === 4), '--json');
  for (const kind of ['exchanges', 'bindings', 'connections', 'channels', 'consumers', 'vhosts']) {
    const r = await ctl(`list_${kind}`);
    t.equal(r.code, 0, `list_${kind}`);
  }
  t.match((await ctl('list_connections', 'name', 'user')).out, /guest/);

  t.equal((await ctl('purge_queue', q)).code, 0);
  t.equal((await ch.checkQueue(q)).messageCount, 0);

  t.equal((await ctl('set_policy', '--apply-to', 'queues', '--priority', '3', 'ctl-p', `^${q}$`, '{"max-length": 2}')).code, 0);
  const pol = await fetch(`${url}/api/policies/%2F/ctl-p`, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
  t.match(await pol.json(), { pattern: `^${q}$`, priority: 3, 'apply-to': 'queues', definition: { 'max-length': 2 } });
  t.match((await ctl('list_policies')).out, /ctl-p/);
  const badPolicy = await ctl('set_policy', 'x', '.', '{"ha-mode":"all"}');
  t.equal(badPolicy.code, 1);
  t.match(badPolicy.err, /^warren ctl: PUT \/policies\/%2F\/x: 400 .*ha-mode.*\n$/);
  t.equal(badPolicy.err.split('\n').length, 2, 'one line');
  t.equal((await ctl('clear_policy', 'ctl-p')).code, 0);

  const dir = tempDir();
  const file = path.join(dir, 'defs.json');
  t.equal((await ctl('export_definitions', file)).code, 0);
  const defs = JSON.parse(fs.readFileSync(file, 'utf8'));
  t.ok(defs.queues.some((x: { name: string }) => x.name === q));
  defs.queues.push({ name: `${q}-imported`, vhost: '/', durable: true, auto_delete: false, arguments: {} });
  fs.writeFileSync(file, JSON.stringify(defs));
  t.equal((await ctl('import_definitions', file)).code, 0);
  await ch.checkQueue(`${q}-imported`);

  t.equal((await ctl('delete_queue', `${q}-imported`)).code, 0);
  const gone = await ctl('delete_queue', q, '--if-empty');
  t.equal(gone.code, 0);

  // close_connection: the client sees 320 with the reason
  const victim = await amqplib.connect(b.url, { clientProperties: { connection_name: 'ctl-victim' } });
  victim.on('error', () => undefined);
  const closed = new Promise<string>((r) => victim.on('close', (e?: Error) => r(e?.message ?? 'closed without error')));
  await sleep(50);
  const conns = JSON.parse((await ctl('list_connections', '--json')).out) as Array<{ name: string; user_provided_name?: string }>;
  const name = conns.find((x) => x.user_provided_name === 'ctl-victim')!.name;
  t.equal((await ctl('close_connection', name, 'maintenance')).code, 0);
  t.match(await closed, /320.*maintenance/);

  const unknown = await ctl('frobnicate');
  t.equal(unknown.code, 2);
  t.match(unknown.err, /unknown verb 'frobnicate'/);
  // the real command: table output and exit code 0
  const real = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(process.execPath, [MAIN, 'ctl', '--url', url, 'list_queues', 'name']);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => resolve({ code, out }));
  });
  t.equal(real.code, 0);
  t.match(real.out, /^name\n----\n/);
  const closedPort = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => { const p = (srv.address() as net.AddressInfo).port; srv.close(() => resolve(p)); });
  });
  const unreachable = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const p = spawn(process.execPath, [MAIN, 'ctl', '--url', `http://127.0.0.1:${closedPort}`, 'status']);
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, err }));
  });
  t.equal(unreachable.code, 1);
  t.equal(unreachable.err, `warren ctl: cannot reach http://127.0.0.1:${closedPort}: ECONNREFUSED\n`);

  // users, permissions and vhosts go through the access-control endpoints
  const users = await fetch(`${url}/api/users`, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
  if (users.status === 404) {
    t.skip('add_user, set_permissions, add_vhost ...: /api/users is not in this build (access control is merged separately)');
  } else {
    t.equal((await ctl('add_vhost', 'ctl-vh')).code, 0);
    t.equal((await ctl('add_user', 'ctl-user', 'pw1')).code, 0);
    t.equal((await ctl('set_user_tags', 'ctl-user', 'management')).code, 0);
    t.equal((await ctl('change_password', 'ctl-user', 'pw2')).code, 0);
    t.equal((await ctl('set_permissions', '-p', 'ctl-vh', 'ctl-user', '.*', '.*', '.*')).code, 0);
    const conn = await amqplib.connect(`amqp://ctl-user:pw2@127.0.0.1:${b.port}/ctl-vh`);
    await conn.close();
    t.match((await ctl('list_users')).out, /ctl-user\s+management/);
    t.equal((await ctl('delete_user', 'ctl-user')).code, 0);
    t.equal((await ctl('delete_vhost', 'ctl-vh')).code, 0);
  }
  await ch.close();
});

t.test('warren ctl list_stream_*: rabbitmq-streams\' verbs and default columns', async (t) => {
  const b = await startBroker({ logLevel: 'warning', stream: true });
  t.teardown(() => b.stop());
  const ctl = (...args: string[]) => runCtl(['--url', `http://127.0.0.1:${b.httpPort}`, ...args]);
  const s = uniq('ctl.stream');
  const r = await RawStreamClient.open(b.streamPort);
  t.teardown(() => r.close());
  t.equal((await r.request(0x0d, (w) => w.string(s).i32(0))).body.readUInt16BE(4), 1, 'stream created');
  await publishChunks(r, s, 3);
  const sub = await r.request(0x07, (w) => w.u8(4).string(s).u16(1).u16(10).i32(1).string('name').string('cref'));
  t.equal(sub.body.readUInt16BE(4), 1);
  for (let k = 0; k < 3; k++) await r.next((f) => f.key === 0x08);
  const conn = `127.0.0.1:${r.socket.localPort}`;

  const lc = await ctl('list_stream_connections', '--tsv');
  t.equal(lc.code, 0);
  t.match(lc.out, new RegExp(`^conn_name\n.*${conn.replace(/\./g, '\\.')} -> `, 'm'), 'conn_name, the default column');
  const cons = await ctl('list_stream_consumers', '--tsv');
  t.match(cons.out, /^connection_pid\tsubscription_id\tstream\tmessages_consumed\toffset\toffset_lag\tcredits\tproperties\n/);
  t.match(cons.out, new RegExp(`\\t4\\t${s.replace('.', '\\.')}\\t3\\t2\\t0\\t7\\t\\{"name":"cref"\\}$`, 'm'), 'one row: 3 consumed, at chunk 2, no lag, 7 credits left');
  const pubs = await ctl('list_stream_publishers', '--tsv', 'stream', 'reference', 'messages_published', 'messages_confirmed', 'messages_errored');
  t.match(pubs.out, new RegExp(`^${s.replace('.', '\\.')}\\t\\t3\\t3\\t0$`, 'm'), 'a publisher without reference: 3 published, 3 confirmed');
});
