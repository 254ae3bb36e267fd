/**
 * One device process of bench/backlog.ts: `count` evaluators, each its real parts — the key
 * file (device/identity), the SQLite outbox (device/outbox) and the MQTT link (device/link) —
 * without buttons or a display (nothing is pressed during the drain). Driven over stdin/stdout,
 * one JSON object a line:
 *
 *   out {"type":"device",…}      after prefilling each outbox: id, public key, MQTT secret
 *   out {"type":"prefilled",…}   every outbox holds `records` undelivered records
 *   in  {"cmd":"go","url":…}     start every link at once (the hub is back)
 *   out {"type":"progress",…}    every 500 ms: records acknowledged so far, links connected
 *   out {"type":"drained","at":…} the moment (wall clock) its last record was acknowledged
 *   in  {"cmd":"stop"}           stop the links, then check every outbox
 *   out {"type":"verified",…}    per device: undelivered, refused and delivered rows, a digest
 *
 * Records are made as the agent makes them (device/agent.ts buildRecord): signed with the
 * device's own key, chained by the outbox's append, a week of walk-up ratings. The prefill
 * commits each device's records in one transaction (the agent commits each on its own, with
 * an fsync; 800,000 fsyncs would only measure the disk).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { exportPublicKey } from '../protocol/index.js';
import { loadOrCreateKeys } from '../device/identity/keys.js';
import { Link } from '../device/link/link.js';
import { Outbox, OUTBOX_FILE } from '../device/outbox/outbox.js';
import { checkOutbox } from './backlog-checks.js';
import { BENCH_LEVELS, walkUpRating } from './walk-up-record.js';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string' },
    from: { type: 'string' },
    count: { type: 'string' },
    records: { type: 'string' },
    hall: { type: 'string' },
  },
});
const DIR = args.dir!;
const FROM = Number(args.from);
const COUNT = Number(args.count);
const RECORDS = Number(args.records);
const HALL = args.hall!;
const WEEK_MS = 7 * 24 * 3600_000;

const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

/** The links' warnings and errors, counted by message (e.g. "no ack in time; resending…"). */
const logCounts: Record<string, number> = {};
const log = pino(
  { level: 'warn', base: null, timestamp: false },
  {
    write(line: string) {
      const o = JSON.parse(line) as { msg?: string; err?: string };
      const msg = (o.msg ?? '?') + (o.err ? `: ${o.err}` : '');
      logCounts[msg] = (logCounts[msg] ?? 0) + 1;
    },
  },
);

const deviceId = (i: number) => `ev-${String(i + 1).padStart(4, '0')}`;

interface Dev {
  id: string;
  dir: string;
  password: string;
  bootId: string;
  outbox: Outbox;
  link: Link | null;
  startedAt: number;
}

function prefill(i: number, t0: number): Dev {
  const id = deviceId(i);
  const dir = join(DIR, 'devices', id);
  mkdirSync(dir, { recursive: true });
  const keys = loadOrCreateKeys(dir); // the device's key file, as at enrolment
  // Delivered records are kept (not pruned at the agent's 1,000) so the check afterwards sees
  // every one of them marked delivered, not only the newest.
  const outbox = new Outbox(join(dir, OUTBOX_FILE), { retainDelivered: RECORDS });
  const bootId = randomUUID();
  const step = Math.floor(WEEK_MS / RECORDS); // a citizen every few minutes for a week
  outbox.appendInOneTransaction(() => {
    for (let n = 1; n <= RECORDS; n++)
      outbox.append(({ seq, prev }) =>
        walkUpRating(
          {
            hall: HALL,
            device: id,
            seq,
            prev,
            level: BENCH_LEVELS[seq % BENCH_LEVELS.length]!,
            at: t0 - WEEK_MS + seq * step,
            mono: seq * step,
            bootId,
          },
          keys.privateKey,
        ),
      );
  });
  const password = randomBytes(32).toString('base64url');
  say({ type: 'device', id, publicKey: exportPublicKey(keys.publicKey), password });
  return { id, dir, password, bootId, outbox, link: null, startedAt: 0 };
}

const t0 = Date.now();
const devs: Dev[] = [];
for (let i = FROM; i < FROM + COUNT; i++) devs.push(prefill(i, t0));
say({ type: 'prefilled', seconds: (Date.now() - t0) / 1000 });

let acked = 0;
/** Ack messages that marked records delivered: each one transaction, one fsync, on the device. */
let ackCommits = 0;
let rejected = 0;
let connected = 0;
let progress: NodeJS.Timeout | null = null;

function go(url: string): void {
  for (const d of devs) {
    d.startedAt = Date.now();
    const link = new Link({
      url,
      hall: HALL,
      device: d.id,
      username: d.id,
      password: d.password,
      outbox: d.outbox,
      log,
      // What the agent reports (device/agent.ts status()), minus the buttons and screen.
      status: () => {
        const s = d.outbox.stats();
        return {
          firmware: 'bench',
          bootId: d.bootId,
          uptimeS: (Date.now() - d.startedAt) / 1000,
          clockSynced: true,
          at: Date.now(),
          outbox: { depth: s.depth, oldestAgeS: null, capacity: s.capacity, lastSeq: s.lastSeq },
          counters: {},
          faults: [],
        };
      },
    });
    link.on('acked', (n) => {
      acked += n;
      ackCommits++;
      // The wall clock, to compare with the bench's "go" across processes.
      if (acked === COUNT * RECORDS) say({ type: 'drained', at: Date.now() });
    });
    link.on('rejected', (n) => (rejected += n));
    link.on('connected', () => connected++);
    link.on('disconnected', () => connected--);
    d.link = link;
  }
  for (const d of devs) d.link!.start(); // at once: the hall's evaluators all find the hub back
  progress = setInterval(() => say({ type: 'progress', acked, ackCommits, rejected, connected, rssMiB: rss() }), 500);
}

const rss = () => Math.round(process.memoryUsage.rss() / 2 ** 20);

async function stop(): Promise<void> {
  if (progress) clearInterval(progress);
  say({ type: 'progress', acked, ackCommits, rejected, connected, rssMiB: rss() });
  await Promise.all(devs.map((d) => d.link?.stop()));
  const out = devs.map((d) => {
    d.outbox.close();
    return checkOutbox(d.id, join(d.dir, OUTBOX_FILE)); // the file itself, read afterwards
  });
  say({ type: 'verified', devices: out, linkLog: logCounts });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line) as { cmd: 'go'; url: string } | { cmd: 'stop' };
  if (m.cmd === 'go') go(m.url);
  else
    void stop().then(
      () => process.exit(0),
      (e: Error) => {
        console.error(e);
        process.exit(1);
      },
    );
});
