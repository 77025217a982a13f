// The Stream protocol over TLS (--stream-tls-port, RabbitMQ's port 5551): rabbitmq-stream-js-client
// with TLS publishes and consumes, metadata sends it back to the TLS port, management shows the
// connection with ssl: true, and the TLS port refuses plaintext.
import t from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as rabbit from 'rabbitmq-stream-js-client';
import { startBroker, tempDir } from '../helpers/broker';
import { uniq, waitFor } from '../helpers/amqp';
import { closeStreamClient } from '../helpers/stream-client';
import { api } from '../helpers/http';
import { makePki } from '../helpers/certs';

t.test('the Stream protocol over TLS', async (t) => {
  const dir = tempDir('warren-stream-tls-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pki = makePki(dir);
  const b = await startBroker({ logLevel: 'info', stream: true, extraArgs: ['--stream-tls-port', '0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey] });
  t.teardown(() => b.stop());
  t.ok(b.streamTlsPort !== undefined && b.streamTlsPort > 0, `the ready line names the port (${b.streamTlsPort})`);
  t.ok(b.logs.some((l) => /Stream protocol listener started on .*\(stream\/ssl, TLS 1\.2-1\.3\)/.test(l)), 'logged');

  const client = await rabbit.connect({
    hostname: '127.0.0.1', port: b.streamTlsPort!, username: 'guest', password: 'guest', vhost: '/',
    ssl: { ca: fs.readFileSync(pki.ca, 'utf8') },
  });
  t.teardown(() => closeStreamClient(client));
  const s = uniq('tls.stream');
  await client.createStream({ stream: s, arguments: {} });
  // the client asks metadata where the stream is and connects there: it must be the TLS port
  const meta = await client.queryMetadata({ streams: [s] });
  t.equal(meta[0].leader?.port, b.streamTlsPort, 'metadata gives the TLS port to a TLS connection');
  const pub = await client.declarePublisher({ stream: s });
  let confirmed = 0;
  pub.on('publish_confirm', (err, ids) => { if (err === null) confirmed += ids.length; });
  for (let i = 0; i < 10; i++) await pub.send(Buffer.from(`secret ${i}`));
  await pub.flush();
  t.ok(await waitFor(() => confirmed === 10, 5000), 'published over TLS, confirmed');
  const got: string[] = [];
  await client.declareConsumer({ stream: s, offset: rabbit.Offset.first() }, (m) => { got.push(m.content.toString()); });
  t.ok(await waitFor(() => got.length === 10, 5000), 'consumed over TLS');
  t.equal(got[9], 'secret 9');

  const conns = (await api(b, 'GET', '/api/stream/connections')).body as Array<{ ssl: boolean; port: number }>;
  t.ok(conns.length > 0 && conns.every((c) => c.ssl === true && c.port === b.streamTlsPort), 'management: ssl true');
  const listeners = (await api(b, 'GET', '/api/overview')).body.listeners as Array<{ protocol: string; port: number }>;
  t.ok(listeners.some((l) => l.protocol === 'stream/ssl' && l.port === b.streamTlsPort), 'overview lists stream/ssl');

  // plaintext to the TLS port: the handshake fails and the socket closes, nothing is served
  const closed = await new Promise<boolean>((resolve) => {
    const sock = net.connect(b.streamTlsPort!, '127.0.0.1', () => sock.write(Buffer.from([0, 0, 0, 8, 0, 0x11, 0, 1, 0, 0, 0, 1])));
    // a TLS alert may come back; a Stream protocol answer (peer properties, 0x8011) must not
    sock.on('data', (d: Buffer) => { if (d.length >= 6 && d.readUInt16BE(4) === 0x8011) resolve(false); });
    sock.on('close', () => resolve(true));
    sock.on('error', () => undefined);
  });
  t.ok(closed, 'a plaintext client is not served on the TLS port');
});
