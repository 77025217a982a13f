// Definitions sections for users, vhosts, permissions and topic permissions, and the
// vhost-limits component of "parameters" (where RabbitMQ exports vhost limits).
import type { DefinitionsSection, Entry, ParameterComponent } from './index';
import { type User, userFromJson, userJson } from '../auth/users';
import { patternProblem } from '../auth/permissions';
import { type VhostLimits, limitsProblem } from '../auth/limits';

const isObject = (e: unknown): e is Entry => e !== null && typeof e === 'object' && !Array.isArray(e);
const isName = (v: unknown): v is string => typeof v === 'string' && v !== '';

const usersSection: DefinitionsSection = {
  key: 'users',
  validate(entries, ctx) {
    entries.forEach((e, i) => {
      if (!isObject(e)) return ctx.problem(i, 'expected an object');
      if (!isName(e['name'])) return ctx.problem(i, 'name must be a non-empty string');
      const u = userFromJson(e['name'], e);
      if (Array.isArray(u)) for (const p of u) ctx.problem(i, p);
    });
  },
  apply(entries, ctx) {
    const users = ctx.broker.auth.users;
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      users.set(e['name'] as string, userFromJson(e['name'] as string, e) as User);
    });
  },
  export: (broker) => [...broker.auth.users.values()].map(userJson),
};

const vhostsSection: DefinitionsSection = {
  key: 'vhosts',
  validate(entries, ctx) {
    entries.forEach((e, i) => {
      if (!isObject(e)) return ctx.problem(i, 'expected an object');
      if (!isName(e['name'])) return ctx.problem(i, 'name must be a non-empty string');
      if (e['limits'] !== undefined && !Array.isArray(e['limits'])) {
        const p = limitsProblem('vhost', e['limits']);
        if (p) ctx.problem(i, `vhost '${e['name']}': ${p}`);
      }
    });
  },
  apply(entries, ctx) {
    const b = ctx.broker;
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      const name = e['name'] as string;
      if (!b.vhosts.has(name)) {
        b.addVhost(name);
        ctx.undo(() => b.deleteVhost(name));
      }
      const meta = e['metadata'];
      const description = isObject(meta) && typeof meta['description'] === 'string' ? meta['description'] : typeof e['description'] === 'string' ? e['description'] : undefined;
      if (description !== undefined) b.vhostDescriptions.set(name, description);
      if (isObject(e['limits'])) b.auth.vhostLimits.set(name, { ...(e['limits'] as VhostLimits) });
    });
  },
  export: (broker) => [...broker.vhosts.keys()].map((name) => {
    const d = broker.vhostDescriptions.get(name);
    return d === undefined ? { name } : { name, metadata: { description: d, tags: [] } };
  }),
};

function checkUserVhost(e: Entry, i: number, ctx: Parameters<DefinitionsSection['validate']>[1]): boolean {
  if (!isName(e['user'])) { ctx.problem(i, 'user must be a non-empty string'); return false; }
  if (!isName(e['vhost'])) { ctx.problem(i, 'vhost must be a non-empty string'); return false; }
  let ok = true;
  if (!ctx.userExists(e['user'])) { ctx.problem(i, `no user '${e['user']}'`); ok = false; }
  if (!ctx.vhostExists(e['vhost'])) { ctx.problem(i, `no vhost '${e['vhost']}'`); ok = false; }
  return ok;
}

const permissionsSection: DefinitionsSection = {
  key: 'permissions',
  validate(entries, ctx) {
    entries.forEach((e, i) => {
      if (!isObject(e)) return ctx.problem(i, 'expected an object');
      checkUserVhost(e, i, ctx);
      for (const k of ['configure', 'write', 'read']) {
        const p = patternProblem(e[k]);
        if (p) ctx.problem(i, `${k}: ${p}`);
      }
    });
  },
  apply(entries, ctx) {
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      ctx.broker.auth.permissions.set({
        user: e['user'] as string, vhost: e['vhost'] as string,
        configure: e['configure'] as string, write: e['write'] as string, read: e['read'] as string,
      });
    });
  },
  export: (broker) => broker.auth.permissions.list(),
};

const topicPermissionsSection: DefinitionsSection = {
  key: 'topic_permissions',
  validate(entries, ctx) {
    entries.forEach((e, i) => {
      if (!isObject(e)) return ctx.problem(i, 'expected an object');
      checkUserVhost(e, i, ctx);
      if (typeof e['exchange'] !== 'string') ctx.problem(i, 'exchange must be a string');
      for (const k of ['write', 'read']) {
        const p = patternProblem(e[k]);
        if (p) ctx.problem(i, `${k}: ${p}`);
      }
    });
  },
  apply(entries, ctx) {
    entries.forEach((e, i) => {
      if (ctx.skipped(i)) return;
      ctx.broker.auth.topicPermissions.set({
        user: e['user'] as string, vhost: e['vhost'] as string, exchange: e['exchange'] as string,
        write: e['write'] as string, read: e['read'] as string,
      });
    });
  },
  export: (broker) => broker.auth.topicPermissions.list(),
};

export const AUTH_SECTIONS: DefinitionsSection[] = [usersSection, vhostsSection, permissionsSection, topicPermissionsSection];

export const VHOST_LIMITS_COMPONENT: ParameterComponent = {
  name: 'vhost-limits',
  validate(p, ctx, i) {
    if (!isName(p['vhost'])) return ctx.problem(i, 'vhost must be a non-empty string');
    if (!ctx.vhostExists(p['vhost'])) ctx.problem(i, `no vhost '${p['vhost']}'`);
    const lp = limitsProblem('vhost', p['value']);
    if (lp) ctx.problem(i, `vhost-limits of '${p['vhost']}': ${lp}`);
  },
  apply(p, ctx) {
    ctx.broker.auth.vhostLimits.set(p['vhost'] as string, { ...(p['value'] as VhostLimits) });
  },
  export: (broker) => [...broker.auth.vhostLimits].map(([vhost, value]) => ({
    value: { ...value }, vhost, component: 'vhost-limits', name: 'limits',
  })),
};
