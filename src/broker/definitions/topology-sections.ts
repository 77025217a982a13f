// Definitions sections for exchanges, queues and bindings. Validation makes the checks that
// applying would otherwise fail on (exchange types, reserved names, queue arguments, binding
// ends), so that an import is refused before any of it is applied.
import type { DefinitionsSection, Entry } from './index';
import { EXCHANGE_TYPES, tableKey } from '../exchange';
import { DEFAULT_EXCHANGES, type UnavailableQueue } from '../vhost';
import { parseQueueArgs } from '../queue-args';
import { checkStreamDeclare, isStreamDeclare } from '../stream-args';
import { log } from '../../logger';
import { fromJson, toJson } from './json-args';
import type { FieldTable } from '../../protocol';

const isObject = (e: unknown): e is Entry => e !== null && typeof e === 'object' && !Array.isArray(e);
const isDefaultExchange = (name: string) => name === '' || DEFAULT_EXCHANGES.some(([n]) => n === name);

function bool(e: Entry, key: string, dflt: boolean, problem: (t: string) => void): boolean {
  const v = e[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') { problem(`${key} must be true or false`); return dflt; }
  return v;
}

// Arguments of an entry as a field table, or the problem with them.
function argsOf(e: Entry, problem: (t: string) => void): FieldTable | null {
  const a = e['arguments'];
  if (a === undefined || a === null) return {};
  if (!isObject(a)) { problem('arguments must be an object'); return null; }
  try {
    return fromJson(a);
  } catch (err) {
    problem((err as Error).message);
    return null;
  }
}

function errText(e: unknown): string {
  const m = (e as Error).message;
  return m.replace(/^[A-Z_]+ - /, '');
}

const exchangesSection: DefinitionsSection = {
  key: 'exchanges',
  validate(entries, ctx) {
    entries.forEach((e, i) => {
      if (!isObject(e)) return ctx.problem(i, 'expected an object');
      const p = (t: string) => ctx.problem(i, t);
      const { name, vhost, type } = e;
      if (typeof name !== 'string') return p('name must be a string');
      if (typeof vhost !== 'string' || !ctx.vhostExists(vhost)) return p(`no vhost ${JSON.stringify(vhost)}`);
      if (typeof type !== 'string' || !EXCHANGE_TYPES.has(type)) p(`exchange '${name}': unknown exchange type ${JSON.stringify(type)}`);
      if (!isDefaultExchange(name) && name.startsWith('amq.') && !ctx.broker.vhosts.get(vhost)?.exchanges.has(name)) {
        p(`exchange name '${name}' contains reserved prefix 'amq.*'`);
      }
      for (const k of ['durable', 'auto_delete', 'internal']) bool(e, k, false, p);
      argsOf(e, p);
    });
  },
  apply(entries, ctx) {
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      const vh = ctx.broker.vhosts.get(e['vhost'] as string)!;
      const name = e['name'] as string;
      if (vh.exchanges.has(name)) return;
      const none = () => undefined;
      vh.declareExchange(name, {
        type: e['type'] as string, passive: false, durable: bool(e, 'durable', true, none), autoDelete: bool(e, 'auto_delete', false, none),
        internal: bool(e, 'internal', false, none), args: argsOf(e, none)!,
      });
      ctx.undo(() => vh.deleteExchange(name, false));
    });
  },
  export(broker) {
    const out: unknown[] = [];
    for (const vh of broker.vhosts.values()) {
      for (const x of vh.exchanges.values()) {
        if (isDefaultExchange(x.name) || !x.durable) continue;
        out.push({ name: x.name, vhost: vh.name, type: x.type, durable: true, auto_delete: x.autoDelete, internal: x.internal, arguments: toJson(x.args) });
      }
    }
    return out;
  },
};

const queuesSection: DefinitionsSection = {
  key: 'queues',
  validate(entries, ctx) {
    entries.forEach((e, i) => {
      if (!isObject(e)) return ctx.problem(i, 'expected an object');
      const p = (t: string) => ctx.problem(i, t);
      const { name, vhost } = e;
      if (typeof name !== 'string' || name === '') return p('name must be a non-empty string');
      if (typeof vhost !== 'string' || !ctx.vhostExists(vhost)) return p(`no vhost ${JSON.stringify(vhost)}`);
      for (const k of ['durable', 'auto_delete']) bool(e, k, false, p);
      if (e['durable'] === false) p(`queue '${name}' in vhost '${vhost}': non-durable queues are not part of definitions`);
      const args = argsOf(e, p);
      if (args === null) return;
      try {
        // a stream's own checks (refused arguments, x-max-age) come first, as at declare
        if (isStreamDeclare(args)) checkStreamDeclare(name, vhost, { durable: e['durable'] !== false, exclusive: false, autoDelete: e['auto_delete'] === true, args });
        else parseQueueArgs(name, vhost, args);
      } catch (err) {
        p(errText(err));
      }
    });
  },
  apply(entries, ctx) {
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      const vh = ctx.broker.vhosts.get(e['vhost'] as string)!;
      const name = e['name'] as string;
      if (vh.queues.has(name) || vh.unavailable.has(name)) return;
      const t0 = Date.now();
      let q;
      try {
        q = vh.restoreQueue(name, argsOf(e, () => undefined)!, bool(e, 'auto_delete', false, () => undefined));
      } catch (err) {
        // One queue that cannot be recovered (an unreadable file) must neither stop the broker
        // nor lose its data: it stays in the definitions, unavailable, with its directory.
        log.error(`queue '${name}' in vhost '${vh.name}': recovery failed, the queue is unavailable until this is fixed and the broker restarted: ${(err as Error).message}`);
        vh.unavailable.set(name, { definition: e as unknown as UnavailableQueue['definition'], reason: (err as Error).message, bindings: [] });
        ctx.undo(() => vh.unavailable.delete(name));
        return;
      }
      ctx.undo(() => vh.removeQueue(q));
      if (ctx.recovering) {
        const s = ((Date.now() - t0) / 1000).toFixed(3);
        log.info(`queue '${name}' in vhost '${vh.name}': ${q.messageCount} messages recovered in ${s} s`);
      }
    });
  },
  export(broker) {
    const out: unknown[] = [];
    for (const vh of broker.vhosts.values()) {
      for (const q of vh.queues.values()) {
        if (!q.durable || q.exclusiveOwner !== null) continue;
        out.push({ name: q.name, vhost: vh.name, durable: true, auto_delete: q.autoDelete, arguments: toJson(q.rawArgs) });
      }
      for (const u of vh.unavailable.values()) out.push(u.definition);
    }
    return out;
  },
};

