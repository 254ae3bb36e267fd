import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { storePayload } from '../../hub/forwarder/queue.js';
import type { Db } from '../../hub/store/db.js';
import type { FactSync } from '../../hub/facts/fact-sync.js';
import type { HallWeb } from '../../hub/web/hall-web.js';

/** What the hall page's in-process tests build: a database in a temp dir, the page and its app. */
export interface WebEnvBase {
  dir: string;
  db: Db;
  web: HallWeb;
  /** Stored ratings → facts, work orders, alerts (the tests call syncNow). */
  sync: FactSync;
  app: FastifyInstance;
}

/** Stops the page, closes app and database, removes the temp dir. */
export async function closeWebEnv(env: WebEnvBase): Promise<void> {
  env.sync.stop();
  env.web.stop();
  await env.app.close();
  env.db.close();
  rmSync(env.dir, { recursive: true, force: true });
}

/**
 * Queues a row on the forward queue by hand with its stored payload, as the hub queues its 7-day
 * defaults and the corrections that replace them: the facts take those from the queue.
 */
export function queueByHand(db: Db, id: string, kind: string, enqueuedAt: number, payload: object): void {
  const r = db.prepare('INSERT INTO forward_queue (id, kind, enqueued_at) VALUES (?, ?, ?)').run(id, kind, enqueuedAt);
  storePayload(db, r.lastInsertRowid, JSON.stringify(payload));
}
