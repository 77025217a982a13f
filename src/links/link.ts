// The life of a federation link: connect, run until either side fails, close everything, wait
// (backoff), start again; until stopped. A subclass says how to set a run up (setup()) and
// reports that it runs (running()); a run ends through fail() or a connection's close.
import type { ClientConnection } from '../client';
import { Backoff } from './backoff';
import { connectAny } from './connect';
import { type LinkTarget, resolveLinkUri } from './uri';

export type LinkStatus = 'starting' | 'running' | 'error';

export abstract class Link {
  status: LinkStatus = 'starting';
  error: string | null = null;
  /** the upstream URI the status shows: the one last connected to, without its password */
  uri = '';
  /** the name a run's connections carry (the local one is in the broker's connection list) */
  connectionName = '';
  since = new Date();
  protected stopped = false;
  private conns: ClientConnection[] = [];
  private wake: (() => void) | null = null;
  private endRun: ((err: Error) => void) | null = null;
  private readonly backoff: Backoff;
  private progressed = false;

  constructor(protected readonly what: string, reconnectDelayMs: number) {
    this.backoff = new Backoff(reconnectDelayMs, what);
  }

  /** Connect both sides and start forwarding; throws (or fail()s) when it cannot. */
  protected abstract setup(): Promise<void>;
  /** Called after each run, before the connections close (timers, consumers). */
  protected abstract teardown(): void;

  start(): void {
    void this.loop();
  }

  /** Stop for good; `beforeClose` runs on the live connections first (cleanup upstream). */
  async stop(beforeClose?: () => Promise<void>): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (beforeClose && this.status === 'running') await beforeClose().catch(() => undefined);
    this.endRun?.(new Error('stopped'));
    this.teardown();
    await this.closeAll();
  }

  protected setStatus(s: LinkStatus, error: string | null = null): void {
    if (s !== this.status || error !== this.error) this.since = new Date();
    this.status = s;
    this.error = error;
  }

  /** The run moved a message: the next failure is retried after the base delay again. */
  protected progress(): void {
    this.progressed = true;
  }

  protected fail(reason: string): void {
    this.endRun?.(new Error(reason));
  }

  /** fail(), but only while the run that made it lasts (for callbacks that can outlive it) */
  protected failer(): (reason: string) => void {
    const end = this.endRun;
    return (reason) => { if (this.endRun === end) end?.(new Error(reason)); };
  }

  protected async connect(targets: LinkTarget[], name: string, role: string, onClose: string): Promise<ClientConnection> {
    const { conn } = await connectAny(targets, name, role);
    this.conns.push(conn);
    if (this.stopped) throw new Error('stopped');
    const fail = this.failer();
    conn.onClose = (err) => fail(`${onClose}: ${err?.message ?? 'closed'}`);
    return conn;
  }

  /** A run's two connections: the first of `uris` that answers (the upstream), then this broker. */
  protected async connectEnds(uris: string[], selfPort: number, vhost: string, name: string): Promise<{ upstream: ClientConnection; local: ClientConnection }> {
    this.connectionName = name;
    const targets = uris.map((x) => resolveLinkUri(x, selfPort, vhost));
    const upstream = await this.connect(targets, name, 'upstream', 'upstream connection closed');
    this.uri = targets.find((t) => t.url === upstream.url)?.display ?? this.uri;
    const local = await this.connect([resolveLinkUri('amqp://', selfPort, vhost)], name, 'local broker', 'local connection closed');
    return { upstream, local };
  }

  private async closeAll(): Promise<void> {
    const conns = this.conns;
    this.conns = [];
    await Promise.all(conns.map((c) => c.close(2000).catch(() => c.destroy())));
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.setStatus('starting');
      this.progressed = false;
      const reason = await new Promise<string>((resolve) => {
        this.endRun = (e) => { this.endRun = null; resolve(e.message); };
        this.setup().catch((e: Error) => this.endRun?.(e));
      });
      this.teardown();
      await this.closeAll();
      if (this.stopped) return;
      this.setStatus('error', reason);
      if (this.progressed) this.backoff.succeeded();
      const ms = this.backoff.failed(reason);
      await new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        this.wake = () => { clearTimeout(t); r(); };
      });
      this.wake = null;
    }
  }
}
