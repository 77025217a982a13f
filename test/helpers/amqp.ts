// Small conveniences over amqplib for the integration tests.
import * as amqp from 'amqplib';

export type Conn = amqp.ChannelModel;

export async function connect(url: string): Promise<Conn> {
  const c = await amqp.connect(url);
  c.on('error', () => undefined);
  return c;
}

export async function channel(c: Conn): Promise<amqp.Channel> {
  const ch = await c.createChannel();
  ch.on('error', () => undefined);
  return ch;
}

export async function confirmChannel(c: Conn): Promise<amqp.ConfirmChannel> {
  const ch = await c.createConfirmChannel();
  ch.on('error', () => undefined);
  return ch;
}

// Runs fn on a fresh channel and returns the AMQP error code it fails with (or null).
export async function channelErrorCode(c: Conn, fn: (ch: amqp.Channel) => Promise<unknown>): Promise<{ code: number | null; message: string }> {
  const ch = await channel(c);
  try {
    await fn(ch);
    // Some errors arrive asynchronously (basic.publish has no reply): wait for the close.
    const closed = await Promise.race([
      new Promise<Error | null>((r) => ch.once('error', (e) => r(e))),
      new Promise<null>((r) => setTimeout(() => r(null), 300)),
    ]);
    if (closed) return { code: (closed as { code?: number }).code ?? null, message: closed.message };
    await ch.close().catch(() => undefined);
    return { code: null, message: '' };
  } catch (e) {
    return { code: (e as { code?: number }).code ?? null, message: (e as Error).message };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// Collects n messages from a queue with basic.get (auto-ack), waiting up to timeoutMs.
export async function drain(ch: amqp.Channel, queue: string, n: number, timeoutMs = 3000): Promise<amqp.GetMessage[]> {
  const out: amqp.GetMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n && Date.now() < deadline) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) await sleep(10);
    else out.push(m);
  }
  return out;
}

export function uniq(prefix: string): string {
  return `${prefix}.${Math.random().toString(36).slice(2, 10)}`;
}

// Polls cond every 5 ms until it holds or ms have passed; resolves to whether it held.
export function waitFor(cond: () => boolean, ms = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const end = Date.now() + ms;
    const tick = () => (cond() ? resolve(true) : Date.now() > end ? resolve(false) : setTimeout(tick, 5));
    tick();
  });
}

// One message from a queue with basic.get, polling until one arrives or timeoutMs pass.
export async function getOne(ch: amqp.Channel, queue: string, opts: { noAck?: boolean; timeoutMs?: number } = {}): Promise<amqp.GetMessage | null> {
  const deadline = Date.now() + (opts.timeoutMs ?? 3000);
  for (;;) {
    const m = await ch.get(queue, { noAck: opts.noAck ?? false });
    if (m !== false) return m;
    if (Date.now() > deadline) return null;
    await sleep(10);
  }
}
