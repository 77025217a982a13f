// How often each message of a queue with x-delivery-limit has been handed out and returned,
// kept across restarts as RabbitMQ's quorum queues keep it (and sent to consumers in the
// x-delivery-count header). Only messages that came back at least once have an entry. The file
// is rewritten (atomically, without fsync) shortly after a change and at close: after a crash,
// like acks, only the changes of the last interval may be lost.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DELIVERY_COUNTS_FILE } from '../store/data-dir';
import { isHeld, type MessageRef } from './message-ref';
import { log } from '../logger';

const SAVE_DELAY_MS = 200;

export class DeliveryCounts {
  private readonly counts = new Map<MessageRef, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly file: string | null;

  /** `dir`: the durable queue's directory (null: not persisted) */
  constructor(dir: string | null) {
    this.file = dir === null ? null : path.join(dir, DELIVERY_COUNTS_FILE);
    if (this.file !== null) this.load(this.file);
  }

  get(ref: MessageRef): number {
    return this.counts.get(ref) ?? 0;
  }

  /** One more return of `ref`; the new count. */
  increment(ref: MessageRef): number {
    const n = (this.counts.get(ref) ?? 0) + 1;
    this.counts.set(ref, n);
    if (!isHeld(ref)) this.changed();
    return n;
  }

  delete(ref: MessageRef): void {
    if (this.counts.delete(ref) && !isHeld(ref)) this.changed();
  }

  clear(): void {
    if (this.counts.size === 0) return;
    this.counts.clear();
    this.changed();
  }

  private changed(): void {
    if (this.file === null || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.save();
    }, SAVE_DELAY_MS);
    this.timer.unref();
  }

  save(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const file = this.file;
    if (file === null) return;
    const entries: Array<[number, number]> = [];
    for (const [ref, n] of this.counts) if (!isHeld(ref)) entries.push([ref, n]);
    try {
      if (entries.length === 0) {
        fs.rmSync(file, { force: true });
        return;
      }
      fs.writeFileSync(file + '.tmp', JSON.stringify(entries));
      fs.renameSync(file + '.tmp', file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // the queue was deleted
      log.warn(`cannot save delivery counts to ${file}: ${(e as Error).message}`);
      this.changed();
    }
  }

  /** Stop the save timer without saving (the queue is being deleted). */
  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private load(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn(`cannot read delivery counts from ${file}: ${(e as Error).message}`);
      return;
    }
    try {
      const entries = JSON.parse(text) as Array<[number, number]>;
      for (const [ref, n] of entries) if (Number.isInteger(ref) && ref >= 0 && n > 0) this.counts.set(ref as MessageRef, n);
    } catch (e) {
      log.warn(`delivery counts in ${file} are unreadable (${(e as Error).message}); counting from 0`);
    }
  }
}
