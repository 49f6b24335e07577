import { hashPassword } from '../crypto/password.js';
import { newId } from '../crypto/secrets.js';
import type { UserRecord } from '../store/records.js';
import { AdminError, auditChange, iso, isUniqueViolation, type AdminContext } from './context.js';

export interface UserView {
  id: string;
  username: string;
  admin: boolean;
  created_at: string;
}

const userView = (u: UserRecord): UserView => ({ id: u.id, username: u.username, admin: u.isAdmin, created_at: iso(u.createdAt)! });

const USERNAME = /^[A-Za-z0-9._@+-]{1,64}$/;

export async function createUser(ctx: AdminContext, input: { username: string; password: string; isAdmin: boolean }): Promise<UserView> {
  if (!USERNAME.test(input.username)) throw new AdminError('invalid_request', 'a username is 1-64 letters, digits or . _ @ + -');
  if (input.password.length < 8 || input.password.length > 1024) throw new AdminError('invalid_request', 'a password must be 8 to 1024 characters');
  const user: UserRecord = {
    id: newId('u_'),
    username: input.username,
    passwordHash: await hashPassword(input.password),
    isAdmin: input.isAdmin,
    createdAt: ctx.now(),
  };
  try {
    await ctx.store.users.create(user);
  } catch (err) {
    if (isUniqueViolation(err)) throw new AdminError('conflict', `user ${input.username} exists already`);
    throw err;
  }
  await auditChange(ctx, 'user.created', { userId: user.id, detail: { username: user.username, admin: user.isAdmin } });
  return userView(user);
}

export async function listUsers(ctx: AdminContext): Promise<UserView[]> {
  return (await ctx.store.users.list()).map(userView);
}

/** Deletes the user, signs them out everywhere and revokes everything they authorized. */
export async function deleteUser(ctx: AdminContext, idOrUsername: string): Promise<{ id: string; deleted: true }> {
  const user = (await ctx.store.users.get(idOrUsername)) ?? (await ctx.store.users.getByUsername(idOrUsername));
  if (!user) throw new AdminError('not_found', `no user ${idOrUsername}`);
  await ctx.store.users.delete(user.id, ctx.now());
  await auditChange(ctx, 'user.deleted', { userId: user.id, detail: { username: user.username } });
  return { id: user.id, deleted: true };
}
