/**
 * Ed25519 checks of real signed records, the hub's way (`verifyRecord`: canonical bytes, then
 * the signature), with libsodium and with OpenSSL side by side in one run, alternating in blocks.
 * The check is most of the hub's CPU per record, and this loop is also the quickest way to see
 * how fast the machine is right now: time it before a full backlog run (bench/README.md).
 *
 *   npm run bench:signatures          # 5,000 records, 3 rounds
 *   node dist/bench/signatures.js --records 1000 --rounds 1 --json
 */
import { parseArgs } from 'node:util';
import { ed25519Backend, verifyEd25519, verifyWithOpenssl } from '../protocol/ed25519.js';
import { generateDeviceKeys, GENESIS_HASH, recordHash, signingBytes, type RatingRecord } from '../protocol/index.js';
import { BENCH_LEVELS, walkUpRating } from './walk-up-record.js';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(args.records);
const ROUNDS = Math.max(1, Number(args.rounds));

const keys = generateDeviceKeys();
const records: RatingRecord[] = [];
let prev = GENESIS_HASH;
for (let seq = 1; seq <= N; seq++) {
  const at = Date.now() + seq * 60_000;
  const r = walkUpRating(
    { hall: 'bench-hall', device: 'ev-001', seq, prev, level: BENCH_LEVELS[seq % BENCH_LEVELS.length]!, at, mono: seq * 60_000 },
    keys.privateKey,
  );
  records.push(r);
  prev = recordHash(r);
}
// What verifyRecord checks: the record's signing bytes against its signature.
const inputs = records.map((r) => ({ message: signingBytes(r), signature: Buffer.from(r.sig, 'base64') }));

type Check = (m: Uint8Array, s: Uint8Array, k: typeof keys.publicKey) => boolean;
const sides: { name: string; check: Check }[] = [
  { name: 'libsodium', check: verifyEd25519 },
  { name: 'openssl', check: verifyWithOpenssl },
];
if (ed25519Backend() !== 'libsodium') sides.shift(); // no binary here: OpenSSL alone

const us: Record<string, number[]> = Object.fromEntries(sides.map((s) => [s.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const side of round % 2 ? [...sides].reverse() : sides) {
    const t0 = performance.now();
    for (const i of inputs)
      if (!side.check(i.message, i.signature, keys.publicKey)) throw new Error(`${side.name} refused a good signature`);
    us[side.name]!.push(((performance.now() - t0) * 1000) / N);
  }
}
const summary = {
  records: N,
  rounds: ROUNDS,
  backend: ed25519Backend(),
  usPerSignature: Object.fromEntries(Object.entries(us).map(([k, v]) => [k, Number(median(v).toFixed(1))])),
  roundsUs: us,
  ...(us.libsodium ? { opensslOverLibsodium: Number((median(us.openssl!) / median(us.libsodium)).toFixed(2)) } : {}),
};
if (args.json) console.log(JSON.stringify(summary));
else {
  console.log(
    `Ed25519 checks of ${N} signed records (${ROUNDS} rounds, medians), node ${process.version}; this process uses ${summary.backend}`,
  );
  for (const [k, v] of Object.entries(summary.usPerSignature)) console.log(`  ${k.padEnd(10)} ${v} µs a signature`);
  console.log(JSON.stringify(summary));
}
