/**
 * What citizens gave on the QR page, for the staff pages (work order, wall): read straight from
 * citizen_submissions, so the hall page needs nothing of the citizen part but the database.
 */
import type { Db } from '../store/db.js';
import { html, type Html } from '../web/html.js';
import { dateTime } from '../web/html.js';

export interface CitizenAddition {
  kind: 'follow-up' | 'late-rating';
  level: number;
  reasons: string[];
  text: string | null;
  at: number;
}

/** Additions to a rating (its id: a follow-up's subject) or a late QR rating (its evaluation id), oldest first. */
export function citizenAdditions(db: Db, ratingId: string): CitizenAddition[] {
  return db
    .prepare<[string, string], { kind: 'follow-up' | 'late-rating'; level: number; reasons: string; text: string | null; at: number }>(
      'SELECT kind, level, reasons, text, at FROM citizen_submissions WHERE subject = ? OR evaluation_id = ? ORDER BY at',
    )
    .all(ratingId, ratingId)
    .map((r) => ({ ...r, reasons: JSON.parse(r.reasons) as string[] }));
}

/** The work order's "市民补充" rows: text and reasons the citizen gave on the phone, escaped like everything `html` renders. */
export function citizenAdditionsHtml(list: CitizenAddition[], reasonTexts: Map<string, string>): Html {
  if (!list.length) return html``;
  return html`<dt>市民扫码补充</dt>
    <dd id="citizen-additions">
      ${list.map(
        (a) =>
          html`<div class="citizen-addition">
            <small class="muted">${dateTime(a.at)} · ${a.kind === 'follow-up' ? '补充差评意见' : '扫码评价'}</small>
            ${a.reasons.length ? html`<div>原因：${a.reasons.map((c) => `${c} ${reasonTexts.get(c) ?? ''}`).join('；')}</div>` : ''}
            ${a.text ? html`<blockquote class="citizen-text">${a.text}</blockquote>` : ''}
          </div>`,
      )}
    </dd>`;
}
