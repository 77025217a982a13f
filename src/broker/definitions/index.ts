// Definitions import and export, section by section. An import is validated as a whole before
// anything is applied: every section checks its entries (and their references to users, vhosts,
// exchanges and queues, existing or in the same document); one problem anywhere refuses the whole
// document with the list of problems. Then the sections are applied in order, each recording how
// to undo what it did, so that an unexpected failure half-way leaves the broker as it was.
//
// A section is { key, validate, apply, export }; more plug in with registerSection (policies and
// parameters come from the management work), and components of the "parameters" section with
// registerParameterComponent; policies, global parameters and the runtime parameter components
// (src/broker/runtime-parameters.ts) are sections too. A parameter component nobody handles is
// a problem that refuses the import: nothing is silently dropped.
import type { Broker } from '../broker';
import { log } from '../../logger';
import { AUTH_SECTIONS, VHOST_LIMITS_COMPONENT } from './auth-sections';
import { TOPOLOGY_SECTIONS } from './topology-sections';
import { globalParametersSection, policiesSection, runtimeParameters } from './runtime-sections';

export interface Definitions {
  [key: string]: unknown;
  users?: unknown[];
  vhosts?: unknown[];
  permissions?: unknown[];
  topic_permissions?: unknown[];
  parameters?: unknown[];
  global_parameters?: unknown[];
  policies?: unknown[];
  queues?: unknown[];
  exchanges?: unknown[];
  bindings?: unknown[];
}

export type Entry = Record<string, unknown>;

export interface ValidationContext {
  readonly broker: Broker;
  readonly doc: Definitions;
  problem(index: number, text: string): void;
  vhostExists(name: string): boolean;
  userExists(name: string): boolean;
  exchangeExists(vhost: string, name: string): boolean;
  queueExists(vhost: string, name: string): boolean;
}

export interface ApplyContext {
  readonly broker: Broker;
  readonly recovering: boolean;
  // Entries found invalid while recovering (skipped, not fatal: see importDefinitions).
  skipped(index: number): boolean;
  // Registers how to take back a change if a later step fails.
  undo(fn: () => void): void;
}

export interface DefinitionsSection {
  readonly key: string;
  validate(entries: Entry[], ctx: ValidationContext): void;
  apply(entries: Entry[], ctx: ApplyContext): void;
  export(broker: Broker): unknown[];
}

// One component of the "parameters" section (RabbitMQ's runtime parameters, e.g. vhost-limits).
export interface ParameterComponent {
  readonly name: string;
  validate(p: Entry, ctx: ValidationContext, index: number): void;
  apply(p: Entry, ctx: ApplyContext): void;
  export(broker: Broker): Entry[];
}

const sections: DefinitionsSection[] = [];
const parameterComponents = new Map<string, ParameterComponent>();

// Adds a section; `before` names the section it must be applied ahead of (default: at the end).
export function registerSection(s: DefinitionsSection, before?: string): void {
  const old = sections.findIndex((x) => x.key === s.key);
  if (old >= 0) sections.splice(old, 1);
  const i = before === undefined ? -1 : sections.findIndex((x) => x.key === before);
  if (i < 0) sections.push(s);
  else sections.splice(i, 0, s);
}

export function registerParameterComponent(c: ParameterComponent): void {
  parameterComponents.set(c.name, c);
}

