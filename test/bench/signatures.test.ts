/**
 * bench/signatures.ts at a tiny size, from dist/ as `npm run bench:signatures` runs it: both
 * libraries check every record's signature (the bench fails if one refuses a good one).
 */
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

it('times libsodium and OpenSSL over the same signed records, and says which one the hub uses', () => {
  const r = spawnSync(process.execPath, ['dist/bench/signatures.js', '--records', '50', '--rounds', '2', '--json'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    records: number;
    backend: string;
    usPerSignature: Record<string, number>;
    roundsUs: Record<string, number[]>;
  };
  expect(s.records).toBe(50);
  if (['x64', 'arm64'].includes(process.arch)) expect(s.backend).toBe('libsodium');
  expect(Object.keys(s.usPerSignature).sort()).toEqual(s.backend === 'libsodium' ? ['libsodium', 'openssl'] : ['openssl']);
  for (const v of Object.values(s.roundsUs)) expect(v).toHaveLength(2);
  for (const v of Object.values(s.usPerSignature)) expect(v).toBeGreaterThan(0);
});
