// Users and permissions, for modules outside src/broker/auth: the types, and the permission test
// the management API uses. The model lives in src/broker/auth (users.ts, permissions.ts,
// password-hash.ts, limits.ts, auth-store.ts, access-control.ts).
import type { AuthStore } from './auth/auth-store';
import { type PermKind, matches } from './auth/permissions';

export type { User } from './auth/users';
export type { Permission, TopicPermission, PermKind } from './auth/permissions';
export { isLoopback } from './auth/auth-store';

// Whether a user may act on a resource (the name as it is matched: callers pass "amq.default"
// for the default exchange). No permission entry for the vhost grants nothing.
export function permits(broker: { auth: AuthStore }, user: string, vhost: string, kind: PermKind, resource: string): boolean {
  const p = broker.auth.permissions.get(user, vhost);
  return p !== undefined && matches(p[kind], resource);
}
