// A follower forwards its TLS listeners (amqps, https, the Stream protocol's) to the leader's as
// bytes: the client's TLS session is with the leader, so certificate logins (EXTERNAL) and
// verify_peer work through a follower, and the leader still sees the client's own address (PROXY
// header before the TLS).
// The same certificate encrypts the replication stream.
import t from 'tap';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as tls from 'node:tls';
import amqp from 'amqplib';
import { etcdAvailable, startCluster } from '../helpers/cluster';
import { api } from '../helpers/http';
import { SERVER_EXT, issue, makePki } from '../helpers/certs';
import { tempDir } from '../helpers/broker';
import { FrameWriter } from '../../src/protocol/stream/frames';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The serial number of the certificate the replication listener on `port` presents. */
function replicationSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

t.test('amqps and https through a follower reach the leader, client certificates included', { skip: etcdAvailable() ? false : 'no etcd binary' }, async (t) => {
  const pki = makePki(tempDir('warren-pki-'));
  t.teardown(() => fs.rmSync(pki.dir, { recursive: true, force: true }));
  const c = await startCluster({ leaseTtl: 5, tls: ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.ca, '--tls-verify-peer'] });
  t.teardown(() => c.close());
  try {
    const leader = await c.leader();
    const f = c.nodes.find((n) => n !== leader)!;
    const base = `http://127.0.0.1:${leader.httpPort}`;
    t.equal((await api(base, 'PUT', '/api/users/tlsuser', { tags: '' })).status, 201);
    t.equal((await api(base, 'PUT', '/api/permissions/%2F/tlsuser', { configure: '.*', write: '.*', read: '.*' })).status, 201);
    const amqps = (cert?: { cert: string; key: string }, ca = pki.ca) => amqp.connect(
      { protocol: 'amqps', hostname: '127.0.0.1', port: f.tlsPort, username: 'guest', password: 'guest' },
      { servername: 'localhost', ca: [fs.readFileSync(ca)],
        ...(cert ? { cert: fs.readFileSync(cert.cert), key: fs.readFileSync(cert.key), credentials: amqp.credentials.external() } : {}) });
    // the follower learns the leader's TLS ports from etcd within a tick
    let conn: amqp.ChannelModel | null = null;
    let lastErr = '';
    for (let i = 0; i < 50 && conn === null; i++) {
      conn = await amqps(pki.client).catch((e: Error) => { lastErr = e.message; return null; });
      if (conn === null) await sleep(200);
    }
    t.ok(conn, `EXTERNAL login with a client certificate through the follower's amqps port (${lastErr})`);
    const ch = await conn!.createConfirmChannel();
    await ch.assertQueue('tls-px', { durable: true });
    ch.sendToQueue('tls-px', Buffer.from('over tls via follower'), { persistent: true });
    await ch.waitForConfirms();
    const m = await ch.get('tls-px', { noAck: true });
    t.equal(m && m.content.toString(), 'over tls via follower', 'published, confirmed and consumed');
    const clientPort = (conn as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort;
    await sleep(200);
    const conns = (await api(base, 'GET', '/api/connections')).body as Array<{ user: string; ssl: boolean; peer_port: number; peer_host: string }>;
    t.ok(conns.some((x) => x.user === 'tlsuser' && x.ssl && x.peer_port === clientPort && x.peer_host === '127.0.0.1'),
      `the leader lists tlsuser over TLS from the client's own address (127.0.0.1:${clientPort}): ${JSON.stringify(conns)}`);
    await conn!.close();

    const guest = await amqps();
    t.ok(guest, 'guest (loopback only) logs in with PLAIN over amqps through the follower');
    await guest.close();
    const foreign = await amqps(pki.otherClient).then(async (x) => { await x.close(); return 'accepted'; }, (e: Error) => e.message);
    t.not(foreign, 'accepted', `a client certificate from an untrusted CA is refused by the leader through the follower: ${foreign}`);
    const wrongCa = await amqps(undefined, pki.otherCa).then(async (x) => { await x.close(); return 'accepted'; }, (e: Error) => e.message);
    t.match(wrongCa, /certificate/, 'the client verifies the leader\'s certificate (end-to-end TLS)');

    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: f.httpsPort, path: '/api/overview', servername: 'localhost', ca: fs.readFileSync(pki.ca),
        headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', reject);
      req.end();
    });
    t.equal(status, 200, 'the HTTPS management API answers through the follower (guest from loopback)');

    // the Stream protocol over TLS too: peer properties answered by the leader, through the follower
    const answered = await new Promise<number>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: f.streamTlsPort, servername: 'localhost', ca: fs.readFileSync(pki.ca) }, () => {
        s.write(new FrameWriter().begin(0x11).u32(1).i32(0).end());
      });
      s.on('data', (d: Buffer) => { resolve(d.readUInt16BE(4)); s.destroy(); });
      s.on('error', reject);
    });
    t.equal(answered, 0x8011, 'the Stream protocol over TLS answers through the follower');

    // With --tls-cert and --tls-key, replication is encrypted too: the followers catch up over
    // TLS and enter the ISR.
    let isr: string[] = [];
    for (let i = 0; i < 150 && isr.length < 3; i++) { isr = await c.isr(); if (isr.length < 3) await sleep(200); }
    t.equal(isr.length, 3, `both followers in the ISR over an encrypted stream: ${isr.join(', ')}`);
    t.ok(c.nodes.every((n) => n.logs.some((l) => /replication over TLS/.test(l))), 'every node says its replication is over TLS');

    // Certificate rotation: new files and SIGHUP. The leader's replication listener hands the new
    // certificate to new follower connections; the open ones keep going.
    const before = await replicationSerial(leader.replicationPort);
    issue(pki.dir, 'ca', 'server2', '/CN=localhost', SERVER_EXT);
    fs.copyFileSync(`${pki.dir}/server2.pem`, pki.serverCert);
    fs.copyFileSync(`${pki.dir}/server2.key`, pki.serverKey);
    for (const n of c.nodes) n.signal('SIGHUP');
    for (let i = 0; i < 50 && !c.nodes.every((n) => n.logs.some((l) => l.includes('replication stream certificate and key reloaded'))); i++) await sleep(100);
    t.ok(c.nodes.every((n) => n.logs.some((l) => l.includes('replication stream certificate and key reloaded'))), 'every node reloads the replication certificate on SIGHUP');
    t.ok(leader.logs.some((l) => l.includes('TLS certificate, key and CA files reloaded')), 'the leader reloads its client listeners too');
    const after = await replicationSerial(leader.replicationPort);
    t.not(after, before, `new replication handshakes get the new certificate (${before} -> ${after})`);
    const conn2 = await amqps();
    const ch2 = await conn2.createConfirmChannel();
    ch2.sendToQueue('tls-px', Buffer.from('after rotation'), { persistent: true });
    await ch2.waitForConfirms();
    await conn2.close();
    t.equal((await c.isr()).length, 3, 'the followers stay in the ISR and a confirm (which waits for them) comes back');
  } catch (e) {
    t.comment(c.nodes.flatMap((n) => n.logs.slice(-20)).join('\n'));
    throw e;
  }
});
