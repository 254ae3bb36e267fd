/**
 * Where a thread's time went, from a V8 .cpuprofile (node --cpu-prof; bench:hub --profile DIR).
 *
 *   node bench/cpuprofile-summary.mjs FILE [--bucket S] [--from S] [--to S] [--top N] [--lines N]
 *
 * Prints how busy the thread was per time bucket (to find the burst), then the functions with the
 * most self and inclusive time inside [from, to) seconds of the profile. `--lines N`: then, for
 * the N functions with the most self time, which of their source lines it was spent on, with the
 * line's text — V8 counts those per line over the whole profile, not per time window, so they are
 * shares of all the profile's samples. A native call (an SQLite statement's run, JSON.stringify)
 * is self time of the line that makes it: this is how the time of one statement is told apart
 * from the next.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : dflt);
const file = args[0];
if (!file) {
  console.error('usage: node bench/cpuprofile-summary.mjs FILE [--bucket S] [--from S] [--to S] [--top N] [--lines N]');
  process.exit(2);
}
const [bucket, from, to, top, lines] = [opt('bucket', 0.5), opt('from', 0), opt('to', Infinity), opt('top', 30), opt('lines', 0)];
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const key = (n) =>
  `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
const buckets = new Map();
const self = new Map();
const incl = new Map();
let t = 0;
let total = 0;
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i] ?? 0;
  t += dt;
  const s = t / 1e6;
  const node = byId.get(p.samples[i]);
  const b = buckets.get(Math.floor(s / bucket)) ?? { idle: 0, all: 0 };
  b.all += dt;
  if (node.callFrame.functionName === '(idle)') b.idle += dt;
  buckets.set(Math.floor(s / bucket), b);
  if (s < from || s >= to) continue;
  total += dt;
  self.set(key(node), (self.get(key(node)) ?? 0) + dt);
  const seen = new Set();
  for (let id = p.samples[i]; id !== undefined; id = parent.get(id)) {
    const k = key(byId.get(id));
    if (!seen.has(k)) (incl.set(k, (incl.get(k) ?? 0) + dt), seen.add(k));
  }
}
for (const [b, v] of [...buckets].sort((x, y) => x[0] - y[0]))
  console.log(`${(b * bucket).toFixed(1).padStart(7)} s  busy ${String(Math.round(100 - (100 * v.idle) / v.all)).padStart(3)} %`);
const show = (m) =>
  [...m]
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(6)} %  ${k}`)
    .join('\n');
console.log(`\n${(total / 1e6).toFixed(2)} s of samples from ${from} s to ${to} s\n-- self\n${show(self)}\n-- inclusive\n${show(incl)}`);

if (lines > 0) {
  const ticks = new Map(); // function key -> { url, line -> ticks } (whole profile)
  let all = 0;
  for (const n of p.nodes) {
    all += n.hitCount ?? 0;
    for (const pt of n.positionTicks ?? []) {
      const f = ticks.get(key(n)) ?? { url: n.callFrame.url, lines: new Map() };
      f.lines.set(pt.line, (f.lines.get(pt.line) ?? 0) + pt.ticks);
      ticks.set(key(n), f);
    }
  }
  const sources = new Map();
  const text = (url, line) => {
    if (!url.startsWith('file:')) return '';
    if (!sources.has(url)) {
      try {
        sources.set(url, readFileSync(fileURLToPath(url), 'utf8').split('\n'));
      } catch {
        sources.set(url, []);
      }
    }
    return (sources.get(url)[line - 1] ?? '').trim().slice(0, 90);
  };
  console.log(`\n-- lines (whole profile, ${all} samples), for the ${lines} functions with the most self time above`);
  for (const [k] of [...self].sort((x, y) => y[1] - x[1]).slice(0, lines)) {
    const f = ticks.get(k);
    if (!f) continue;
    for (const [line, n] of [...f.lines].sort((x, y) => y[1] - x[1]).slice(0, 8))
      if ((100 * n) / all >= 0.05)
        console.log(`${((100 * n) / all).toFixed(2).padStart(6)} %  ${k.split(' ')[0]}:${line}  ${text(f.url, line)}`);
  }
}
