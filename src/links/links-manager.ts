// Starts and stops the links (shovels; federation: federation/) as their runtime parameters
// come and go. Parameters are durable, so the links of a restarted broker start again here; a
// definitions import goes through the same parameter store and starts them too.
import type { Broker } from '../broker/broker';
import { log } from '../logger';
import type { LinkEnv } from './connect';
import { Shovel } from './shovel';
import { parseShovel } from './shovel-config';
import { shovelStatus, type ShovelStatus } from './status';
import { FederationManager } from './federation/federation-manager';

export interface LinksView {
  shovels(): ShovelStatus[];
  federationLinks(): Array<Record<string, unknown>>;
  /** restart a shovel (RabbitMQ's DELETE /api/shovels/vhost/{vhost}/{name}/restart); false when there is none */
  restartShovel(vhost: string, name: string): boolean;
}

const key = (vhost: string, name: string) => `${vhost}\u0000${name}`;

export class LinksManager implements LinksView {
  private readonly running = new Map<string, Shovel>();
  private readonly federation: FederationManager;

  constructor(private readonly broker: Broker, private readonly env: LinkEnv) {
    this.federation = new FederationManager(broker, env);
  }

  start(): void {
    const params = this.broker.runtime.parameters;
    params.watch('shovel', (vhost, name, value) => this.shovelChanged(vhost, name, value));
    for (const p of params.list('shovel')) this.shovelChanged(p.vhost, p.name, p.value);
    this.federation.start();
  }

  async stop(): Promise<void> {
    this.broker.runtime.parameters.watch('shovel', null);
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all([...all.map((s) => s.stop()), this.federation.stop()]);
  }

  private shovelChanged(vhost: string, name: string, value: unknown): void {
    const k = key(vhost, name);
    const old = this.running.get(k);
    if (old) {
      this.running.delete(k);
      void old.stop();
    }
    if (value === undefined) return;
    const s: Shovel = new Shovel(vhost, name, parseShovel(value as Record<string, unknown>), this.env, () => {
      // src-delete-after reached: the shovel removes itself, as in RabbitMQ
      log.info(`shovel '${name}' in vhost '${vhost}' completed (src-delete-after) and was deleted`);
      if (this.running.get(k) === s) this.broker.runtime.parameters.clear('shovel', vhost, name);
    });
    this.running.set(k, s);
    s.start();
  }

  shovels(): ShovelStatus[] {
    return [...this.running.values()].map((s) => shovelStatus(s, this.env.node));
  }

  federationLinks(): Array<Record<string, unknown>> {
    return this.federation.status();
  }

  restartShovel(vhost: string, name: string): boolean {
    const p = this.broker.runtime.parameters.get('shovel', vhost, name);
    if (!p) return false;
    this.shovelChanged(vhost, name, p.value);
    return true;
  }
}
