// Precedence between queue (and exchange) arguments, policies and operator policies: a table of
// cases, each observed through what a client notices (how many messages a queue keeps and
// which ones, where dead-lettered messages go, whether a message or a queue expires, how often
// a message is redelivered, where an unroutable message ends up) plus the policy names and the
// effective_policy_definition that /api/queues shows.
//
// The expectations were checked against a real RabbitMQ 3.10.8 (Debian's rabbitmq-server with
// the management plugin), outside CI, by running this same file against it:
//
//   tools/rabbitmq-reference.sh start            # AMQP 5674, HTTP 15674
//   WARREN_REFERENCE='amqp://guest:guest@127.0.0.1:5674 http://127.0.0.1:15674' \
//     npx tap test/management/policy-precedence.test.ts
//   tools/rabbitmq-reference.sh stop
//
// Cases marked warrenOnly are Warren extensions that RabbitMQ 3.10 does not have (delivery-limit
// on a classic queue) and are skipped in that mode.
import t from 'tap';
import * as amqplib from 'amqplib';
import { startBroker } from '../helpers/broker';
import { channel, confirmChannel, connect, sleep } from '../helpers/amqp';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of every shape
type Json = any;

type Def = Record<string, unknown>;
interface PolicyDef { def: Def; priority?: number; applyTo?: 'queues' | 'exchanges' | 'all'; pattern?: string }

interface Case {
  name: string;
  type?: 'classic' | 'quorum';
  args?: Def;
  policies?: PolicyDef[];        // named p0, p1, ... (highest index = declared last)
  op?: PolicyDef;
  warrenOnly?: boolean;
  // what is observed
  publish10?: { keep: number; first?: string };     // publish bodies 0..9 (10 bytes each); what stays
  deadLettered?: { to: 'A' | 'B' | 'ka' | 'kb' | 'none'; count: number };
  expires?: boolean;            // message published, gone after 300 ms?
  queueExpires?: boolean;       // queue gone after 500 ms unused?
  deliveries?: number;          // deliveries of one message nacked with requeue until it is gone
  alternate?: 'A' | 'B';        // exchange case: where an unroutable message goes
  exchangeArgs?: Def;
  shows?: { policy: string | null; operator_policy: string | null; effective?: Def };
}

const SHORT = 20;        // ms: a TTL that has passed when we look
const LONG = 600000;     // ms: one that has not

