// The healthy client beside the fuzzer: publishes numbered messages with confirms to a queue of
// its own and consumes them with acks, and counts every way it could be disturbed: a connection
// or channel error, a nack, a message lost, duplicated or out of order, or no progress for
// `stallMs`.
import * as amqplib from 'amqplib';

export interface HealthReport {
  published: number;
  confirmed: number;
  received: number;
  disturbances: string[];
  maxLatencyMs: number;
}

export class HealthyClient {
  private conn: amqplib.ChannelModel | null = null;
  private pubCh: amqplib.ConfirmChannel | null = null;
  private seq = 0;
  private confirmed = 0;
  private expected = 1;
  private received = 0;
  private maxLatencyMs = 0;
  private lastProgress = Date.now();
  private readonly sentAt = new Map<number, number>();
  private readonly disturbances: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private inFlight = 0;

  constructor(private readonly url: string, private readonly stallMs = 10_000) {}

  private disturbed(what: string): void {
    if (this.stopping) return;
    if (this.disturbances.length < 100) this.disturbances.push(`${new Date().toISOString()} ${what}`);
  }

  async start(): Promise<void> {
    const conn = await amqplib.connect(this.url);
    this.conn = conn;
    conn.on('error', (e: Error) => this.disturbed(`connection error: ${e.message}`));
    conn.on('close', () => this.disturbed('connection closed'));
    const queue = `fz-healthy-${process.pid}`;
    const sub = await conn.createChannel();
    sub.on('error', (e: Error) => this.disturbed(`consumer channel error: ${e.message}`));
    await sub.assertQueue(queue, { exclusive: true });
    await sub.prefetch(100);
    await sub.consume(queue, (m) => {
      if (!m) { this.disturbed('consumer cancelled by the server'); return; }
      const n = Number(m.content.toString());
      if (n !== this.expected) this.disturbed(`received message ${n}, expected ${this.expected}`);
      this.expected = n + 1;
      this.received++;
      const t = this.sentAt.get(n);
      if (t !== undefined) {
        this.maxLatencyMs = Math.max(this.maxLatencyMs, Date.now() - t);
        this.sentAt.delete(n);
      }
      this.lastProgress = Date.now();
      sub.ack(m);
    });
    const pub = await conn.createConfirmChannel();
    pub.on('error', (e: Error) => this.disturbed(`publisher channel error: ${e.message}`));
    this.pubCh = pub;
    this.timer = setInterval(() => this.tick(queue), 2);
  }

  private tick(queue: string): void {
    if (this.stopping || this.pubCh === null) return;
    if (Date.now() - this.lastProgress > this.stallMs) {
      this.disturbed(`no progress for ${this.stallMs} ms`);
      this.lastProgress = Date.now();
    }
    // A small window: the healthy client is a light, latency-sensitive user.
    if (this.inFlight >= 20) return;
    const n = ++this.seq;
    this.inFlight++;
    this.sentAt.set(n, Date.now());
    try {
      this.pubCh.sendToQueue(queue, Buffer.from(String(n)), {}, (err) => {
        this.inFlight--;
        if (err) this.disturbed(`message ${n} nacked`);
        else this.confirmed++;
      });
    } catch (e) {
      this.inFlight--;
      this.disturbed(`publish failed: ${(e as Error).message}`);
      this.pubCh = null;
    }
  }

  async stop(): Promise<HealthReport> {
    if (this.timer) clearInterval(this.timer);
    // Let what is in flight arrive before judging.
    const deadline = Date.now() + 5000;
    while ((this.inFlight > 0 || this.received < this.seq) && Date.now() < deadline && this.disturbances.length === 0) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.received < this.seq) this.disturbed(`${this.seq - this.received} messages published but never received`);
    this.stopping = true;
    await this.conn?.close().catch(() => undefined);
    return { published: this.seq, confirmed: this.confirmed, received: this.received, disturbances: [...this.disturbances], maxLatencyMs: this.maxLatencyMs };
  }
}

// Run as a child process (`node healthy.js <url>`), so that its latency is the broker's and not
// the fuzzer's: started by the parent, it answers a 'stop' message with its report.
if (require.main === module) {
  const client = new HealthyClient(process.argv[2]);
  client.start().then(() => process.send?.({ started: true }), (e: Error) => { process.send?.({ error: e.message }); process.exit(1); });
  process.on('message', (m) => {
    if (m !== 'stop') return;
    void client.stop().then((report) => { process.send?.({ report }); process.disconnect?.(); });
  });
}
