// The broker's policies, operator policies, vhost parameters and global parameters, and the
// definitions sections that carry them ("policies", "parameters", "global_parameters"), in
// RabbitMQ's shapes: an operator policy is exported as a parameter of component
// "operator_policy", as RabbitMQ does.
//
// Import is two steps: check() names everything that cannot be applied (before anything is
// changed), then apply().
import * as crypto from 'node:crypto';
import type { Exchange } from './exchange';
import type { Queue } from './queue';
import type { VHost } from './vhost';
import { type Policy, type PolicyJson, type PolicyKind, PolicyError, PolicyStore, parsePolicy, policyJson } from './policies';
import { applyPolicies } from './policy-apply';
import type { LinksView } from '../links/links-manager';
import {
  type ComponentHandler, type ParameterJson, ParameterError, ParameterStore, StoredComponent,
  validateFederationUpstream, validateFederationUpstreamSet, validateShovel,
} from './parameters';

export interface PolicySections {
  policies?: PolicyJson[];
  parameters?: ParameterJson[];
  global_parameters?: Array<{ name: string; value: unknown }>;
}

export class DefinitionsError extends Error {}

export interface RuntimeHost {
  vhosts: ReadonlyMap<string, VHost>;
  saveDefinitions(): void;
}

export class RuntimeParameters {
  readonly policies: PolicyStore;
  readonly operatorPolicies: PolicyStore;
  readonly parameters = new ParameterStore();
  readonly global = new Map<string, unknown>();
  /** the running shovels and federation links (set by the app once its listener is up) */
  links: LinksView | null = null;

  constructor(private readonly host: RuntimeHost) {
    this.policies = new PolicyStore('policy', (vh) => this.policiesChanged(vh));
    this.operatorPolicies = new PolicyStore('operator_policy', (vh) => this.policiesChanged(vh));
    const save = () => this.host.saveDefinitions();
    this.parameters.register('shovel', new StoredComponent('shovel', validateShovel, save));
    this.parameters.register('federation-upstream', new StoredComponent('federation-upstream', validateFederationUpstream, save));
    this.parameters.register('federation-upstream-set', new StoredComponent('federation-upstream-set', validateFederationUpstreamSet, save));
    this.parameters.register('operator_policy', this.operatorPolicyComponent());
    this.global.set('internal_cluster_id', `warren-cluster-id-${crypto.randomBytes(16).toString('base64url').slice(0, 22)}`);
  }

  get clusterName(): string | undefined {
    const v = this.global.get('cluster_name');
    return typeof v === 'string' ? v : undefined;
  }

  // Re-applies a vhost's policies to its queues and exchanges, at once: a policy change reaches
  // existing objects before the HTTP reply.
  private policiesChanged(vhost: string): void {
    const vh = this.host.vhosts.get(vhost);
    if (vh) {
      for (const q of vh.queues.values()) applyPolicies(this, vhost, q);
      for (const x of vh.exchanges.values()) applyPolicies(this, vhost, x);
    }
    this.host.saveDefinitions();
  }

  applyTo(vhost: string, o: Queue | Exchange): void {
    applyPolicies(this, vhost, o);
  }

  store(kind: PolicyKind): PolicyStore {
    return kind === 'policy' ? this.policies : this.operatorPolicies;
  }

  dropVhost(vhost: string): void {
    this.policies.dropVhost(vhost);
    this.operatorPolicies.dropVhost(vhost);
    this.parameters.dropVhost(vhost);
  }

  // operator_policy as a parameter component: the same store as /api/operator-policies.
  private operatorPolicyComponent(): ComponentHandler {
    return {
      set: (vhost, name, value) => {
        try {
          return this.operatorPolicies.put(parsePolicy('operator_policy', vhost, name, value as never));
        } catch (e) {
          if (e instanceof PolicyError) throw new ParameterError(e.message);
          throw e;
        }
      },
      clear: (vhost, name) => this.operatorPolicies.delete(vhost, name),
      list: (vhost) => this.operatorPolicies.list(vhost).map((p) => ({ vhost: p.vhost, name: p.name, value: operatorValue(p) })),
    };
  }

