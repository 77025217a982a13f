// Clients may connect to any node: a follower forwards AMQP and HTTP to the leader with a
// PROXY protocol header, so the leader sees (and lists) the client's own address.
import t from 'tap';
import amqp from 'amqplib';
import * as net from 'node:net';
import { etcdAvailable, startCluster } from '../helpers/cluster';
import { GUEST } from '../helpers/http';
import { closeStreamClient } from '../helpers/stream-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a follower forwards AMQP, HTTP and the Stream protocol to the leader, keeping the client address', { skip: etcdAvailable() ? false : 'no etcd binary' }, async (t) => {
  const c = await startCluster({ leaseTtl: 5, stream: true });
  t.teardown(() => c.close());
  try {
    const leader = await c.leader();
    const f = c.nodes.find((n) => n !== leader)!;
    // the follower learns the leader's ports from etcd within a tick
    let conn: amqp.ChannelModel | null = null;
    for (let i = 0; i < 50 && conn === null; i++) {
      conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${f.port}`).catch(() => null);
      if (conn === null) await sleep(200);
    }
    t.ok(conn, 'guest (a loopback-only user) connects through a follower');
    const ch = await conn!.createConfirmChannel();
    await ch.assertQueue('px', { durable: true });
    ch.sendToQueue('px', Buffer.from('via follower'), { persistent: true });
    await ch.waitForConfirms();
    const m = await ch.get('px', { noAck: true });
    t.equal(m && m.content.toString(), 'via follower', 'published, confirmed and consumed through the follower');
    const clientPort = (conn as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort;
    await sleep(200);
    const res = await fetch(`http://127.0.0.1:${leader.httpPort}/api/connections`, { headers: { authorization: GUEST } });
    const conns = await res.json() as Array<{ name: string; peer_port: number; peer_host: string }>;
    t.ok(conns.some((x) => x.peer_port === clientPort && x.peer_host === '127.0.0.1'), `the leader lists the client's own address (127.0.0.1:${clientPort})`);
    const over = await fetch(`http://127.0.0.1:${f.httpPort}/api/overview`, { headers: { authorization: GUEST } });
    t.equal(over.status, 200, 'the management API answers through the follower (guest from loopback)');
    await conn!.close();
    // The Stream protocol too: publish with confirms through the follower.
    const rabbit = await import('rabbitmq-stream-js-client');
    const sc = await rabbit.connect({ hostname: '127.0.0.1', port: f.streamPort, username: 'guest', password: 'guest', vhost: '/' });
    await sc.createStream({ stream: 'px-stream', arguments: {} });
    const pub = await sc.declarePublisher({ stream: 'px-stream', publisherRef: 'p' });
    let confirmed = 0;
    pub.on('publish_confirm', (err, ids) => { if (err === null) confirmed += ids.length; });
    for (let i = 1; i <= 10; i++) await pub.send(Buffer.from(`s${i}`), { publishingId: BigInt(i) });
    for (let i = 0; i < 50 && confirmed < 10; i++) await sleep(100);
    t.equal(confirmed, 10, 'Stream protocol publishes confirmed through the follower');
    await closeStreamClient(sc);
    // A PROXY header from an address that is not a cluster member's is refused (127.0.0.2 is
    // loopback too, but no node advertises it): no client may claim another address.
    const forged = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: leader.port, localAddress: '127.0.0.2' }, () => {
        s.write('PROXY TCP4 127.0.0.1 127.0.0.1 40000 5672\r\nAMQP\x00\x00\x09\x01');
      });
      let got = '';
      s.on('data', (d) => { got += d.toString('latin1'); });
      s.on('error', () => undefined);
      s.on('close', () => resolve(got));
      setTimeout(() => { s.destroy(); resolve(`still open: ${got}`); }, 3000);
    });
    t.equal(forged, '', 'a forged PROXY header from a non-member closes the connection unanswered');
  } catch (e) {
    t.comment(c.nodes.flatMap((n) => n.logs.slice(-20)).join('\n'));
    throw e;
  }
});
