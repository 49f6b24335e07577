import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Each test run creates its own PostgreSQL database and drops it at the end, so concurrent runs on
 * one server never see each other's rows. The admin URL points at an existing database to connect to.
 */
const ADMIN_URL = process.env.LATCHKEY_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export default async function setup(): Promise<() => Promise<void>> {
  const name = `latchkey_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  process.env.LATCHKEY_TEST_PG_URL = url.href;
  return async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  };
}
