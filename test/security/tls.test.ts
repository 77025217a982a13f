// TLS: amqplib and pika over amqps, EXTERNAL with a client certificate, a certificate from a CA
// the broker does not trust refused, TLS 1.2/1.3 only, HTTPS management, and a certificate
// reload on SIGHUP that leaves open connections alone.
import t from 'tap';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import * as amqplib from 'amqplib';
import { startBroker, tempDir, type RunningBroker } from '../helpers/broker';
import { connect, getOne, waitFor } from '../helpers/amqp';
import { api } from '../helpers/http';
import { type Pki, SERVER_EXT, issue, makePki } from '../helpers/certs';

const PYTHON = '/usr/bin/python3';
const hasPika = spawnSync(PYTHON, ['-c', 'import pika'], { stdio: 'ignore' }).status === 0;

function tlsArgs(pki: Pki, extra: string[] = []): string[] {
  return ['--tls-port', '0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.ca, '--http-tls-port', '0', ...extra];
}

function amqps(b: RunningBroker, opts: { ca?: string; cert?: { cert: string; key: string }; external?: boolean; user?: string } = {}) {
  const socketOptions: Record<string, unknown> = { servername: 'localhost', ca: [fs.readFileSync(opts.ca ?? '')] };
  if (opts.cert) { socketOptions.cert = fs.readFileSync(opts.cert.cert); socketOptions.key = fs.readFileSync(opts.cert.key); }
  if (opts.external) socketOptions.credentials = amqplib.credentials.external();
  const user = opts.user ?? 'guest';
  return amqplib.connect({ protocol: 'amqps', hostname: '127.0.0.1', port: b.tlsPort!, username: user, password: user }, socketOptions);
}

async function roundTrip(c: amqplib.ChannelModel): Promise<string | null> {
  const ch = await c.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('over tls'));
  const m = await getOne(ch, queue, { noAck: true });
  await ch.close();
  return m ? m.content.toString() : null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of every shape
function httpsGet(port: number, path: string, ca: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, servername: 'localhost', ca: fs.readFileSync(ca),
      headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

// The serial number of the certificate the server presents on a new connection.
function serverSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: fs.readFileSync(ca) }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.on('error', reject);
  });
}