  setGlobal(name: string, value: unknown): boolean {
    const existed = this.global.has(name);
    this.global.set(name, value);
    this.host.saveDefinitions();
    return existed;
  }

  clearGlobal(name: string): boolean {
    const ok = this.global.delete(name);
    if (ok) this.host.saveDefinitions();
    return ok;
  }

  // ---- definitions ----------------------------------------------------------------------------

  exportSections(): Required<PolicySections> {
    return {
      policies: this.policies.list().map(policyJson),
      parameters: this.parameters.list(),
      global_parameters: [...this.global.keys()].sort().map((name) => ({ name, value: this.global.get(name) })),
    };
  }

  // Everything in the sections that cannot be applied, named; empty when all is well.
  // `vhostsInFile` are the vhosts the same definitions create.
  check(d: PolicySections, vhostsInFile: Set<string>): string[] {
    const problems: string[] = [];
    const vhostKnown = (v: unknown) => typeof v === 'string' && (this.host.vhosts.has(v) || vhostsInFile.has(v));
    const section = (name: string, v: unknown) => {
      if (v !== undefined && !Array.isArray(v)) { problems.push(`${name}: expected an array`); return []; }
      return (v ?? []) as unknown[];
    };
    for (const [i, p] of section('policies', d.policies).entries()) {
      const o = p as Record<string, unknown>;
      const what = `policy '${String(o?.name)}' in vhost '${String(o?.vhost)}'`;
      if (!o || typeof o.name !== 'string' || typeof o.vhost !== 'string') { problems.push(`policies[${i}]: name and vhost must be strings`); continue; }
      if (!vhostKnown(o.vhost)) problems.push(`${what}: no vhost '${o.vhost}'`);
      try { parsePolicy('policy', o.vhost, o.name, o as never); } catch (e) { problems.push(`${what}: ${oneLine((e as Error).message)}`); }
    }
    for (const [i, p] of section('parameters', d.parameters).entries()) {
      const o = p as Record<string, unknown>;
      if (!o || typeof o.name !== 'string' || typeof o.vhost !== 'string' || typeof o.component !== 'string') {
        problems.push(`parameters[${i}]: component, name and vhost must be strings`);
        continue;
      }
      const what = `parameter '${o.name}' of component '${o.component}' in vhost '${o.vhost}'`;
      if (!vhostKnown(o.vhost)) problems.push(`${what}: no vhost '${o.vhost}'`);
      if (!this.parameters.has(o.component)) { problems.push(`${what}: component '${o.component}' is not supported by Warren`); continue; }
      const problem = this.checkParameter(o.component, o.value);
      if (problem) problems.push(`${what}: ${problem}`);
    }
    for (const [i, p] of section('global_parameters', d.global_parameters).entries()) {
      const o = p as Record<string, unknown>;
      if (!o || typeof o.name !== 'string') problems.push(`global_parameters[${i}]: name must be a string`);
    }
    return problems;
  }

  private checkParameter(component: string, value: unknown): string | null {
    let errs: string[] = [];
    if (component === 'shovel') errs = validateShovel(value);
    else if (component === 'federation-upstream') errs = validateFederationUpstream(value);
    else if (component === 'federation-upstream-set') errs = validateFederationUpstreamSet(value);
    else if (component === 'operator_policy') {
      try { parsePolicy('operator_policy', '', '', value as never); } catch (e) { errs = [oneLine((e as Error).message)]; }
    }
    return errs.length > 0 ? errs.join('; ') : null;
  }

  // Applies checked sections. Throws on the first failure (check() should have caught it).
  apply(d: PolicySections): void {
    for (const g of d.global_parameters ?? []) this.global.set(g.name, g.value);
    for (const p of d.policies ?? []) this.policies.put(parsePolicy('policy', p.vhost, p.name, p as never));
    for (const p of d.parameters ?? []) this.parameters.set(p.component, p.vhost, p.name, p.value);
  }
}

function operatorValue(p: Policy): Record<string, unknown> {
  return { pattern: p.pattern, definition: { ...p.definition }, priority: p.priority, 'apply-to': p.applyTo };
}

function oneLine(s: string): string {
  return s.replace(/^Validation failed\s*/, '').trim().replace(/\n+/g, '; ');
}
