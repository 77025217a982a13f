// A request body over the management API's limit gets 413 with RabbitMQ's error shape, whether
// its size is announced (Content-Length) or not (chunked), and the broker goes on serving.
import t from 'tap';
import * as http from 'node:http';
import { startBroker } from '../helpers/broker';

const AUTH = 'Basic ' + Buffer.from('guest:guest').toString('base64');

function post(port: number, body: Buffer, chunked: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: AUTH, 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(body.length);
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/definitions', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => { text += s; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    // in 1 MiB pieces, as a client streaming a big file would
    for (let off = 0; off < body.length; off += 1 << 20) req.write(body.subarray(off, off + (1 << 20)));
    req.end();
  });
}

t.test('a 70 MB body gets 413, announced or chunked', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const body = Buffer.alloc(70 * 1024 * 1024, 0x20);
  for (const chunked of [false, true]) {
    const r = await post(b.httpPort, body, chunked);
    t.equal(r.status, 413, chunked ? 'chunked' : 'with Content-Length');
    t.match(JSON.parse(r.text), { error: 'payload_too_large' });
  }
  const ok = await fetch(`http://127.0.0.1:${b.httpPort}/api/overview`, { headers: { authorization: AUTH } });
  t.equal(ok.status, 200, 'the API still answers');
});
