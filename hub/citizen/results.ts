/**
 * Results made public (公示; Hubei art. 16, Ankang art. 20): this month's ratings and 满意率 per
 * window and per item, channel shares and the 差评 rectification status, for the lobby screen.
 * No log-in, no personal data (no staff names, no case numbers, no text), large type, reloading
 * itself without script. Its numbers are the staff statistics' numbers: computed by the same
 * computeStats the hall page's statistics use, never by SQL of its own.
 *
 * Also the hub's page for a window (/citizen/w/{window}), where a window's QR board leads when
 * the hall does not use the province's evaluation page: the window, its month, and how to rate.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { chinaDay } from '../calendar/working-days.js';
import type { Rates } from '../stats/queries.js';
import { dateTime, html, Html, percent } from '../web/html.js';
import type { HallWeb } from '../web/hall-web.js';
import { computeStats, presetRange } from '../web/stats-view.js';
import { page } from './pages.js';
import type { CitizenPagePlugin } from './routes.js';

export const RESULTS_CSS = `
*{box-sizing:border-box}
body{margin:0;background:#0d2538;color:#fff;font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;font-size:30px;line-height:1.35}
main{padding:28px 44px}
header{display:flex;justify-content:space-between;align-items:baseline;border-bottom:3px solid #f4c430;padding-bottom:12px;margin-bottom:22px}
h1{font-size:52px;margin:0;color:#f4c430}
.updated{font-size:24px;color:#b8c7d4}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:26px}
section{background:#143550;border-radius:14px;padding:18px 24px}
h2{font-size:34px;margin:0 0 12px;color:#f4c430}
.big{display:flex;gap:40px}
.big div{flex:1}
.big b{display:block;font-size:72px;line-height:1.1}
.big span{font-size:26px;color:#b8c7d4}
table{width:100%;border-collapse:collapse}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid #2a4d6b}
th{font-size:24px;color:#b8c7d4;font-weight:normal}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#ff8a80}
.muted{color:#b8c7d4;font-size:24px}
`;
export const RESULTS_CSS_HASH = `'sha256-${createHash('sha256').update(RESULTS_CSS).digest('base64')}'`;

// Built outside the template: the CSP hash covers the style element's exact text.
const STYLE = new Html(`<style>${RESULTS_CSS}</style>`);

const CHANNELS: Record<string, string> = { device: '窗口评价器', qr: '扫码评价', default: '系统默认好评（逾期未评）' };
const OPEN_STATES = new Set(['new', 'verifying', 'appealed', 'rectifying', 'revisit']);

/** What the public page shows, all from computeStats (the staff statistics). Exported for the test that compares them. */
export function publicResults(web: HallWeb) {
  const range = presetRange('month', web.now());
  const v = computeStats(web, { ...range, grain: 'month' });
  const byTotal = <T extends { counts: Rates }>(rows: T[]) =>
    rows.filter((r) => r.counts.total > 0).sort((a, b) => b.counts.total - a.counts.total);
  const channelTotal = v.tables.channel.reduce((s, r) => s + r.counts.total, 0);
  const orders = v.orders.reduce(
    (acc, o) => ({
      total: acc.total + o.n,
      overdue: acc.overdue + o.late,
      closed: acc.closed + (o.state === 'closed' ? o.n : 0),
      open: acc.open + (OPEN_STATES.has(o.state) ? o.n : 0),
      invalid: acc.invalid + (o.state === 'invalid' ? o.n : 0),
    }),
    { total: 0, overdue: 0, closed: 0, open: 0, invalid: 0 },
  );
  return {
    month: range.from.slice(0, 7),
    summary: v.summary,
    windows: byTotal(v.tables.window).map((r) => ({ key: r.key, label: v.labels.window.get(r.key) ?? r.key, counts: r.counts })),
    items: byTotal(v.tables.item).map((r) => ({
      key: r.key,
      label: r.key === '' ? '（未登记事项）' : (v.labels.item.get(r.key) ?? r.key),
      counts: r.counts,
    })),
    channels: byTotal(v.tables.channel).map((r) => ({
      key: r.key,
      label: CHANNELS[r.key] ?? r.key,
      total: r.counts.total,
      share: channelTotal ? r.counts.total / channelTotal : null,
    })),
    orders: { ...orders, onTime: orders.total - orders.overdue },
  };
}

