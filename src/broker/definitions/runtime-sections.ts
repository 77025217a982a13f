// Definitions sections for policies and global parameters, and the "parameters" components
// that src/broker/runtime-parameters.ts manages (operator_policy, shovel, federation-upstream,
// federation-upstream-set): validated with RuntimeParameters.check, applied entry by entry with
// an undo that puts back what was there.
import type { Broker } from '../broker';
import type { DefinitionsSection, Entry, ValidationContext } from './index';
import type { PolicyJson } from '../policies';
import type { ParameterJson } from '../parameters';

function vhostsIn(ctx: ValidationContext): Set<string> {
  const v = ctx.doc.vhosts;
  return new Set(Array.isArray(v) ? v.map((x) => (x as Entry)?.['name']).filter((n): n is string => typeof n === 'string') : []);
}

// RuntimeParameters.check names its problems after the object; one entry at a time keeps the index.
function checkEach(key: 'policies' | 'global_parameters', entries: Entry[], ctx: ValidationContext): void {
  const vhosts = vhostsIn(ctx);
  entries.forEach((e, i) => {
    for (const p of ctx.broker.runtime.check({ [key]: [e] }, vhosts)) ctx.problem(i, p.replace(/^\w+\[0\]: /, ''));
  });
}

export const policiesSection: DefinitionsSection = {
  key: 'policies',
  validate: (entries, ctx) => checkEach('policies', entries, ctx),
  apply(entries, ctx) {
    const store = ctx.broker.runtime.policies;
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      const p = e as unknown as PolicyJson;
      const old = store.get(p.vhost, p.name);
      ctx.broker.runtime.apply({ policies: [p] });
      ctx.undo(() => { if (old) store.put(old); else store.delete(p.vhost, p.name); });
    });
  },
  export: (broker) => broker.runtime.exportSections().policies,
};

export const globalParametersSection: DefinitionsSection = {
  key: 'global_parameters',
  validate: (entries, ctx) => checkEach('global_parameters', entries, ctx),
  apply(entries, ctx) {
    const g = ctx.broker.runtime.global;
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      const name = e['name'] as string;
      const had = g.has(name);
      const old = g.get(name);
      g.set(name, e['value']);
      ctx.undo(() => { if (had) g.set(name, old); else g.delete(name); });
    });
  },
  export: (broker) => broker.runtime.exportSections().global_parameters,
};

// The parameter components RuntimeParameters knows, as one handler for the "parameters" section.
export const runtimeParameters = {
  handles: (broker: Broker, component: string) => broker.runtime.parameters.has(component),
  validate(p: Entry, ctx: ValidationContext, i: number): void {
    for (const problem of ctx.broker.runtime.check({ parameters: [p as unknown as ParameterJson] }, vhostsIn(ctx))) ctx.problem(i, problem);
  },
  apply(p: Entry, broker: Broker, undo: (fn: () => void) => void): void {
    const store = broker.runtime.parameters;
    const { component, vhost, name } = p as unknown as ParameterJson;
    const old = store.get(component, vhost, name);
    store.set(component, vhost, name, p['value']);
    undo(() => { if (old) store.set(component, vhost, name, old.value); else store.clear(component, vhost, name); });
  },
  export: (broker: Broker) => broker.runtime.parameters.list(),
};
