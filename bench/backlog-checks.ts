/**
 * The checks bench/backlog.ts makes once everything stopped, on the files themselves: what a
 * device's outbox says it delivered, and what the hub's database stored. Both sides reduce a
 * device's records to a digest of its (seq, id) list in seq order, so the two can be compared
 * without shipping 800,000 ids between processes.
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';

/** What one device's outbox file holds after the drain. */
export interface OutboxCheck {
  id: string;
  rows: number;
  /** Its rows are seq 1..rows with none missing. */
  contiguous: boolean;
  delivered: number;
  pending: number;
  refused: number;
  /** sha256 of "seq:id\n" of its delivered records, in seq order. */
  digest: string;
}

/** Reads an outbox file (closed by its owner first) and sums up its rows. */
export function checkOutbox(id: string, path: string): OutboxCheck {
  const db = new Database(path, { readonly: true });
  const rows = db.prepare<[], { seq: number; id: string; state: string }>('SELECT seq, id, state FROM records ORDER BY seq').all();
  db.close();
  const h = createHash('sha256');
  let delivered = 0;
  let contiguous = true;
  rows.forEach((r, k) => {
    if (r.seq !== k + 1) contiguous = false;
    if (r.state === 'acked') {
      delivered++;
      h.update(`${r.seq}:${r.id}\n`);
    }
  });
  return {
    id,
    rows: rows.length,
    contiguous,
    delivered,
    pending: rows.filter((r) => r.state === 'pending').length,
    refused: rows.filter((r) => r.state === 'rejected').length,
    digest: h.digest('hex'),
  };
}

export interface HubCheck {
  figures: {
    stored: number;
    distinctIds: number;
    distinctDeviceSeq: number;
    gaps: number;
    /** Rejections other than duplicates (a duplicate is a resend, acknowledged again). */
    rejections: number;
    devicesOutOfOrder: number;
    devicesNotMatchingOutbox: number;
  };
  failures: string[];
}

/**
 * The hub's database after the run: `records` per device, every record once; per device seq
 * 1..records stored in seq order (rowid is the order of insertion); per device the same
 * (seq, id) list its outbox marks delivered; no gap found, nothing refused.
 */
export function checkHubDb(path: string, outboxes: readonly OutboxCheck[], records: number): HubCheck {
  const total = outboxes.length * records;
  const db = new Database(path, { readonly: true });
  const count = (sql: string) => db.prepare<[], { n: number }>(sql).get()!.n;
  const failures: string[] = [];
  const figures = {
    stored: count('SELECT count(*) AS n FROM ratings'),
    distinctIds: count('SELECT count(DISTINCT id) AS n FROM ratings'),
    distinctDeviceSeq: count('SELECT count(*) AS n FROM (SELECT DISTINCT device, seq FROM ratings)'),
    gaps: count('SELECT count(*) AS n FROM gaps'),
    rejections: count("SELECT count(*) AS n FROM rejections WHERE reason != 'duplicate'"),
    devicesOutOfOrder: 0,
    devicesNotMatchingOutbox: 0,
  };
  const want = new Map(outboxes.map((o) => [o.id, o.digest]));
  let device = '';
  let expect = 1;
  let inOrder = true;
  let h = createHash('sha256');
  const finish = () => {
    if (!device) return;
    if (!inOrder || expect !== records + 1) figures.devicesOutOfOrder++;
    if (want.get(device) !== h.digest('hex')) figures.devicesNotMatchingOutbox++;
    want.delete(device);
  };
  for (const r of db
    .prepare<[], { device: string; seq: number; id: string }>('SELECT device, seq, id FROM ratings ORDER BY device, rowid')
    .iterate()) {
    if (r.device !== device) {
      finish();
      device = r.device;
      expect = 1;
      inOrder = true;
      h = createHash('sha256');
    }
    if (r.seq !== expect) inOrder = false;
    expect = r.seq + 1;
    h.update(`${r.seq}:${r.id}\n`);
  }
  finish();
  db.close();
  figures.devicesNotMatchingOutbox += want.size; // devices the hub stored nothing of
  if (figures.stored !== total || figures.distinctIds !== total || figures.distinctDeviceSeq !== total)
    failures.push(`hub stored ${figures.stored} records (${figures.distinctIds} ids, ${figures.distinctDeviceSeq} device/seq) of ${total}`);
  if (figures.devicesOutOfOrder) failures.push(`${figures.devicesOutOfOrder} devices not stored as seq 1..${records} in order`);
  if (figures.devicesNotMatchingOutbox)
    failures.push(`${figures.devicesNotMatchingOutbox} devices' stored records differ from their outbox`);
  if (figures.gaps || figures.rejections) failures.push(`hub recorded ${figures.gaps} gaps, ${figures.rejections} rejections`);
  return { figures, failures };
}
