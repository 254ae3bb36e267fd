/**
 * A verification worker (worker_threads): decodes and checks rating messages for ingest, the
 * signature being most of the cost (see verify-pool.ts). It holds no state but the devices' keys
 * it has already imported; it never touches the database.
 */
import type { KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { importPublicKey } from '../../protocol/index.js';
import { checkRating, type Checked } from './check.js';
import type { VerifyBatch, VerifyResults } from './verify-pool.js';

const hall = (workerData as { hall: string }).hall;
const keys = new Map<string, KeyObject>();

function keyOf(spki: string | null): KeyObject | undefined {
  if (spki === null) return undefined;
  let k = keys.get(spki);
  if (!k) {
    // A hall has hundreds of devices; a bound only guards against a hub that re-enrols without end.
    if (keys.size >= 10_000) keys.clear();
    keys.set(spki, (k = importPublicKey(spki)));
  }
  return k;
}

parentPort!.on('message', (batch: VerifyBatch) => {
  const results: Checked[] = batch.jobs.map((j) => {
    try {
      return checkRating({ addr: j.addr, topic: j.topic, clientId: j.clientId, payload: j.payload, hall, key: keyOf(j.key) });
    } catch (e) {
      // checkRating does not throw for any payload; a bug here must still answer the job.
      return { ok: false, reason: 'malformed', device: j.addr.device, detail: `could not be checked: ${(e as Error).message}` };
    }
  });
  parentPort!.postMessage({ id: batch.id, results } satisfies VerifyResults);
});