export class DefinitionsError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems: ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? '; ...' : ''}`);
  }
}

// ---- kept sections ---------------------------------------------------------------------------------

// "parameters": each entry goes to its component (registerParameterComponent, or those of
// src/broker/runtime-parameters.ts); a component nobody handles is refused, not dropped.
const parametersSection: DefinitionsSection = {
  key: 'parameters',
  validate(entries, ctx) {
    entries.forEach((p, i) => {
      if (p === null || typeof p !== 'object' || Array.isArray(p)) { ctx.problem(i, 'expected an object'); return; }
      if (typeof p['component'] !== 'string') { ctx.problem(i, 'component must be a string'); return; }
      if (typeof p['name'] !== 'string') { ctx.problem(i, 'name must be a string'); return; }
      const own = parameterComponents.get(p['component']);
      if (own) own.validate(p, ctx, i);
      else runtimeParameters.validate(p, ctx, i);
    });
  },
  apply(entries, ctx) {
    entries.forEach((p, i) => {
      if (ctx.skipped(i)) return;
      const own = parameterComponents.get(p['component'] as string);
      if (own) own.apply(p, ctx);
      else runtimeParameters.apply(p, ctx.broker, ctx.undo);
    });
  },
  export(broker) {
    const out: unknown[] = [];
    for (const c of parameterComponents.values()) out.push(...c.export(broker));
    out.push(...runtimeParameters.export(broker));
    return out;
  },
};

for (const s of AUTH_SECTIONS) registerSection(s);
registerParameterComponent(VHOST_LIMITS_COMPONENT);
registerSection(parametersSection);
registerSection(policiesSection);
registerSection(globalParametersSection);
for (const s of TOPOLOGY_SECTIONS) registerSection(s);

// ---- import -------------------------------------------------------------------------------------------

export interface ImportOptions {
  // Loading the broker's own definitions at start: invalid entries are logged and skipped
  // instead of refusing everything, so that one bad entry cannot keep the broker from starting.
  recovering?: boolean;
}

export function importDefinitions(broker: Broker, doc: Definitions, opts: ImportOptions = {}): void {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new DefinitionsError(['definitions must be a JSON object']);
  const problems: string[] = [];
  const invalid = new Map<string, Set<number>>();
  const entriesOf = (key: string): Entry[] => (Array.isArray(doc[key]) ? (doc[key] as Entry[]) : []);
  for (const s of sections) {
    const v = doc[s.key];
    if (v !== undefined && v !== null && !Array.isArray(v)) { problems.push(`${s.key}: expected an array`); continue; }
    const bad = new Set<number>();
    invalid.set(s.key, bad);
    const ctx = validationContext(broker, doc, (i, text) => { bad.add(i); problems.push(`${s.key}[${i}]: ${text}`); });
    s.validate(entriesOf(s.key), ctx);
  }
  if (problems.length > 0) {
    if (!opts.recovering) throw new DefinitionsError(problems);
    for (const p of problems) log.warn(`definitions: skipping invalid entry ${p}`);
  }
  const undo: Array<() => void> = [];
  const authBefore = broker.auth.snapshot();
  try {
    for (const s of sections) {
      const bad = invalid.get(s.key) ?? new Set<number>();
      s.apply(entriesOf(s.key), {
        broker, recovering: opts.recovering ?? false,
        skipped: (i) => bad.has(i),
        undo: (fn) => { undo.push(fn); },
      });
    }
  } catch (e) {
    log.error(`definitions: import failed half-way, undoing it: ${(e as Error)?.stack ?? e}`);
    for (const fn of undo.reverse()) {
      try { fn(); } catch (e2) { log.error(`definitions: undo step failed: ${(e2 as Error).message}`); }
    }
    broker.auth.restore(authBefore);
    throw new DefinitionsError([`import failed and was undone: ${(e as Error).message}`]);
  }
  broker.auth.epoch++;
}

function validationContext(broker: Broker, doc: Definitions, problem: (i: number, text: string) => void): ValidationContext {
  // The document's own names, indexed once: looking each reference up by scanning the document
  // made an import (and a restart) of 20,000 queues with a binding each take a minute.
  const names = (k: string, key: (e: Entry) => unknown): Set<string> => {
    const out = new Set<string>();
    if (Array.isArray(doc[k])) for (const e of doc[k] as Entry[]) if (e !== null && typeof e === 'object') out.add(String(key(e)));
    return out;
  };
  let vhosts: Set<string> | null = null;
  let users: Set<string> | null = null;
  let exchanges: Set<string> | null = null;
  let queues: Set<string> | null = null;
  const inVhost = (e: Entry) => JSON.stringify([e['vhost'], e['name']]);
  return {
    broker, doc, problem,
    vhostExists: (name) => broker.vhosts.has(name) || (vhosts ??= names('vhosts', (v) => v['name'])).has(name),
    userExists: (name) => broker.auth.users.has(name) || (users ??= names('users', (u) => u['name'])).has(name),
    exchangeExists: (vhost, name) => broker.vhosts.get(vhost)?.exchanges.has(name) === true
      || (exchanges ??= names('exchanges', inVhost)).has(JSON.stringify([vhost, name]))
      || (!broker.vhosts.has(vhost) && DEFAULT_EXCHANGE_NAMES.has(name)),
    queueExists: (vhost, name) => broker.vhosts.get(vhost)?.queues.has(name) === true
      || broker.vhosts.get(vhost)?.unavailable.has(name) === true
      || (queues ??= names('queues', inVhost)).has(JSON.stringify([vhost, name])),
  };
}

// Exchanges every new vhost has.
const DEFAULT_EXCHANGE_NAMES = new Set(['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']);

// ---- export ------------------------------------------------------------------------------------------

export function exportDefinitions(broker: Broker): Definitions {
  const d: Definitions = { warren_version: broker.version };
  for (const s of sections) d[s.key] = s.export(broker);
  return d;
}