t.test('TLS', async (t) => {
  const pki = makePki(tempDir('warren-pki-'));
  const b = await startBroker({ logLevel: 'info', extraArgs: tlsArgs(pki, ['--tls-verify-peer', '--auth-failure-delay', '50']) });
  t.teardown(() => b.stop());
  t.ok(b.tlsPort && b.httpsPort, `amqps on ${b.tlsPort}, https on ${b.httpsPort}`);
  await api(b, 'PUT', '/api/users/tlsuser', { tags: '' });
  await api(b, 'PUT', '/api/permissions/%2F/tlsuser', { configure: '.*', write: '.*', read: '.*' });

  t.test('amqplib over amqps, PLAIN, no client certificate (verify_peer lets it in)', async (t) => {
    const c = await amqps(b, { ca: pki.ca });
    t.equal(await roundTrip(c), 'over tls');
    const conns = (await api(b, 'GET', '/api/connections')).body;
    t.ok(conns.some((x: { ssl: boolean; user: string }) => x.ssl === true && x.user === 'guest'), '/api/connections shows ssl: true');
    await c.close();
  });

  t.test('EXTERNAL with a client certificate: the CN names the user', async (t) => {
    const c = await amqps(b, { ca: pki.ca, cert: pki.client, external: true });
    t.equal(await roundTrip(c), 'over tls');
    const conns = (await api(b, 'GET', '/api/connections')).body;
    t.ok(conns.some((x: { user: string }) => x.user === 'tlsuser'), 'logged in as tlsuser');
    await c.close();
    const plain = await amqps(b, { ca: pki.ca, user: 'tlsuser' }).then(() => 'accepted', () => 'refused');
    t.equal(plain, 'refused', 'tlsuser has no password: PLAIN is refused');
  });

  t.test('a client certificate from another CA is refused', async (t) => {
    const r = await amqps(b, { ca: pki.ca, cert: pki.otherClient }).then(async (c) => { await c.close(); return 'accepted'; }, (e: Error) => e.message);
    t.not(r, 'accepted', `refused: ${r}`);
    const wrongServerCa = await amqps(b, { ca: pki.otherCa }).then(async (c) => { await c.close(); return 'accepted'; }, (e: Error) => e.message);
    t.match(wrongServerCa, /certificate/, 'a client that trusts another CA refuses the server');
    const c = await amqps(b, { ca: pki.ca });
    t.equal(await roundTrip(c), 'over tls', 'a good client still works');
    await c.close();
  });

  t.test('TLS 1.2 and 1.3 only', async (t) => {
    const attempt = (min: tls.SecureVersion, max: tls.SecureVersion) => new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: b.tlsPort!, servername: 'localhost', ca: fs.readFileSync(pki.ca),
        minVersion: min, maxVersion: max, ciphers: 'DEFAULT:@SECLEVEL=0' }, () => { resolve(s.getProtocol() ?? '?'); s.destroy(); });
      s.on('error', (e) => resolve(`error: ${e.message}`));
    });
    t.equal(await attempt('TLSv1.2', 'TLSv1.2'), 'TLSv1.2');
    t.equal(await attempt('TLSv1.3', 'TLSv1.3'), 'TLSv1.3');
    t.match(await attempt('TLSv1', 'TLSv1.1'), /^error/, 'TLS 1.0/1.1 refused');
  });

  t.test('pika over amqps, PLAIN and EXTERNAL', { skip: !hasPika && 'python3-pika not installed' }, async (t) => {
    const script = `
import pika, ssl, sys
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
for mode in ('plain', 'external'):
    ctx = ssl.create_default_context(cafile=ca)
    if mode == 'external':
        ctx.load_cert_chain(cert, key)
        creds = pika.credentials.ExternalCredentials()
    else:
        creds = pika.PlainCredentials('guest', 'guest')
    params = pika.ConnectionParameters(host='127.0.0.1', port=port, credentials=creds, ssl_options=pika.SSLOptions(ctx, 'localhost'))
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    q = ch.queue_declare(queue='', exclusive=True).method.queue
    ch.basic_publish(exchange='', routing_key=q, body=b'pika over tls ' + mode.encode())
    for _ in range(100):
        m = ch.basic_get(q, auto_ack=True)
        if m[0] is not None:
            print(m[2].decode())
            break
        conn.sleep(0.02)
    conn.close()
`;
    const r = spawnSync(PYTHON, ['-c', script, String(b.tlsPort), pki.ca, pki.client.cert, pki.client.key], { encoding: 'utf8', timeout: 30000 });
    t.equal(r.status, 0, r.stderr);
    t.equal(r.stdout, 'pika over tls plain\npika over tls external\n');
  });

  t.test('HTTPS management API, and the listeners', async (t) => {
    const r = await httpsGet(b.httpsPort!, '/api/overview', pki.ca);
    t.equal(r.status, 200);
    t.match(r.body.listeners, [
      { protocol: 'amqp', port: b.port }, { protocol: 'amqp/ssl', port: b.tlsPort },
      { protocol: 'http', port: b.httpPort }, { protocol: 'https', port: b.httpsPort },
    ]);
    t.ok(b.logs.some((l) => l.includes(`:${b.tlsPort} (amqp/ssl, TLS 1.2-1.3)`)), 'startup log names the TLS listener');
  });

  t.test('SIGHUP reloads the certificate; open connections stay', async (t) => {
    const c = await amqps(b, { ca: pki.ca });
    const before = await serverSerial(b.tlsPort!, pki.ca);
    issue(pki.dir, 'ca', 'server2', '/CN=localhost', SERVER_EXT);
    fs.copyFileSync(`${pki.dir}/server2.pem`, pki.serverCert);
    fs.copyFileSync(`${pki.dir}/server2.key`, pki.serverKey);
    b.proc.kill('SIGHUP');
    t.ok(await waitFor(() => b.logs.some((l) => l.includes('TLS certificate, key and CA files reloaded')), 3000), 'reloaded');
    const after = await serverSerial(b.tlsPort!, pki.ca);
    t.not(after, before, 'new handshakes get the new certificate');
    t.equal(await serverSerial(b.httpsPort!, pki.ca), after, 'HTTPS too');
    t.equal(await roundTrip(c), 'over tls', 'the connection opened before the reload still works');
    await c.close();
    fs.writeFileSync(pki.serverKey, 'not a key');
    b.proc.kill('SIGHUP');
    t.ok(await waitFor(() => b.logs.some((l) => l.includes('TLS files not reloaded')), 3000), 'a broken key is refused...');
    t.equal(await serverSerial(b.tlsPort!, pki.ca), after, '...and the previous certificate stays in use');
  });
});

t.test('--tls-fail-if-no-peer-cert refuses clients without a certificate', async (t) => {
  const pki = makePki(tempDir('warren-pki-'));
  const b = await startBroker({ logLevel: 'warning', extraArgs: tlsArgs(pki, ['--tls-fail-if-no-peer-cert']) });
  t.teardown(() => b.stop());
  const none = await amqps(b, { ca: pki.ca }).then(async (c) => { await c.close(); return 'accepted'; }, (e: Error) => e.message);
  t.not(none, 'accepted', `no certificate: ${none}`);
  const withCert = await amqps(b, { ca: pki.ca, cert: pki.client });
  t.equal(await roundTrip(withCert), 'over tls', 'with a certificate (and PLAIN): accepted');
  await withCert.close();
  const plainTcp = await connect(b.url);
  await plainTcp.close();
  t.pass('the plain TCP listener is unaffected');
});