function resultsPage(hallName: string, r: ReturnType<typeof publicResults>, now: number, refreshS: number): Html {
  const [y, m] = r.month.split('-');
  const rows = (list: { key: string; label: string; counts: Rates }[], kind: string) =>
    list.length
      ? html`<table>
          <thead>
            <tr>
              <th>${kind}</th>
              <th class="num">评价数</th>
              <th class="num">满意率</th>
              <th class="num">差评</th>
            </tr>
          </thead>
          <tbody>
            ${list.slice(0, 14).map(
              (x) =>
                html`<tr data-key="${x.key}">
                  <td>${x.label}</td>
                  <td class="num total">${x.counts.total}</td>
                  <td class="num rate">${percent(x.counts.satisfaction)}</td>
                  <td class="num bad-count ${x.counts.bad ? 'bad' : ''}">${x.counts.bad}</td>
                </tr>`,
            )}
          </tbody>
        </table>`
      : html`<p class="muted">本月暂无评价。</p>`;
  return new Html(
    html`<!doctype html>
      <html lang="zh-CN">
        <head>
          <meta charset="utf-8" />
          <meta http-equiv="refresh" content="${refreshS}" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="robots" content="noindex" />
          <title>好差评公示 · ${hallName}</title>
          ${STYLE}
        </head>
        <body>
          <main>
            <header>
              <h1>${hallName} · 政务服务“好差评”公示</h1>
              <span class="updated">${y}年${Number(m)}月 · 更新于 ${dateTime(now)}</span>
            </header>
            <div class="grid">
              <section id="summary">
                <h2>本月评价</h2>
                <div class="big">
                  <div><b id="total">${r.summary.total}</b><span>评价总数</span></div>
                  <div><b id="satisfaction">${percent(r.summary.satisfaction)}</b><span>满意率</span></div>
                  <div><b id="bad" class="${r.summary.bad ? 'bad' : ''}">${r.summary.bad}</b><span>差评</span></div>
                </div>
              </section>
              <section id="rectification">
                <h2>差评整改</h2>
                <div class="big">
                  <div><b id="orders-total">${r.orders.total}</b><span>差评工单</span></div>
                  <div><b id="orders-closed">${r.orders.closed}</b><span>已办结</span></div>
                  <div><b id="orders-on-time">${r.orders.onTime}</b><span>按时办理</span></div>
                  <div><b id="orders-overdue" class="${r.orders.overdue ? 'bad' : ''}">${r.orders.overdue}</b><span>曾超期</span></div>
                </div>
                <p class="muted">办理中 ${r.orders.open} · 经复核认定无效 ${r.orders.invalid}</p>
              </section>
              <section id="windows">
                <h2>各窗口</h2>
                ${rows(r.windows, '窗口')}
              </section>
              <section id="items">
                <h2>各事项</h2>
                ${rows(r.items, '事项')}
              </section>
              <section id="channels">
                <h2>评价渠道</h2>
                <table>
                  <tbody>
                    ${r.channels.map(
                      (c) =>
                        html`<tr data-key="${c.key}">
                          <td>${c.label}</td>
                          <td class="num total">${c.total}</td>
                          <td class="num share">${percent(c.share)}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </section>
            </div>
          </main>
        </body>
      </html>`.value,
  );
}

/** The public pages under /citizen/: results (公示) and a window's page (where a board with the 'hub' target leads). */
export function resultsPages(web: HallWeb, hallName: string, refreshS: number): CitizenPagePlugin {
  return (app, send) => {
    app.get('/results', async (_req, reply: FastifyReply) => send(reply, resultsPage(hallName, publicResults(web), web.now(), refreshS)));
    app.get('/w/:window', async (req, reply: FastifyReply) => {
      const window = String((req.params as { window: string }).window);
      const known = web.d.registry.list().some((d) => d.window === window && d.revoked_at === null);
      if (!known || window.length > 32)
        return send(
          reply,
          page(
            '窗口不存在',
            html`<section class="card notice" id="unknown-window">
              <h1>窗口不存在</h1>
              <p>请确认扫描的是本大厅窗口的二维码牌。</p>
            </section>`,
          ),
          404,
        );
      const r = publicResults(web);
      const row = r.windows.find((w) => w.key === window);
      const name = web.windowNames().get(window) ?? window;
      return send(
        reply,
        page(
          `${name} 号窗口`,
          html`<section class="card" id="window-page">
              <h1>${name.startsWith(window) ? name.replace(window, `${window} 号窗口`) : `${window} 号窗口`}</h1>
              <p>${hallName}</p>
              <p>
                本月评价 <strong>${row?.counts.total ?? 0}</strong> 次，满意率
                <strong>${percent(row?.counts.satisfaction ?? null)}</strong>。
              </p>
            </section>
            <section class="card">
              <h2>如何评价</h2>
              <p>
                办理完毕后，请在窗口的评价器上按键评价；如未及时评价，可扫描评价器屏幕上的“稍后扫码评价”二维码，或差评后回执上的二维码补充意见。
              </p>
              <p class="muted">每次服务评价一次，不收集您的个人信息。统计日期：${chinaDay(web.now())}</p>
            </section>`,
        ),
      );
    });
  };
}