const bindingsSection: DefinitionsSection = {
  key: 'bindings',
  validate(entries, ctx) {
    entries.forEach((e, i) => {
      if (!isObject(e)) return ctx.problem(i, 'expected an object');
      const p = (t: string) => ctx.problem(i, t);
      const { source, vhost, destination, destination_type: kind } = e;
      if (typeof vhost !== 'string' || !ctx.vhostExists(vhost)) return p(`no vhost ${JSON.stringify(vhost)}`);
      if (typeof source !== 'string' || typeof destination !== 'string') return p('source and destination must be strings');
      if (kind !== 'queue' && kind !== 'exchange') return p(`destination_type must be "queue" or "exchange", got ${JSON.stringify(kind)}`);
      if (e['routing_key'] !== undefined && typeof e['routing_key'] !== 'string') p('routing_key must be a string');
      if (source === '' || (kind === 'exchange' && destination === '')) return p('operation not permitted on the default exchange');
      if (!ctx.exchangeExists(vhost, source)) p(`no exchange '${source}' in vhost '${vhost}'`);
      if (kind === 'queue' && !ctx.queueExists(vhost, destination)) p(`no queue '${destination}' in vhost '${vhost}'`);
      if (kind === 'exchange' && !ctx.exchangeExists(vhost, destination)) p(`no exchange '${destination}' in vhost '${vhost}'`);
      const q = kind === 'queue' ? ctx.broker.vhosts.get(vhost)?.queues.get(destination) : undefined;
      if (q && q.exclusiveOwner !== null) p(`queue '${destination}' in vhost '${vhost}' is exclusive to a connection`);
      argsOf(e, p);
    });
  },
  apply(entries, ctx) {
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      const vh = ctx.broker.vhosts.get(e['vhost'] as string)!;
      const source = e['source'] as string;
      const dest = e['destination'] as string;
      const rk = (e['routing_key'] as string | undefined) ?? '';
      const args = argsOf(e, () => undefined)!;
      const down = e['destination_type'] === 'queue' ? vh.unavailable.get(dest) : undefined;
      if (down !== undefined) {
        down.bindings.push(e as unknown as UnavailableQueue['bindings'][number]);
        ctx.undo(() => { down.bindings = down.bindings.filter((x) => x !== (e as unknown)); });
        return;
      }
      const x = vh.exchanges.get(source);
      const target = e['destination_type'] === 'queue' ? vh.queues.get(dest) : vh.exchanges.get(dest);
      if (!x || !target || x.findBinding(target, rk, tableKey(args))) return;
      if (e['destination_type'] === 'queue') {
        vh.bindQueue(dest, source, rk, args, null);
        ctx.undo(() => vh.unbindQueue(dest, source, rk, args, null));
      } else {
        vh.bindExchange(dest, source, rk, args);
        ctx.undo(() => vh.unbindExchange(dest, source, rk, args));
      }
    });
  },
  export(broker) {
    const out: unknown[] = [];
    for (const vh of broker.vhosts.values()) {
      for (const b of vh.allBindings()) {
        if (!b.source.durable) continue;
        const dest = b.dest;
        if (dest.kind === 'queue') {
          const q = vh.queues.get(dest.name);
          if (!q || !q.durable || q.exclusiveOwner !== null) continue;
        } else {
          const x = vh.exchanges.get(dest.name);
          if (!x || !x.durable) continue;
        }
        out.push({ source: b.source.name, vhost: vh.name, destination: dest.name, destination_type: dest.kind, routing_key: b.routingKey, arguments: toJson(b.args) });
      }
      for (const u of vh.unavailable.values()) out.push(...u.bindings);
    }
    return out;
  },
};

export const TOPOLOGY_SECTIONS: DefinitionsSection[] = [queuesSection, exchangesSection, bindingsSection];
