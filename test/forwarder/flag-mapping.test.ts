/** Record flags reach the province where its profile has a field for them, in its own codes. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Evaluation } from '../../hub/forwarder/evaluation.js';
import { mapEvaluation, type MappingContext } from '../../hub/forwarder/mapping.js';
import { loadProfile, parseProfile } from '../../hub/forwarder/profile.js';

const CTX: MappingContext = { areaCode: '420100', deptCode: '11420100MB0000000X' };
const flagged: Evaluation = {
  id: '019ab2c3-4d5e-7f60-8a1b-2c3d4e5f6a7b',
  kind: 'rating',
  hall: 'hall-1',
  device: 'ev-012',
  window: '12',
  staffId: 'S042',
  level: 5,
  reasons: [],
  text: null,
  session: { id: 's-1', cases: ['BJ1'], itemCode: 'X1', itemName: '户籍' },
  assessedAt: Date.UTC(2025, 10, 24, 16, 30, 5),
  clockSynced: true,
  assessNumber: 1,
  flags: ['repeated', 'too-soon', 'walk-up'],
  supersedes: null,
  record: null,
};
const body = (profile: Parameters<typeof mapEvaluation>[0], e: Evaluation = flagged) => mapEvaluation(profile, e, CTX)[0]!.body;

describe('flags in the province profile', () => {
  it('the native profile carries every flag as the hub sees it', () => {
    expect(body(loadProfile('native')).flags).toEqual(['repeated', 'too-soon', 'walk-up']);
  });

  it('the common format has no field for flags, so none is sent', () => {
    expect(Object.values(body(loadProfile('common')))).not.toContain('too-soon');
  });

  it('a profile that names a flags field gets them in its own codes, without the ones it maps to null', () => {
    const example = loadProfile(join(import.meta.dirname, '../../hub/forwarder/profiles/example-province.yaml'));
    expect(body(example).abnormalFlag).toBe('A2|A1');
    expect(body(example, { ...flagged, flags: ['walk-up'] })).not.toHaveProperty('abnormalFlag');
  });

  it('without a code map the flag names go as they are, joined by the separator', () => {
    const p = parseProfile({ extends: 'common', name: 'with-flags', fields: { flags: 'evalFlags' } }, 'test');
    expect(body(p).evalFlags).toBe('repeated,too-soon,walk-up');
    expect(() => parseProfile({ extends: 'common', name: 'bad', flags: { map: { 'too-soon': '' } } }, 'test')).toThrow(/flags/);
  });
});