const CASES: Case[] = [
  // max-length: arguments and policies, lower wins; operator policy against policy, lower wins
  { name: 'max-length from argument', args: { 'x-max-length': 5 }, publish10: { keep: 5, first: '5' } },
  { name: 'max-length from policy', policies: [{ def: { 'max-length': 3 } }], publish10: { keep: 3, first: '7' }, shows: { policy: 'p0', operator_policy: null, effective: { 'max-length': 3 } } },
  { name: 'max-length: policy lower than argument', args: { 'x-max-length': 5 }, policies: [{ def: { 'max-length': 3 } }], publish10: { keep: 3 } },
  { name: 'max-length: argument lower than policy', args: { 'x-max-length': 3 }, policies: [{ def: { 'max-length': 5 } }], publish10: { keep: 3 } },
  { name: 'max-length from operator policy', op: { def: { 'max-length': 4 } }, publish10: { keep: 4 }, shows: { policy: null, operator_policy: 'op', effective: { 'max-length': 4 } } },
  { name: 'max-length: operator policy lower than policy', policies: [{ def: { 'max-length': 6 } }], op: { def: { 'max-length': 4 } }, publish10: { keep: 4 }, shows: { policy: 'p0', operator_policy: 'op', effective: { 'max-length': 4 } } },
  { name: 'max-length: policy lower than operator policy', policies: [{ def: { 'max-length': 3 } }], op: { def: { 'max-length': 6 } }, publish10: { keep: 3 }, shows: { policy: 'p0', operator_policy: 'op', effective: { 'max-length': 3 } } },
  { name: 'max-length: argument lowest of three', args: { 'x-max-length': 2 }, policies: [{ def: { 'max-length': 6 } }], op: { def: { 'max-length': 4 } }, publish10: { keep: 2 } },
  { name: 'max-length: operator policy lowest of three', args: { 'x-max-length': 7 }, policies: [{ def: { 'max-length': 6 } }], op: { def: { 'max-length': 4 } }, publish10: { keep: 4 } },
  // max-length-bytes (bodies of 10 bytes)
  { name: 'max-length-bytes: policy lower than argument', args: { 'x-max-length-bytes': 50 }, policies: [{ def: { 'max-length-bytes': 30 } }], publish10: { keep: 3 } },
  { name: 'max-length-bytes: argument lower than policy', args: { 'x-max-length-bytes': 30 }, policies: [{ def: { 'max-length-bytes': 50 } }], publish10: { keep: 3 } },
  { name: 'max-length-bytes: operator policy lower than policy', policies: [{ def: { 'max-length-bytes': 80 } }], op: { def: { 'max-length-bytes': 40 } }, publish10: { keep: 4 } },
  // overflow: the argument wins
  { name: 'overflow from policy', policies: [{ def: { 'max-length': 3, overflow: 'reject-publish' } }], publish10: { keep: 3, first: '0' } },
  { name: 'overflow: argument drop-head beats policy reject-publish', args: { 'x-overflow': 'drop-head' }, policies: [{ def: { 'max-length': 3, overflow: 'reject-publish' } }], publish10: { keep: 3, first: '7' } },
  { name: 'overflow: argument reject-publish beats policy drop-head', args: { 'x-overflow': 'reject-publish' }, policies: [{ def: { 'max-length': 3, overflow: 'drop-head' } }], publish10: { keep: 3, first: '0' } },
  // dead-lettering: the argument wins, key by key
  { name: 'dead-letter-exchange from policy', args: { 'x-max-length': 1 }, policies: [{ def: { 'dead-letter-exchange': 'A' } }], deadLettered: { to: 'A', count: 9 } },
  { name: 'dead-letter-exchange: argument beats policy', args: { 'x-max-length': 1, 'x-dead-letter-exchange': 'B' }, policies: [{ def: { 'dead-letter-exchange': 'A' } }], deadLettered: { to: 'B', count: 9 } },
  { name: 'dead-letter-routing-key from policy', args: { 'x-max-length': 1 }, policies: [{ def: { 'dead-letter-exchange': 'D', 'dead-letter-routing-key': 'ka' } }], deadLettered: { to: 'ka', count: 9 } },
  { name: 'dead-letter-routing-key: argument beats policy', args: { 'x-max-length': 1, 'x-dead-letter-exchange': 'D', 'x-dead-letter-routing-key': 'kb' }, policies: [{ def: { 'dead-letter-exchange': 'A', 'dead-letter-routing-key': 'ka' } }], deadLettered: { to: 'kb', count: 9 } },
  { name: 'dead-letter exchange from argument, routing key from policy', args: { 'x-max-length': 1, 'x-dead-letter-exchange': 'D' }, policies: [{ def: { 'dead-letter-routing-key': 'kb' } }], deadLettered: { to: 'kb', count: 9 } },
  { name: 'reject-publish does not dead-letter, reject-publish-dlx does', policies: [{ def: { 'max-length': 1, overflow: 'reject-publish-dlx', 'dead-letter-exchange': 'A' } }], deadLettered: { to: 'A', count: 9 } },
  // message-ttl: lower wins everywhere
  { name: 'message-ttl: policy lower than argument', args: { 'x-message-ttl': LONG }, policies: [{ def: { 'message-ttl': SHORT } }], expires: true },
  { name: 'message-ttl: argument lower than policy', args: { 'x-message-ttl': SHORT }, policies: [{ def: { 'message-ttl': LONG } }], expires: true },
  { name: 'message-ttl: operator policy lower than policy', policies: [{ def: { 'message-ttl': LONG } }], op: { def: { 'message-ttl': SHORT } }, expires: true },
  { name: 'message-ttl: long policy keeps the message', policies: [{ def: { 'message-ttl': LONG } }], expires: false },
  { name: 'message-ttl: long argument and operator policy keep it', args: { 'x-message-ttl': LONG }, op: { def: { 'message-ttl': LONG } }, expires: false },
  // expires (queue TTL): lower wins
  { name: 'expires: argument lower than policy', args: { 'x-expires': 100 }, policies: [{ def: { expires: LONG } }], queueExpires: true },
  { name: 'expires: policy lower than argument', args: { 'x-expires': LONG }, policies: [{ def: { expires: 100 } }], queueExpires: true },
  { name: 'expires: operator policy lower than policy', policies: [{ def: { expires: LONG } }], op: { def: { expires: 100 } }, queueExpires: true },
  { name: 'expires: long policy keeps the queue', policies: [{ def: { expires: LONG } }], queueExpires: false },
  // which policy: priority, apply-to, applicability, unanchored pattern
  { name: 'the higher priority policy wins whole', policies: [{ def: { 'max-length': 2, 'message-ttl': SHORT }, priority: 1 }, { def: { 'max-length': 5 }, priority: 7 }], publish10: { keep: 5 }, shows: { policy: 'p1', operator_policy: null, effective: { 'max-length': 5 } } },
  { name: 'a policy for exchanges leaves queues alone', policies: [{ def: { 'max-length': 2 }, applyTo: 'exchanges' }], publish10: { keep: 10 }, shows: { policy: null, operator_policy: null } },
  { name: 'a policy with a stream-only key skips a classic queue', policies: [{ def: { 'max-length': 2 }, priority: 1 }, { def: { 'max-length': 4, 'max-age': '1D' }, priority: 5 }], publish10: { keep: 2 }, shows: { policy: 'p0', operator_policy: null } },
  { name: 'the pattern is unanchored', policies: [{ def: { 'max-length': 2 }, pattern: 'MIDDLE' }], publish10: { keep: 2 } },
  { name: 'effective definition merges policy and operator policy', policies: [{ def: { 'max-length': 6, 'dead-letter-exchange': 'A' } }], op: { def: { 'max-length': 4, 'message-ttl': LONG } }, publish10: { keep: 4 }, shows: { policy: 'p0', operator_policy: 'op', effective: { 'dead-letter-exchange': 'A', 'max-length': 4, 'message-ttl': LONG } } },
  // delivery-limit (quorum queues in RabbitMQ): lower wins
  { name: 'delivery-limit: policy lower than argument', type: 'quorum', args: { 'x-delivery-limit': 5 }, policies: [{ def: { 'delivery-limit': 2 } }], deliveries: 3 },
  { name: 'delivery-limit: argument lower than policy', type: 'quorum', args: { 'x-delivery-limit': 1 }, policies: [{ def: { 'delivery-limit': 3 } }], deliveries: 2 },
  { name: 'delivery-limit: operator policy lower than policy', type: 'quorum', policies: [{ def: { 'delivery-limit': 4 } }], op: { def: { 'delivery-limit': 1 } }, deliveries: 2 },
  { name: 'delivery-limit on a classic queue (Warren only)', warrenOnly: true, policies: [{ def: { 'delivery-limit': 1 } }], deliveries: 2 },
  // alternate-exchange: the exchange's argument wins
  { name: 'alternate-exchange from policy', policies: [{ def: { 'alternate-exchange': 'B' }, applyTo: 'exchanges' }], alternate: 'B' },
  { name: 'alternate-exchange: argument beats policy', exchangeArgs: { 'alternate-exchange': 'A' }, policies: [{ def: { 'alternate-exchange': 'B' }, applyTo: 'all' }], alternate: 'A' },
];

