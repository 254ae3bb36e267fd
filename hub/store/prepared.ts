/**
 * Statements prepared once per connection. Its own module (not db.ts, which imports every
 * part's migration): a part that uses it would otherwise import db.ts while db.ts imports the
 * part, and the migration list would see the part's migration before it exists.
 */
import type Database from 'better-sqlite3';

type Db = Database.Database;

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/**
 * The statement for `sql` on `db`, prepared once per connection. For code on the ingest path that
 * runs a query per record (better-sqlite3's prepare parses and plans the SQL every call: it was
 * ~4 % of the hub's time during a 1,000-device burst).
 */
export function prepared<P extends unknown[] | {} = unknown[], R = unknown>(db: Db, sql: string): Database.Statement<P, R> {
  let m = statements.get(db);
  if (!m) statements.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s as unknown as Database.Statement<P, R>;
}
