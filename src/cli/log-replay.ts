// `warren log replay`: republish a queue's records in an offset or time range to a running broker,
// with publisher confirms (recovery, migration).
import { encodeMethodFrame, encodeContentHeaderFrame, encodeBodyFrames } from '../protocol';
import { ClientConnection, type ClientChannel } from '../client';
import {
  type CommonFlags, type RangeFlags, UserError, queueLabel, resolveTargets, rangeOf, checkLanes, recordsIn,
  plural, problemLine, envelopeOf, out, err,
} from './log-targets';

export interface ReplayFlags extends CommonFlags, RangeFlags {
  url?: string;
  exchange?: string;
  routingKey?: string;
  onlyUnacked?: boolean;
  confirmWindow: number;
  dryRun?: boolean;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wait until cond() holds; checked after each confirm frame and every 50 ms (channel or connection loss). */
export async function waitUntil(ch: ClientChannel, cond: () => boolean): Promise<void> {
  while (!cond()) {
    if (ch.closed || ch.conn.closed || ch.conn.error) throw ch.error ?? ch.conn.error ?? new Error('channel closed');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 50);
      function done(): void {
        clearTimeout(timer);
        if (ch.onConfirms === done) ch.onConfirms = null;
        resolve();
      }
      ch.onConfirms = done;
    });
  }
}

export async function runReplay(o: ReplayFlags): Promise<number> {
  if (o.queue === undefined && o.logDir === undefined) throw new UserError('replay needs --queue (or --log-dir)');
  if (o.url === undefined && !o.dryRun) throw new UserError('replay needs --url of the broker to publish to (or --dry-run)');
  const range = rangeOf(o);
  const { targets, root } = resolveTargets(o);
  checkLanes(targets, range);
  // highest priority lane first, as a consumer would have received them
  targets.sort((a, b) => b.lane - a.lane);

  let conn: ClientConnection | null = null;
  let ch: ClientChannel | null = null;
  const stats = { selected: 0, published: 0, skippedAcked: 0, corrupt: 0 };
  const exchanges = new Set<string>();
  let failure: Error | null = null;
  try {
    if (!o.dryRun) {
      conn = await ClientConnection.connect(o.url as string, { connectionName: 'warren log replay' });
      ch = await conn.openChannel();
      if (o.exchange !== undefined && o.exchange !== '') {
        // passive declare on a channel of its own: a missing exchange closes that one only
        const probe = await conn.openChannel();
        try {
          await probe.rpc({ name: 'exchange.declare', exchange: o.exchange, type: '', passive: true, durable: false, autoDelete: false, internal: false, noWait: false, arguments: {} }, ['exchange.declare-ok']);
        } catch (e) {
          throw new UserError(`exchange '${o.exchange}' on ${redactUrl(o.url as string)}: ${(e as Error).message}`);
        }
        await probe.close().catch(() => undefined);
      }
      await ch.confirmSelect();
    }
    const window = Math.max(1, o.confirmWindow);
    for (const t of targets) {
      const it = recordsIn(t, range, (p) => {
        if (p.severity === 'error') stats.corrupt++;
        if (p.severity !== 'info') err(problemLine(p, t, root));
      });
      for (const rec of it) {
        stats.selected++;
        if (o.onlyUnacked && rec.acked) {
          stats.skippedAcked++;
          continue;
        }
        const [origExchange, origKey] = envelopeOf(rec);
        const exchange = o.exchange ?? origExchange;
        const routingKey = o.routingKey ?? origKey;
        exchanges.add(exchange);
        if (ch === null || conn === null) {
          stats.published++;
          continue;
        }
        const c = ch;
        const frames = Buffer.concat([
          encodeMethodFrame(c.id, { name: 'basic.publish', exchange, routingKey, mandatory: true, immediate: false }),
          encodeContentHeaderFrame(c.id, 60, rec.body.length, rec.props),
          encodeBodyFrames(c.id, rec.body, conn.frameMax),
        ]);
        const flowing = conn.write(frames);
        c.published++;
        stats.published++;
        if (!flowing) await new Promise<void>((r) => (conn as ClientConnection).socket.once('drain', () => r()));
        if (c.unconfirmed >= window) await waitUntil(c, () => c.unconfirmed < window);
      }
    }
    if (ch !== null) {
      const c = ch;
      await waitUntil(c, () => c.unconfirmed === 0);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    failure = e as Error;
  } finally {
    if (conn !== null) await conn.close().catch(() => undefined);
    // give an aborted connection's socket a moment to settle before exiting
    if (failure !== null) await sleep(10);
  }

  const scope = [o.logDir !== undefined ? `log ${o.logDir}` : queueLabel(o.queue as string, o.vhost)];
  if (o.lane !== undefined) scope.push(`lane ${o.lane}`);
  if (range.offsets) scope.push(`offsets ${range.from}..${range.to === Number.MAX_SAFE_INTEGER ? 'end' : range.to}`);
  if (o.since !== undefined || o.until !== undefined)
    scope.push(`time ${o.since !== undefined ? new Date(o.since).toISOString() : 'start'}..${o.until !== undefined ? new Date(o.until).toISOString() : 'end'}`);
  const dest = `exchange${exchanges.size === 1 ? '' : 's'} ${[...exchanges].map((x) => `'${x}'`).join(', ') || (o.exchange !== undefined ? `'${o.exchange}'` : '(none)')}`;
  if (o.dryRun) {
    out(`replay (dry run): ${stats.published} messages would be replayed from ${scope.join(', ')} to ${dest}` +
      (stats.skippedAcked > 0 ? `; ${stats.skippedAcked} acked skipped` : '') + (stats.corrupt > 0 ? `; ${plural(stats.corrupt, 'corruption problem')} (see above)` : ''));
    return stats.corrupt > 0 ? 1 : 0;
  }
  const c = ch as ClientChannel | null;
  const acked = c?.acked ?? 0;
  const nacked = c?.nacked ?? 0;
  const returned = c?.returned ?? 0;
  const replayed = Math.max(0, acked - returned);
  const notes: string[] = [];
  if (returned > 0) notes.push(`${returned} unroutable (returned)`);
  if (nacked > 0) notes.push(`${nacked} nacked by the broker`);
  if (stats.skippedAcked > 0) notes.push(`${stats.skippedAcked} acked skipped`);
  if (stats.corrupt > 0) notes.push(`${plural(stats.corrupt, 'corruption problem')} (damaged records skipped, see above)`);
  const unconfirmed = stats.published - acked - nacked;
  if (unconfirmed > 0) notes.push(`${unconfirmed} not confirmed`);
  out(`replay: ${replayed} messages replayed from ${scope.join(', ')} to ${dest} at ${redactUrl(o.url as string)}` +
    (notes.length > 0 ? `; ${notes.join('; ')}` : '; all confirmed'));
  if (failure !== null) err(`replay: stopped: ${failure.message}`);
  return failure !== null || returned > 0 || nacked > 0 || unconfirmed > 0 || stats.corrupt > 0 ? 1 : 0;
}

