// The frame fuzzer (tools/fuzz) for 30 s against a real broker: no crash, the healthy client
// beside it never disturbed, the broker's RSS within 50 MB of where it started.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { ROOT, startBroker } from '../helpers/broker';

t.test('30 s of fuzzed frames', async (t) => {
  const b = await startBroker({ logLevel: 'error' });
  t.teardown(() => b.stop());
  const fuzz = spawn(process.execPath, [path.join(ROOT, 'dist', 'tools', 'fuzz', 'main.js'),
    '--url', b.url, '--http-url', `http://127.0.0.1:${b.httpPort}`, '--duration', '30', '--connections', '16',
    '--broker-pid', String(b.proc.pid), '--max-rss-growth', '50', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  fuzz.stdout!.setEncoding('utf8');
  fuzz.stdout!.on('data', (s: string) => { out += s; });
  const code = await new Promise<number | null>((r) => fuzz.once('exit', r));
  const last = out.trim().split('\n').pop() ?? '{}';
  const r = JSON.parse(last);
  t.comment(last);
  t.equal(r.crashes, 0, 'the broker did not crash');
  t.equal(r.disturbances, 0, 'the healthy client was never disturbed');
  t.ok(r.healthy.received > 100 && r.healthy.received === r.healthy.published, `healthy client: ${r.healthy.received} of ${r.healthy.published} messages received`);
  t.ok(r.inputs > 50000, `${r.inputs} inputs over ${r.connections} connections`);
  t.ok(r.rss.maxGrowthMb <= 50, `broker RSS grew ${r.rss.maxGrowthMb} MB at most`);
  t.equal(code, 0, 'the fuzzer passes');
  t.equal(b.proc.exitCode, null, 'the broker is still running');
});
