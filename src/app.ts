// Wires the layers together for `warren start`: broker (with its store), AMQP listener, and the
// clean shutdown path used by SIGTERM/SIGINT.
import * as path from 'node:path';
import { Broker } from './broker/broker';
import { AmqpServer } from './server/server';
import { log } from './logger';

export interface AppOptions {
  port: number;
  host?: string;
  httpPort?: number;
  dataDir: string;
  heartbeat?: number;
  consumerTimeoutMs?: number;
  diskFreeLimitBytes?: number;
}

export interface App {
  broker: Broker;
  amqp: AmqpServer;
  port: number;
  stop(): Promise<void>;
}

export async function startApp(opts: AppOptions): Promise<App> {
  const dataDir = path.resolve(opts.dataDir);
  const t0 = Date.now();
  log.info(`starting Warren, data directory ${dataDir}`);
  const broker = Broker.open({ dataDir, diskFreeLimitBytes: opts.diskFreeLimitBytes });
  log.info(`broker state recovered in ${((Date.now() - t0) / 1000).toFixed(3)} s`);
  const amqp = new AmqpServer(broker, { port: opts.port, host: opts.host, heartbeat: opts.heartbeat, consumerTimeoutMs: opts.consumerTimeoutMs });
  const port = await amqp.listen();
  let stopping: Promise<void> | null = null;
  return {
    broker, amqp, port,
    stop() {
      stopping ??= (async () => {
        log.info('stopping Warren');
        await amqp.close();
        await broker.close();
        log.info('Warren stopped');
      })();
      return stopping;
    },
  };
}
