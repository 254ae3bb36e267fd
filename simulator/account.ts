/**
 * The end-of-run account, from the citizen's side: every press whose thank-you was shown
 * must be at the province exactly once, unaltered. Pure: what the devices reported and what
 * the province holds go in, the figures come out.
 */
import type { StoredReport } from './devices/sim-device.js';
import type { FaultKind } from './chaos/plan.js';

/** One evaluation the stand-in province accepted, reduced to what the account checks. */
export interface ProvinceEntry {
  id: string;
  kind: string;
  /** How many times the province received it (at-least-once on the wire). */
  received: number;
  record: {
    id: string;
    device: string;
    seq: number;
    level: number | null;
    reasons: string[];
    session: string | null;
    flags: string[];
  } | null;
  /** A follow-up from the citizen page: the evaluation it adds to (the device record's id). */
  follows?: string | null;
  /** 'qr': given on the hub's citizen page. */
  channel?: string | null;
  /** The session a hub-made evaluation (a default, a QR rating) is for. */
  sessionId?: string | null;
}

/** Reads the stand-in's stored body (our native evaluation JSON). */
export function provinceEntry(body: Record<string, unknown>, received: number): ProvinceEntry {
  const r = body.record as
    | { id: string; device: string; seq: number; level: number | null; reasons: string[]; session: { id: string } | null; flags?: string[] }
    | null
    | undefined;
  const session = body.session as { id?: string } | null | undefined;
  return {
    id: String(body.id),
    kind: String(body.kind ?? 'rating'),
    received,
    follows: typeof body.follows === 'string' ? body.follows : null,
    channel: typeof body.channel === 'string' ? body.channel : null,
    sessionId: typeof session?.id === 'string' ? session.id : null,
    record: r
      ? {
          id: r.id,
          device: r.device,
          seq: r.seq,
          level: r.level,
          reasons: r.reasons ?? [],
          session: r.session?.id ?? null,
          flags: r.flags ?? [],
        }
      : null,
  };
}

export interface Ledger {
  /** Ratings whose thank-you the devices reported, by record id. */
  thanked: Map<string, StoredReport>;
  /** Not-rated records (walk-aways, prompt timeouts) the devices reported. */
  notRated: number;
  /** Sessions the queue system opened. */
  sessions: number;
  /** Presses citizens made (including those that hit a dead or out-of-service device). */
  attempts: number;
  /** Times a device went out of service (a press it could not write: no thank-you). */
  outOfService: number;
  /** What citizens submitted on the hub's citizen page and the page accepted (record ids followed up, session ids rated late). */
  scans?: { followUps: ReadonlySet<string>; late: ReadonlySet<string> };
}

export interface HubFigures {
  ratings: number;
  rejections: Record<string, number>;
  gaps: number;
}

export interface Account {
  devices: number;
  sessions: number;
  /** Presses thanked (the citizen saw the thank-you). */
  pressed: number;
  notRated: number;
  /** 7-day defaults the hub sent (基本满意 by default). */
  defaulted: number;
  /** Ratings the hub stored (includes presses committed but not reported before a kill). */
  stored: number;
  /** Thanked presses the province accepted. */
  forwarded: number;
  lost: number;
  duplicated: number;
  /** Thanked presses the province holds with another level, reasons or session. */
  altered: number;
  /** Records the hub refused (bad signature, chain, malformed; duplicates excluded). */
  rejected: number;
  /** At the province but never reported as thanked: committed, then killed before the thank-you was reported. */
  unreported: number;
  outOfService: number;
  provinceDuplicatesReceived: number;
  drained: boolean;
  seconds: number;
  faults?: Record<FaultKind, number>;
  deviceCrashes?: number;
  sessionsVia?: 'hub-api' | 'direct';
  /** The citizen page: accepted submissions, and how many of them the province holds (counted in lost/duplicated too). */
  scanned?: { followUps: number; late: number; atProvince: number };
  /** Why the account could not be taken in full (then `drained` is false too). */
  incomplete?: string;
}

