// The broker's users, permissions, topic permissions and limits, with the operations the
// management API and definitions import perform on them. Every change bumps `epoch`, which
// open connections compare against to drop what they cached, so that a permission change applies
// at a connection's next operation; deleting a user closes that user's connections.
import { log } from '../../logger';
import { type User, newUser, passwordMatches } from './users';
import { PermissionTable, TopicPermissionTable, type Permission, type TopicPermission, patternProblem } from './permissions';
import { ConnectionTracker, type UserLimits, type VhostLimits, type UserLimitName, type VhostLimitName, limitOf } from './limits';

export interface AuthStoreOptions {
  // Users allowed to connect only from loopback addresses (RabbitMQ's loopback_users).
  loopbackUsers?: string[];
}

export interface AuthSnapshot {
  users: Map<string, User>;
  permissions: Permission[];
  topicPermissions: TopicPermission[];
  vhostLimits: Map<string, VhostLimits>;
}

export class AuthStore {
  readonly users = new Map<string, User>();
  readonly permissions = new PermissionTable();
  readonly topicPermissions = new TopicPermissionTable();
  readonly vhostLimits = new Map<string, VhostLimits>();
  readonly tracker = new ConnectionTracker();
  readonly loopbackUsers: Set<string>;
  epoch = 0;
  // Set by the broker: persist the definitions after a change.
  onChange: () => void = () => undefined;

  constructor(opts: AuthStoreOptions = {}) {
    this.loopbackUsers = new Set(opts.loopbackUsers ?? ['guest']);
  }

  private changed(): void {
    this.epoch++;
    this.onChange();
  }

  // ---- authentication ---------------------------------------------------------------------------

  // The user, or why the login is refused (RabbitMQ's texts, for the log).
  authenticatePassword(username: string, password: string, remoteAddress: string | undefined): User | string {
    if (password === '') return `user '${username}' attempted to log in with a blank password, which is prohibited by the internal authN backend`;
    const u = this.users.get(username);
    if (!u || !passwordMatches(u, password)) return `user '${username}' - invalid credentials`;
    return this.loopbackCheck(u, remoteAddress);
  }

  // EXTERNAL: the TLS layer has verified the certificate; the name it carries must be a user.
  authenticateExternal(username: string, remoteAddress: string | undefined): User | string {
    const u = this.users.get(username);
    if (!u) return `user '${username}' - invalid credentials`;
    return this.loopbackCheck(u, remoteAddress);
  }

  private loopbackCheck(u: User, remoteAddress: string | undefined): User | string {
    if (this.loopbackUsers.has(u.name) && !isLoopback(remoteAddress)) return `user '${u.name}' can only connect via localhost`;
    return u;
  }

  canAccessVhost(user: string, vhost: string): boolean {
    return this.permissions.get(user, vhost) !== undefined;
  }

  // ---- users ------------------------------------------------------------------------------------

  putUser(u: User): 'created' | 'updated' {
    const existed = this.users.has(u.name);
    this.users.set(u.name, u);
    log.info(`${existed ? 'updated' : 'created'} user '${u.name}'`);
    this.changed();
    return existed ? 'updated' : 'created';
  }

  // RabbitMQ's first start: guest/guest, administrator, all permissions on "/".
  addDefaultUser(): void {
    this.users.set('guest', newUser('guest', 'guest', ['administrator']));
    this.permissions.set({ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' });
  }

  deleteUser(name: string): boolean {
    if (!this.users.delete(name)) return false;
    this.permissions.deleteUser(name);
    this.topicPermissions.deleteUser(name);
    log.info(`deleted user '${name}'; closing its connections`);
    for (const c of this.tracker.ofUser(name)) c.forceClose(`user '${name}' is deleted`);
    this.changed();
    return true;
  }

  setUserLimit(user: string, name: UserLimitName, value: number): void {
    const u = this.users.get(user);
    if (!u) return;
    u.limits = { ...u.limits, [name]: value };
    this.changed();
  }

  clearUserLimit(user: string, name: UserLimitName | 'all'): void {
    const u = this.users.get(user);
    if (!u) return;
    const l: UserLimits = { ...u.limits };
    if (name === 'all') u.limits = {};
    else { delete l[name]; u.limits = l; }
    this.changed();
  }

  userLimit(user: string, name: UserLimitName): number | null {
    return limitOf(this.users.get(user)?.limits, name);
  }

  // ---- permissions -------------------------------------------------------------------------------

  // Returns the problem with a pattern instead of storing it.
  setPermission(p: Permission): string | null {
    for (const k of ['configure', 'write', 'read'] as const) {
      const e = patternProblem(p[k]);
      if (e) return `${k}: ${e}`;
    }
    this.permissions.set(p);
    this.changed();
    return null;
  }

  clearPermission(user: string, vhost: string): boolean {
    if (!this.permissions.delete(user, vhost)) return false;
    this.changed();
    return true;
  }

  setTopicPermission(p: TopicPermission): string | null {
    for (const k of ['write', 'read'] as const) {
      const e = patternProblem(p[k]);
      if (e) return `${k}: ${e}`;
    }
    this.topicPermissions.set(p);
    this.changed();
    return null;
  }

  clearTopicPermissions(user: string, vhost: string, exchange?: string): boolean {
    if (!this.topicPermissions.delete(user, vhost, exchange)) return false;
    this.changed();
    return true;
  }

  // ---- vhost limits ------------------------------------------------------------------------------

  setVhostLimits(vhost: string, limits: VhostLimits): void {
    if (Object.keys(limits).length === 0) this.vhostLimits.delete(vhost);
    else this.vhostLimits.set(vhost, { ...limits });
    this.changed();
  }

  setVhostLimit(vhost: string, name: VhostLimitName, value: number): void {
    this.setVhostLimits(vhost, { ...this.vhostLimits.get(vhost), [name]: value });
  }

  clearVhostLimit(vhost: string, name: VhostLimitName | 'all'): void {
    if (name === 'all') { this.setVhostLimits(vhost, {}); return; }
    const l = { ...this.vhostLimits.get(vhost) };
    delete l[name];
    this.setVhostLimits(vhost, l);
  }

  vhostLimit(vhost: string, name: VhostLimitName): number | null {
    return limitOf(this.vhostLimits.get(vhost), name);
  }

  // A deleted vhost takes its permissions, topic permissions and limits with it.
  forgetVhost(vhost: string): void {
    this.permissions.deleteVhost(vhost);
    this.topicPermissions.deleteVhost(vhost);
    this.vhostLimits.delete(vhost);
    this.changed();
  }

  // ---- for atomic definitions import --------------------------------------------------------------

  snapshot(): AuthSnapshot {
    return {
      users: new Map([...this.users].map(([k, u]) => [k, { ...u, tags: [...u.tags], limits: { ...u.limits } }])),
      permissions: this.permissions.list(),
      topicPermissions: this.topicPermissions.list(),
      vhostLimits: new Map([...this.vhostLimits].map(([k, l]) => [k, { ...l }])),
    };
  }

  restore(s: AuthSnapshot): void {
    this.users.clear();
    for (const [k, u] of s.users) this.users.set(k, u);
    this.permissions.clear();
    for (const p of s.permissions) this.permissions.set(p);
    this.topicPermissions.clear();
    for (const p of s.topicPermissions) this.topicPermissions.set(p);
    this.vhostLimits.clear();
    for (const [k, l] of s.vhostLimits) this.vhostLimits.set(k, l);
    this.epoch++;
  }
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