interface Target { amqp: string; http: string; reference: boolean }

const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');
async function http(target: Target, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(target.http + path, {
    method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const enc = encodeURIComponent;

async function runCase(target: Target, conn: amqplib.ChannelModel, c: Case, i: number): Promise<Record<string, unknown>> {
  const tag = `prec${i}-${Math.random().toString(36).slice(2, 8)}`;
  const q = `${tag}-MIDDLE-q`;
  const ex = `${tag}-x`;
  const names = { A: `${tag}-A`, B: `${tag}-B`, D: `${tag}-D` };
  const subst = (d: Def) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, typeof v === 'string' && v in names ? names[v as keyof typeof names] : v]));
  const cleanup: Array<() => Promise<unknown>> = [];
  const out: Record<string, unknown> = {};
  const ch = await confirmChannel(conn);
  try {
    // dead-letter and alternate targets: A and B fanout to queues A, B; D direct with ka, kb
    for (const k of ['A', 'B'] as const) {
      await ch.assertExchange(names[k], 'fanout', { durable: false, autoDelete: false });
      await ch.assertQueue(names[k], { durable: true });
      await ch.bindQueue(names[k], names[k], '');
      cleanup.push(() => ch.deleteExchange(names[k]), () => ch.deleteQueue(names[k]));
    }
    await ch.assertExchange(names.D, 'direct', { durable: false });
    cleanup.push(() => ch.deleteExchange(names.D));
    for (const k of ['ka', 'kb']) {
      await ch.assertQueue(`${tag}-${k}`, { durable: true });
      await ch.bindQueue(`${tag}-${k}`, names.D, k);
      cleanup.push(() => ch.deleteQueue(`${tag}-${k}`));
    }
    // policies first, so that they apply at declaration on both brokers
    for (const [j, p] of (c.policies ?? []).entries()) {
      // an explicit pattern is tried without anchor: the case's random part and the pattern
      const pattern = p.pattern ? `${tag.split('-')[1]}-${p.pattern}` : `^${tag}-(MIDDLE|x)`;
      const r = await http(target, 'PUT', `/api/policies/%2F/${tag}-p${j}`, { pattern, definition: subst(p.def), priority: p.priority ?? 0, 'apply-to': p.applyTo ?? 'queues' });
      if (r.status >= 300) throw new Error(`policy: ${r.status} ${JSON.stringify(r.body)}`);
      cleanup.push(() => http(target, 'DELETE', `/api/policies/%2F/${tag}-p${j}`));
    }
    if (c.op) {
      const r = await http(target, 'PUT', `/api/operator-policies/%2F/${tag}-op`, { pattern: `^${tag}-MIDDLE`, definition: subst(c.op.def), priority: 0, 'apply-to': 'queues' });
      if (r.status >= 300) throw new Error(`operator policy: ${r.status} ${JSON.stringify(r.body)}`);
      cleanup.push(() => http(target, 'DELETE', `/api/operator-policies/%2F/${tag}-op`));
    }
    if (c.alternate) {
      await ch.assertExchange(ex, 'direct', { durable: false, arguments: subst(c.exchangeArgs ?? {}) });
      cleanup.push(() => ch.deleteExchange(ex));
      if (target.reference) await sleep(300);
      ch.publish(ex, 'nowhere', Buffer.from('u'));
      await ch.waitForConfirms();
      await sleep(50);
      out.alternate = (await ch.checkQueue(names.A)).messageCount === 1 ? 'A' : (await ch.checkQueue(names.B)).messageCount === 1 ? 'B' : 'none';
      return out;
    }
    const args = subst(c.args ?? {});
    if (c.type === 'quorum') args['x-queue-type'] = 'quorum';
    await ch.assertQueue(q, { durable: true, arguments: args });
    cleanup.push(() => ch.deleteQueue(q));

    if (c.shows) {
      // RabbitMQ's statistics lag a few seconds behind; Warren answers at once
      const deadline = Date.now() + (target.reference ? 15000 : 2000);
      let v: Json;
      for (;;) {
        v = (await http(target, 'GET', `/api/queues/%2F/${enc(q)}`)).body;
        if ((v && 'policy' in v && 'effective_policy_definition' in v) || Date.now() > deadline) break;
        await sleep(250);
      }
      const strip = (s: string | null) => (s === null ? null : s.slice(tag.length + 1));
      out.shows = {
        policy: strip(v.policy ?? null), operator_policy: strip(v.operator_policy ?? null),
        ...(c.shows.effective ? { effective: unsubst(v.effective_policy_definition ?? {}, names) } : {}),
      };
    }
    if (c.publish10 || c.deadLettered) {
      for (let k = 0; k < 10; k++) ch.sendToQueue(q, Buffer.from(String(k).padEnd(10, '.')));
      await ch.waitForConfirms().catch(() => undefined);
      await sleep(100);
      if (c.publish10) {
        const n = (await ch.checkQueue(q)).messageCount;
        const m = await ch.get(q, { noAck: false });
        out.publish10 = { keep: n, ...(c.publish10.first !== undefined ? { first: m === false ? null : m.content.toString()[0] } : {}) };
        if (m !== false) ch.nack(m, false, true);
      }
      if (c.deadLettered) {
        const counts: Record<string, number> = {};
        for (const k of ['A', 'B'] as const) counts[k] = (await ch.checkQueue(names[k])).messageCount;
        for (const k of ['ka', 'kb']) counts[k] = (await ch.checkQueue(`${tag}-${k}`)).messageCount;
        const hit = Object.entries(counts).filter(([, n]) => n > 0);
        out.deadLettered = hit.length === 0 ? { to: 'none', count: 0 } : { to: hit.map(([k]) => k).join('+'), count: hit[0][1] };
      }
    }
    if (c.expires !== undefined) {
      ch.sendToQueue(q, Buffer.from('ttl'));
      await ch.waitForConfirms();
      await sleep(300);
      out.expires = (await ch.checkQueue(q)).messageCount === 0;
    }
    if (c.queueExpires !== undefined) {
      await sleep(600);
      const probe = await channel(conn);
      try { await probe.checkQueue(q); out.queueExpires = false; await probe.close(); } catch { out.queueExpires = true; }
    }
    if (c.deliveries !== undefined) {
      ch.sendToQueue(q, Buffer.from('d'));
      await ch.waitForConfirms();
      let n = 0;
      for (let k = 0; k < 10; k++) {
        let m: amqplib.GetMessage | false = false;
        for (let w = 0; w < 20 && m === false; w++) { m = await ch.get(q, { noAck: false }); if (m === false) await sleep(20); }
        if (m === false) break;
        n++;
        ch.nack(m, false, true);
      }
      out.deliveries = n;
    }
    return out;
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    await ch.close().catch(() => undefined);
  }
}