export function computeAccount(input: {
  devices: readonly string[];
  ledger: Ledger;
  province: readonly ProvinceEntry[];
  hub: HubFigures;
  provinceDuplicatesReceived: number;
  drained: boolean;
  seconds: number;
}): Account {
  const ours = new Set(input.devices);
  const bySeq = new Map<string, ProvinceEntry[]>();
  let defaulted = 0;
  // The citizen page's evaluations (hub-made, no device record): follow-ups by the record they follow, late QR ratings by session.
  const followUps = new Map<string, number>();
  const late = new Map<string, number>();
  for (const e of input.province) {
    if (e.kind === 'follow-up' && e.follows) {
      followUps.set(e.follows, (followUps.get(e.follows) ?? 0) + 1);
      continue;
    }
    if (e.channel === 'qr' && !e.record && e.sessionId) {
      late.set(e.sessionId, (late.get(e.sessionId) ?? 0) + 1);
      continue;
    }
    if (e.kind === 'default') {
      defaulted++;
      continue;
    }
    if (!e.record || !ours.has(e.record.device)) continue;
    const k = `${e.record.device}/${e.record.seq}`;
    const list = bySeq.get(k);
    if (list) list.push(e);
    else bySeq.set(k, [e]);
  }
  let forwarded = 0;
  let lost = 0;
  let altered = 0;
  for (const t of input.ledger.thanked.values()) {
    const at = bySeq.get(`${t.device}/${t.seq}`);
    const e = at?.find((x) => x.record!.id === t.id);
    if (!e) {
      lost++;
      continue;
    }
    forwarded++;
    const r = e.record!;
    if (r.level !== t.level || r.reasons.join(',') !== t.reasons.join(',') || r.session !== t.session) altered++;
  }
  let duplicated = 0;
  let unreported = 0;
  for (const list of bySeq.values()) {
    duplicated += list.length - 1;
    if (!list.some((e) => input.ledger.thanked.has(e.record!.id))) unreported++;
  }
  // A submission the page accepted ("提交成功") must be at the province once, like a thanked press.
  let scannedAtProvince = 0;
  const scans = input.ledger.scans;
  if (scans) {
    for (const [sent, held] of [
      [scans.followUps, followUps],
      [scans.late, late],
    ] as const) {
      for (const k of sent) {
        const n = held.get(k) ?? 0;
        if (n === 0) lost++;
        else scannedAtProvince++;
      }
      for (const n of held.values()) duplicated += Math.max(0, n - 1);
    }
  }
  return {
    devices: input.devices.length,
    sessions: input.ledger.sessions,
    pressed: input.ledger.thanked.size,
    notRated: input.ledger.notRated,
    defaulted,
    stored: input.hub.ratings,
    forwarded,
    lost,
    duplicated,
    altered,
    rejected: Object.entries(input.hub.rejections).reduce((n, [reason, c]) => (reason === 'duplicate' ? n : n + c), 0),
    unreported,
    outOfService: input.ledger.outOfService,
    provinceDuplicatesReceived: input.provinceDuplicatesReceived,
    drained: input.drained,
    seconds: input.seconds,
    ...(scans ? { scanned: { followUps: scans.followUps.size, late: scans.late.size, atProvince: scannedAtProvince } } : {}),
  };
}

export function accountOk(a: Account): boolean {
  return a.lost === 0 && a.duplicated === 0 && a.altered === 0 && a.drained;
}

export function formatAccount(a: Account): string {
  const rows: [string, number | string][] = [
    ['devices', a.devices],
    ['sessions opened', a.sessions],
    ['pressed (thank-you shown)', a.pressed],
    ['not rated (walked away)', a.notRated],
    ['defaulted (7-day default)', a.defaulted],
    ['stored at hub', a.stored],
    ['forwarded (accepted by province)', a.forwarded],
    ['lost', a.lost],
    ['duplicated', a.duplicated],
    ['altered', a.altered],
    ['rejected at hub', a.rejected],
    ['committed, unreported (killed)', a.unreported],
    ['out of service shown', a.outOfService],
    ['duplicates the province received', a.provinceDuplicatesReceived],
    ['drained', a.drained ? 'yes' : 'NO'],
    ['seconds', a.seconds],
  ];
  if (a.faults)
    rows.push([
      'faults injected',
      Object.entries(a.faults)
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
    ]);
  if (a.deviceCrashes !== undefined) rows.push(['device crashes (restarted)', a.deviceCrashes]);
  if (a.sessionsVia) rows.push(['sessions delivered via', a.sessionsVia]);
  if (a.scanned)
    rows.push(
      ['scanned: text added to a 差评', a.scanned.followUps],
      ['scanned: rated later (walked away)', a.scanned.late],
      ['scanned: at the province', a.scanned.atProvince],
    );
  if (a.incomplete) rows.push(['ACCOUNT INCOMPLETE', a.incomplete]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}
