// Authentication over AMQP: PLAIN and AMQPLAIN, refused logins (answered after a delay, logged,
// counted), loopback-only users, and connection.update-secret.
import t from 'tap';
import * as os from 'node:os';
import * as amqplib from 'amqplib';
import { startBroker } from '../helpers/broker';
import { channel, connect } from '../helpers/amqp';
import { RawConn } from '../helpers/raw-amqp';
import { PROTOCOL_HEADER } from '../../src/protocol';

// start-ok with any mechanism and response; resolves with the server's answer and its delay.
async function login(port: number, mechanism: string, response: Buffer): Promise<{ answer: string; ms: number; close?: { replyCode: number; replyText: string } }> {
  const c = await RawConn.connect(port);
  c.write(PROTOCOL_HEADER);
  await c.expect(0, 'connection.start');
  const t0 = Date.now();
  c.send(0, { name: 'connection.start-ok', clientProperties: { capabilities: { authentication_failure_close: true } }, mechanism, response, locale: 'en_US' });
  const f = await c.next((x) => x.channel === 0 && (x.method?.name === 'connection.tune' || x.method?.name === 'connection.close'), 5000);
  c.destroy();
  const m = f.method!;
  return { answer: m.name, ms: Date.now() - t0, close: m.name === 'connection.close' ? { replyCode: m.replyCode, replyText: m.replyText } : undefined };
}

t.test('authentication', async (t) => {
  const b = await startBroker({ logLevel: 'warning', extraArgs: ['--auth-failure-delay', '400'] });
  t.teardown(() => b.stop());

  t.test('PLAIN and AMQPLAIN', async (t) => {
    t.equal((await login(b.port, 'PLAIN', Buffer.from('\0guest\0guest'))).answer, 'connection.tune');
    const c = await amqplib.connect(`amqp://127.0.0.1:${b.port}`, { credentials: amqplib.credentials.amqplain('guest', 'guest') });
    const ch = await c.createChannel();
    await ch.assertQueue('', { exclusive: true });
    t.pass('amqplib with AMQPLAIN');
    await c.close();
  });

  t.test('refused logins: delayed, RabbitMQ text, logged with the peer address', async (t) => {
    const text = (m: string) => `ACCESS_REFUSED - Login was refused using authentication mechanism ${m}. For details see the broker logfile.`;
    const cases: Array<[string, string, Buffer, RegExp]> = [
      ['wrong password', 'PLAIN', Buffer.from('\0guest\0nope'), /PLAIN login refused: user 'guest' - invalid credentials/],
      ['unknown user', 'PLAIN', Buffer.from('\0nobody\0x'), /PLAIN login refused: user 'nobody' - invalid credentials/],
      ['blank password', 'PLAIN', Buffer.from('\0guest\0'), /PLAIN login refused: user 'guest' attempted to log in with a blank password/],
      ['malformed PLAIN', 'PLAIN', Buffer.from('guest'), /PLAIN login refused: PLAIN response does not start with a NUL byte/],
      ['unknown mechanism', 'CRAM-MD5', Buffer.from('x'), /CRAM-MD5 login refused: unsupported authentication mechanism 'CRAM-MD5'/],
      ['EXTERNAL without TLS', 'EXTERNAL', Buffer.alloc(0), /EXTERNAL login refused: no user name in the peer certificate/],
    ];
    for (const [what, mech, resp, logged] of cases) {
      const r = await login(b.port, mech, resp);
      t.same(r.close, { replyCode: 403, replyText: text(mech) }, `${what}: 403`);
      t.ok(r.ms >= 380, `${what}: answered after ${r.ms} ms (delay 400)`);
      t.ok(b.logs.some((l) => /connection 127\.0\.0\.1:\d+ -> /.test(l) && logged.test(l)), `${what}: logged`);
    }
    // Failures do not queue behind one another: ten at once take one delay.
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 10 }, () => login(b.port, 'PLAIN', Buffer.from('\0guest\0nope'))));
    t.ok(Date.now() - t0 < 2000, 'ten parallel refusals take about one delay');
    const c = await connect(b.url);
    await channel(c);
    t.pass('a good client still connects');
    await c.close();
  });

  t.test('connection.update-secret', async (t) => {
    const c = await connect(b.url);
    await (c as unknown as { updateSecret(s: Buffer, r: string): Promise<void> }).updateSecret(Buffer.from('guest'), 'rotation');
    const ch = await channel(c);
    await ch.assertQueue('', { exclusive: true });
    t.pass('update-secret-ok, and the connection goes on');
    const closed = new Promise<Error>((r) => c.once('error', r));
    void (c as unknown as { updateSecret(s: Buffer, r: string): Promise<void> }).updateSecret(Buffer.from('not-the-password'), 'rotation').catch(() => undefined);
    const e = await closed;
    t.match(e.message, /530/);
    t.match(e.message, /New secret was refused by one of the backends/);
  });
});

t.test('loopback-only users', async (t) => {
  const ip = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (!ip) { t.skip('no non-loopback IPv4 address on this machine'); return; }
  for (const [args, allowed] of [[[], false], [['--loopback-users', ''], true]] as Array<[string[], boolean]>) {
    const b = await startBroker({ logLevel: 'warning', extraArgs: ['--host', '0.0.0.0', '--auth-failure-delay', '0', ...args] });
    const res = await amqplib.connect(`amqp://guest:guest@${ip}:${b.port}`).then(async (c) => { await c.close(); return 'connected'; }, (e: Error) => e.message);
    if (allowed) t.equal(res, 'connected', `guest from ${ip} with --loopback-users ""`);
    else {
      t.not(res, 'connected', `guest from ${ip} is refused`);
      t.ok(b.logs.some((l) => l.includes("user 'guest' can only connect via localhost")), 'logged: can only connect via localhost');
      const local = await connect(b.url);
      await local.close();
      t.pass('guest from 127.0.0.1 is fine');
    }
    await b.stop();
  }
});
