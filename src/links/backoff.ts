// Reconnection pacing for links: the configured delay doubled after each failure in a row, at
// most 60 s, and reset once a link has run; and a log that says a failure once, not on every
// retry (a shovel to an unreachable host retries forever in the background).
import { log } from '../logger';

export const MAX_DELAY_MS = 60_000;

export class Backoff {
  private failures = 0;
  private lastReason = '';

  constructor(private readonly baseMs: number, private readonly what: string) {}

  /** The wait before the next attempt, after a failure for `reason`. */
  failed(reason: string): number {
    this.failures++;
    if (reason !== this.lastReason) {
      log.warn(`${this.what}: ${reason}; retrying with backoff`);
      this.lastReason = reason;
    } else {
      log.debug(`${this.what}: ${reason} (attempt ${this.failures})`);
    }
    return Math.min(MAX_DELAY_MS, Math.max(100, this.baseMs) * 2 ** Math.min(this.failures - 1, 10));
  }

  /** The link is up: the next failure starts again from the base delay, and is logged. */
  succeeded(): void {
    if (this.failures > 0) log.info(`${this.what}: running again`);
    this.failures = 0;
    this.lastReason = '';
  }
}
