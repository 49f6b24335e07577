import { hashSecret, newId, newSecret } from '../crypto/secrets.js';
import type { ApiKeyRecord } from '../store/records.js';
import { AdminError, auditChange, iso, type AdminContext } from './context.js';

export interface ApiKeyView {
  id: string;
  name: string;
  created_at: string;
}

const apiKeyView = (k: ApiKeyRecord): ApiKeyView => ({ id: k.id, name: k.name, created_at: iso(k.createdAt)! });

/** The key is shown once; only its SHA-256 is stored. */
export async function createApiKey(ctx: AdminContext, input: { name: string }): Promise<ApiKeyView & { key: string }> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new AdminError('invalid_request', 'an API key name must be 1-200 characters');
  const key = newSecret('apiKey');
  const record: ApiKeyRecord = { id: newId('ak_'), name, keyHash: hashSecret(key), createdAt: ctx.now() };
  await ctx.store.apiKeys.create(record);
  await auditChange(ctx, 'api_key.created', { detail: { api_key_id: record.id, name } });
  return { ...apiKeyView(record), key };
}

export async function listApiKeys(ctx: AdminContext): Promise<ApiKeyView[]> {
  return (await ctx.store.apiKeys.list()).map(apiKeyView);
}

export async function deleteApiKey(ctx: AdminContext, id: string): Promise<{ id: string; deleted: true }> {
  if (!(await ctx.store.apiKeys.delete(id))) throw new AdminError('not_found', `no API key ${id}`);
  await auditChange(ctx, 'api_key.deleted', { detail: { api_key_id: id } });
  return { id, deleted: true };
}
