/**
 * The records the benches' devices hold: a walk-up rating as the agent signs it at a window with no
 * staff configured (nothing for the hub's attribution to contradict), registered at window
 * `device.slice(3)`. `mono` is the press clock: keep presses at least a citizen apart, or the hub
 * flags them as faster than people press.
 */
import { newRecordId, PROTOCOL_VERSION, signRecord, type Level, type RatingRecord } from '../protocol/index.js';
import type { KeyObject } from 'node:crypto';

/** The levels a hall's presses cycle through: mostly satisfied, some 差评. */
export const BENCH_LEVELS: Level[] = [5, 5, 5, 4, 4, 3, 2, 1];

export function walkUpRating(
  o: { hall: string; device: string; seq: number; prev: string; level: Level; at: number; mono: number; bootId?: string },
  privateKey: KeyObject,
): RatingRecord {
  return signRecord(
    {
      v: PROTOCOL_VERSION,
      id: newRecordId(),
      hall: o.hall,
      device: o.device,
      window: o.device.slice(3),
      staffId: null,
      seq: o.seq,
      kind: 'rating',
      level: o.level,
      reasons: [],
      catalogue: 'builtin-2026.1',
      session: null,
      at: o.at,
      clockSynced: true,
      bootId: o.bootId ?? '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
      mono: o.mono,
      flags: ['walk-up'],
      prev: o.prev,
    },
    privateKey,
  );
}