function unsubst(d: Def, names: Record<string, string>): Def {
  const back = Object.fromEntries(Object.entries(names).map(([k, v]) => [v, k]));
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, typeof v === 'string' && v in back ? back[v] : v]));
}

function expected(c: Case): Record<string, unknown> {
  const e: Record<string, unknown> = {};
  for (const k of ['publish10', 'deadLettered', 'expires', 'queueExpires', 'deliveries', 'alternate', 'shows'] as const) {
    if (c[k] !== undefined) e[k] = c[k];
  }
  return e;
}

t.test('precedence of arguments, policies and operator policies', async (t) => {
  t.ok(CASES.length >= 30, `${CASES.length} cases`);
  const ref = process.env.WARREN_REFERENCE;
  let target: Target;
  if (ref) {
    const [amqp, httpUrl] = ref.split(/\s+/);
    target = { amqp, http: httpUrl, reference: true };
  } else {
    const b = await startBroker({ logLevel: 'warning' });
    t.teardown(() => b.stop());
    target = { amqp: b.url, http: `http://127.0.0.1:${b.httpPort}`, reference: false };
  }
  const conn = await connect(target.amqp);
  t.teardown(() => conn.close().catch(() => undefined));
  for (const [i, c] of CASES.entries()) {
    if (c.warrenOnly && target.reference) continue;
    const got = await runCase(target, conn, c, i);
    t.same(got, expected(c), c.name);
  }
});
