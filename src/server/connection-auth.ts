// The authentication steps of a connection, kept out of connection.ts: reading and checking the
// start-ok / secure-ok response (PLAIN, AMQPLAIN, EXTERNAL) and connection.update-secret.
import type { AuthStore } from '../broker/auth/auth-store';
import { readCredentials } from '../broker/auth/mechanisms';
import { type User, passwordMatches } from '../broker/auth/users';
import { AmqpError, ReplyCode } from '../broker/errors';

// The user, or why the login is refused (for the log).
export function login(auth: AuthStore, mechanism: string, response: Buffer, certUser: string | null, remoteAddress: string | undefined): User | string {
  const cred = readCredentials(mechanism, response, certUser);
  if (typeof cred === 'string') return cred;
  return cred.mechanism === 'EXTERNAL'
    ? auth.authenticateExternal(cred.username, remoteAddress)
    : auth.authenticatePassword(cred.username, cred.password, remoteAddress);
}

// connection.update-secret (10/70) and update-secret-ok (10/71): RabbitMQ extensions that the
// spec XML does not carry, so they are read and framed here.
export const UPDATE_SECRET = 0x000a0046;
export const UPDATE_SECRET_OK = Buffer.from([1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 71, 0xce]);

// update-secret's arguments: new-secret (longstr), reason (shortstr). The new secret must be the
// user's current password (any secret after an EXTERNAL login) and the user must still have
// access to the vhost; returns the user's current record and the reason, or throws 530 as
// RabbitMQ does for a secret its backends refuse.
export function updateSecret(auth: AuthStore, user: string, mechanism: string, vhost: string, args: Buffer): { user: User; reason: string } {
  if (args.length < 5 || args.length < 4 + args.readUInt32BE(0) + 1) throw new AmqpError(ReplyCode.SYNTAX_ERROR, 'malformed connection.update-secret', 10, 70);
  const len = args.readUInt32BE(0);
  const secret = args.toString('utf8', 4, 4 + len);
  const reason = args.toString('utf8', 5 + len, 5 + len + args[4 + len]);
  const u = auth.users.get(user);
  if (u === undefined || (mechanism !== 'EXTERNAL' && !passwordMatches(u, secret))) {
    throw new AmqpError(ReplyCode.NOT_ALLOWED, 'New secret was refused by one of the backends', 10, 70);
  }
  if (!auth.canAccessVhost(u.name, vhost)) throw new AmqpError(ReplyCode.NOT_ALLOWED, `access to vhost '${vhost}' refused for user '${u.name}'`, 10, 70);
  return { user: u, reason };
}
