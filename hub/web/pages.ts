/**
 * The pages, rendered on the server in zh-CN. Each takes plain data and returns Html; the
 * routes fetch the data. The wall's tiles and the charts are drawn in the browser from the
 * JSON embedded in the page (static/wall.js, static/stats.js) so live updates use one renderer.
 */
import { LEVELS } from '../../protocol/index.js';
import type { Alert } from '../stats/alerts.js';
import type { MisuseRule } from '../stats/misuse-alerts.js';
import { FLAG_LABELS } from '../policy/flag-policy.js';
import type { DimRow, FlaggedRow, Grain, Rates, TrendPoint } from '../stats/queries.js';
import type { AuditRow } from '../users/audit.js';
import { ROLE_LABELS, type StaffUser } from '../users/users.js';
import { allowedActions, isOverdue, type OrderState } from '../workorders/machine.js';
import type { OutboundEntry } from '../workorders/outbound.js';
import { CLASSES, durationText, type OrderClass, type PolicyProfile } from '../workorders/policy.js';
import type { TrailEntry, WorkOrder } from '../workorders/store.js';
import type { Tile, WallSummary } from './hall-web.js';
import { dateTime, deadlineText, html, Html, jsonScript, levelLabel, percent, remaining } from './html.js';

export const STATE_LABELS: Record<OrderState, string> = {
  new: '待核实',
  verifying: '核实中',
  appealed: '申诉复核中',
  rectifying: '整改中',
  revisit: '待回访',
  closed: '已办结',
  invalid: '无效差评',
};

export const ACTION_LABELS: Record<string, string> = {
  create: '自动生成工单',
  'start-verify': '开始核实',
  confirm: '确认差评，开始整改',
  appeal: '提出申诉（误评/恶意差评）',
  judge: '复核申诉',
  extend: '申请延期',
  rectify: '提交整改情况',
  revisit: '回访评价人',
  'hand-off': '转办（本大厅无法解决）',
  comment: '备注',
};

export const CLASS_LABELS: Record<OrderClass, string> = {
  simple: '简易（立整立改）',
  general: '一般（限时整改）',
  consultation: '会商（疑难复杂）',
};
const DIM_LABELS = { window: '窗口', staff: '工作人员', item: '事项', channel: '渠道' } as const;
const CHANNEL_LABELS: Record<string, string> = { device: '窗口评价器', default: '系统默认（7日未评）', qr: '扫码评价' };

export interface PageContext {
  hallName: string;
  user: StaffUser | null;
  csrf: string | null;
  now: number;
  active?: string;
  flash?: { kind: 'ok' | 'error'; text: string } | null;
}

export function layout(
  ctx: PageContext,
  title: string,
  body: Html,
  opts: { scripts?: string[]; wide?: boolean; bodyClass?: string } = {},
): Html {
  const nav: [string, string, boolean][] = [
    ['/wall', '设备墙', true],
    ['/stats', '统计分析', true],
    ['/workorders', '差评工单', true],
    ['/alerts', '预警', true],
    ['/users', '账号管理', ctx.user?.role === 'admin'],
    ['/audit', '审计日志', ctx.user?.role === 'admin'],
  ];
  return html`<!doctype html>
    <html lang="zh-CN">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · ${ctx.hallName}</title>
        <link rel="stylesheet" href="/static/app.css" />
      </head>
      <body class="${opts.bodyClass ?? ''}">
        <header class="top">
          <a class="brand" href="/wall">好差评 · ${ctx.hallName}</a>
          ${
            ctx.user
              ? html`<nav>
                    ${nav.filter(([, , show]) => show).map(([href, label]) => html`<a href="${href}" class="${ctx.active === href ? 'active' : ''}">${label}</a>`)}
                  </nav>
                  <form class="who" method="post" action="/logout">
                    <span>${ctx.user.displayName ?? ctx.user.name}（${ROLE_LABELS[ctx.user.role]}）</span
                    ><input type="hidden" name="_csrf" value="${ctx.csrf ?? ''}" /><button type="submit" class="link">退出</button>
                  </form>`
              : ''
          }
        </header>
        <main class="${opts.wide ? 'wide' : ''}">
          ${ctx.flash ? html`<p class="flash ${ctx.flash.kind}" role="status">${ctx.flash.text}</p>` : ''} ${body}
        </main>
        ${(opts.scripts ?? []).map((s) => html`<script src="${s}" defer></script>`)}
      </body>
    </html>`;
}

export function loginPage(ctx: PageContext, error: string | null, next: string): Html {
  return layout(
    ctx,
    '登录',
    html`<section class="card login">
      <h1>工作人员登录</h1>
      ${error ? html`<p class="flash error" role="alert">${error}</p>` : ''}
      <form method="post" action="/login">
        <input type="hidden" name="next" value="${next}" />
        <label>账号 <input name="name" autocomplete="username" required autofocus /></label>
        <label>密码 <input name="password" type="password" autocomplete="current-password" required /></label>
        <button type="submit" class="primary">登录</button>
      </form>
    </section>`,
  );
}

export function wallPage(ctx: PageContext, tiles: Tile[], summary: WallSummary, recent: unknown[], alerts: Alert[]): Html {
  return layout(
    ctx,
    '设备墙',
    html`<section class="wall-head">
        <div class="kpis" id="kpis"></div>
        <div class="clock" id="clock"></div>
      </section>
      <section id="alert-bar" class="alert-bar" hidden></section>
      <div class="wall-grid">
        <section class="tiles" id="tiles" aria-live="polite"></section>
        <aside class="feed">
          <h2>最新评价</h2>
          <ol id="feed"></ol>
          <p class="conn" id="conn">实时连接中…</p>
        </aside>
      </div>
      ${jsonScript('wall-data', { tiles, summary, recent, alerts, now: ctx.now })}`,
    { scripts: ['/static/wall.js'], wide: true, bodyClass: 'wall' },
  );
}

export interface StatsView {
  from: string;
  to: string;
  grain: Grain;
  summary: Rates;
  trend: TrendPoint[];
  trendTitle: string;
  tables: Record<'window' | 'staff' | 'item' | 'channel', DimRow[]>;
  labels: Record<'window' | 'staff' | 'item', Map<string, string>>;
  invalidated: {
    id: string;
    at: number;
    window: string;
    staff_id: string | null;
    item_code: string | null;
    level: number;
    order_id: number | null;
  }[];
  /** Ratings with flags shown (counted-but-flagged, or excluded as misuse), filtered by `flag`. */
  flagged: FlaggedRow[];
  flag: string | null;
  orders: { state: string; n: number; late: number }[];
  timings: Record<string, number>;
}

const rateCells = (c: Rates) =>
  html`${LEVELS.map((l) => html`<td class="num">${c[`n${l}` as 'n1']}</td>`)}
    <td class="num">${c.total}</td>
    <td class="num">${percent(c.satisfaction)}</td>
    <td class="num ${c.badRate && c.badRate > 0.05 ? 'warn' : ''}">${percent(c.badRate)}</td>
    <td class="num ${c.invalid ? 'invalid' : ''}">${c.invalid}</td>
    <td class="num ${c.flagged ? 'warn' : ''}">${c.flagged}</td>
    <td class="num ${c.misuse ? 'invalid' : ''}">${c.misuse}</td>`;
const rateHead = html`${LEVELS.map((l) => html`<th class="num">${levelLabel(l)}</th>`)}
  <th class="num">有效评价</th>
  <th class="num">满意率</th>
  <th class="num">差评率</th>
  <th class="num" title="经复核认定为误评或恶意差评，不计入统计">无效差评</th>
  <th class="num" title="计入统计，但带有本厅设为「计入并标记」的标记（如提示后过快按键）">已标记</th>
  <th class="num" title="按本厅标记规则不计入统计、不上报，记录保留（如会话模式下无办件会话的按键）">异常不计入</th>`;

const flagBadges = (flags: string) =>
  flags.split(',').map((f) => html`<span class="badge amber flag" data-flag="${f}">${FLAG_LABELS[f] ?? f}</span> `);

/** Windows in their natural order ("2" before "10"). One collator: localeCompare with options builds one per call (~45 µs; 400 windows took 18 ms to sort). */
const WINDOW_ORDER = new Intl.Collator('zh-CN', { numeric: true });

export function statsPage(ctx: PageContext, v: StatsView): Html {
  const q = (extra: Record<string, string>) => '?' + new URLSearchParams({ from: v.from, to: v.to, grain: v.grain, ...extra }).toString();
  const s = v.summary;
  const dimTable = (dim: 'window' | 'staff' | 'item' | 'channel') => {
    // Windows in their order; staff and items with the most 差评 first, the first 100 on the page (all in the CSV).
    const all = [...v.tables[dim]].sort((a, b) =>
      dim === 'window' ? WINDOW_ORDER.compare(a.key, b.key) : b.counts.bad - a.counts.bad || b.counts.total - a.counts.total,
    );
    const rows = dim === 'staff' || dim === 'item' ? all.slice(0, 100) : all;
    const label = (k: string) => (dim === 'channel' ? (CHANNEL_LABELS[k] ?? k) : k === '' ? '（未登记）' : (v.labels[dim].get(k) ?? k));
    return html`<section class="card">
      <h2>按${DIM_LABELS[dim]} <a class="csv" href="/stats.csv${q({ table: dim })}">导出 CSV</a></h2>
      <div class="scroll">
        <table class="data">
          <thead>
            <tr>
              <th>${DIM_LABELS[dim]}</th>
              ${rateHead}
            </tr>
          </thead>
          <tbody>
            ${rows.map(
              (r) =>
                html`<tr>
                  <td>${dim === 'channel' ? label(r.key) : html`<a href="/stats${q({ dim, key: r.key })}">${label(r.key)}</a>`}</td>
                  ${rateCells(r.counts)}
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${rows.length < all.length ? html`<p class="muted small">共 ${all.length} 项，此处列出差评最多的 ${rows.length} 项；完整列表请导出 CSV。</p>` : ''}
    </section>`;
  };
  return layout(
    ctx,
    '统计分析',
    html`<form class="filters card" method="get" action="/stats">
        <span class="presets"
          >${['today', 'week', 'month', 'year'].map((p) => html`<a href="/stats?preset=${p}">${{ today: '今日', week: '本周', month: '本月', year: '本年' }[p]}</a>`)}</span
        >
        <label>从 <input type="date" name="from" value="${v.from}" /></label>
        <label>至 <input type="date" name="to" value="${v.to}" /></label>
        <label
          >趋势
          <select name="grain">
            ${(['day', 'week', 'month'] as const).map((g) => html`<option value="${g}" ${g === v.grain ? new Html('selected') : ''}>${{ day: '按日', week: '按周', month: '按月' }[g]}</option>`)}
          </select></label
        >
        <button type="submit">查询</button>
      </form>
      <p class="note">
        统计由已存储的评价记录自动生成，不可修改。满意率 = (非常满意+满意+基本满意) ÷
        有效评价；经复核认定的无效差评单列显示，不计入有效评价；按本厅标记规则“不计入”的按键（如无办件会话）保留记录、单列显示，不计入有效评价，也不上报。
      </p>
      <section class="kpis static">
        <div class="kpi"><b id="k-total">${s.total}</b><span>有效评价</span></div>
        <div class="kpi"><b id="k-sat">${percent(s.satisfaction)}</b><span>满意率</span></div>
        <div class="kpi"><b id="k-good">${percent(s.good)}</b><span>好评率（满意以上）</span></div>
        <div class="kpi ${s.bad ? 'bad' : ''}"><b id="k-bad">${s.bad}</b><span>差评</span></div>
        <div class="kpi"><b id="k-invalid">${s.invalid}</b><span>无效差评</span></div>
        <div class="kpi"><b id="k-flagged">${s.flagged}</b><span>已标记（计入）</span></div>
        <div class="kpi"><b id="k-misuse">${s.misuse}</b><span>异常不计入</span></div>
      </section>
      <section class="card">
        <h2>${v.trendTitle} <a class="csv" href="/stats.csv${q({ table: 'trend' })}">导出 CSV</a></h2>
        <div class="chart"><canvas id="trend-chart" aria-label="评价趋势图"></canvas></div>
      </section>
      <section class="card">
        <h2>差评整改情况</h2>
        <table class="data">
          <thead>
            <tr>
              <th>状态</th>
              <th class="num">工单</th>
              <th class="num">曾超期</th>
            </tr>
          </thead>
          <tbody>
            ${v.orders.map(
              (o) =>
                html`<tr>
                  <td>${STATE_LABELS[o.state as OrderState] ?? o.state}</td>
                  <td class="num">${o.n}</td>
                  <td class="num">${o.late}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </section>
      ${dimTable('window')}${dimTable('staff')}${dimTable('item')}${dimTable('channel')}
      <section class="card" id="invalidated">
        <h2>无效差评（已认定，保留记录，不计入统计） <a class="csv" href="/stats.csv${q({ table: 'invalid' })}">导出 CSV</a></h2>
        ${
          v.invalidated.length === 0
            ? html`<p class="muted">本期没有。</p>`
            : html`<table class="data">
                <thead>
                  <tr>
                    <th>评价时间</th>
                    <th>窗口</th>
                    <th>等级</th>
                    <th>工作人员</th>
                    <th>工单</th>
                  </tr>
                </thead>
                <tbody>
                  ${v.invalidated.map(
                    (r) =>
                      html`<tr class="invalid-row">
                        <td>${dateTime(r.at)}</td>
                        <td>${r.window}</td>
                        <td><s>${levelLabel(r.level)}</s> <span class="badge grey">无效</span></td>
                        <td>${r.staff_id ? (v.labels.staff.get(r.staff_id) ?? r.staff_id) : '—'}</td>
                        <td>${r.order_id ? html`<a href="/workorders/${r.order_id}">#${r.order_id}</a>` : '—'}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
        }
      </section>
      <section class="card" id="flagged">
        <h2>
          标记与异常评价（记录保留；“不计入”的不进入统计、不上报）
          <a class="csv" href="/stats.csv${q({ table: 'flagged', ...(v.flag ? { flag: v.flag } : {}) })}">导出 CSV</a>
        </h2>
        <form method="get" action="/stats" class="inline">
          <input type="hidden" name="from" value="${v.from}" /><input type="hidden" name="to" value="${v.to}" /><input
            type="hidden"
            name="grain"
            value="${v.grain}"
          />
          <label
            >标记
            <select name="flag">
              <option value="">全部</option>
              ${Object.entries(FLAG_LABELS).map(([f, label]) => html`<option value="${f}" ${f === v.flag ? new Html('selected') : ''}>${label}</option>`)}
            </select></label
          >
          <button type="submit">筛选</button>
        </form>
        ${
          v.flagged.length === 0
            ? html`<p class="muted">本期没有。</p>`
            : html`<div class="scroll">
                <table class="data">
                  <thead>
                    <tr>
                      <th>评价时间</th>
                      <th>窗口</th>
                      <th>等级</th>
                      <th>工作人员</th>
                      <th>标记</th>
                      <th>统计</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${v.flagged.map(
                      (r) =>
                        html`<tr class="${r.excluded ? 'invalid-row' : ''}" data-rating="${r.id}">
                          <td>${dateTime(r.at)}</td>
                          <td>${r.window}</td>
                          <td>${r.excluded ? html`<s>${levelLabel(r.level)}</s>` : levelLabel(r.level)}</td>
                          <td>${r.staff_id ? (v.labels.staff.get(r.staff_id) ?? r.staff_id) : '—'}</td>
                          <td>${flagBadges(r.flags)}</td>
                          <td>${r.excluded ? html`<span class="badge grey">不计入</span>` : '计入'}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
        }
      </section>
      <p class="muted small" id="timings">
        服务器计算用时：${Object.entries(v.timings)
          .map(([k, ms]) => `${k} ${ms.toFixed(1)} ms`)
          .join('，')}
      </p>
      ${jsonScript('trend-data', { trend: v.trend.map((p) => ({ period: p.period, n: [p.counts.n5, p.counts.n4, p.counts.n3, p.counts.n2, p.counts.n1], satisfaction: p.counts.satisfaction })), labels: LEVELS.map(levelLabel) })}`,
    { scripts: ['/static/vendor/chart.umd.js', '/static/stats.js'] },
  );
}

function stateBadge(o: WorkOrder, now: number): Html {
  const cls = o.state === 'closed' ? 'green' : o.state === 'invalid' ? 'grey' : o.state === 'appealed' ? 'amber' : 'blue';
  return html`<span class="badge ${cls} state">${STATE_LABELS[o.state]}</span
    >${isOverdue(o, now) ? html` <span class="badge red overdue">已超期</span>` : ''}`;
}

export function workOrdersPage(
  ctx: PageContext,
  orders: WorkOrder[],
  filter: string,
  counts: { open: number; overdue: number },
  profile: PolicyProfile,
  staff: Map<string, string>,
): Html {
  const tabs: [string, string][] = [
    ['open', `未办结 (${counts.open})`],
    ['overdue', `已超期 (${counts.overdue})`],
    ['appealed', '申诉中'],
    ['closed', '已办结'],
    ['invalid', '无效差评'],
    ['all', '全部'],
  ];
  return layout(
    ctx,
    '差评工单',
    html`<section class="card">
      <h1>差评工单 <small class="muted">办理时限：${profile.name}</small></h1>
      <nav class="tabs">
        ${tabs.map(([k, label]) => html`<a href="/workorders?state=${k}" class="${k === filter ? 'active' : ''}">${label}</a>`)}
      </nav>
      ${
        orders.length === 0
          ? html`<p class="muted">没有工单。</p>`
          : html`<div class="scroll">
              <table class="data orders">
                <thead>
                  <tr>
                    <th>编号</th>
                    <th>窗口</th>
                    <th>评价</th>
                    <th class="opt">工作人员</th>
                    <th class="opt">事项</th>
                    <th>状态</th>
                    <th>当前期限</th>
                    <th class="opt">生成时间</th>
                  </tr>
                </thead>
                <tbody>
                  ${orders.map((o) => {
                    const r = remaining(o.dueAt, ctx.now);
                    return html`<tr class="${isOverdue(o, ctx.now) ? 'overdue-row' : ''}" data-order="${o.id}">
                      <td><a href="/workorders/${o.id}">#${o.id}</a></td>
                      <td>${o.window}</td>
                      <td><span class="lvl l${o.level}">${levelLabel(o.level)}</span></td>
                      <td class="opt">${o.staffId ? (staff.get(o.staffId) ?? o.staffId) : '—'}</td>
                      <td class="opt">${o.itemName ?? o.itemCode ?? '—'}</td>
                      <td>${stateBadge(o, ctx.now)}</td>
                      <td>
                        ${o.dueAt ? html`${deadlineText(o.dueAt)}<br /><small class="${r.overdue ? 'red-text' : 'muted'}">${r.text}</small>` : '—'}
                      </td>
                      <td class="opt">${dateTime(o.createdAt)}</td>
                    </tr>`;
                  })}
                </tbody>
              </table>
            </div>`
      }
    </section>`,
  );
}

export function workOrderPage(
  ctx: PageContext,
  o: WorkOrder,
  trail: TrailEntry[],
  profile: PolicyProfile,
  reasonTexts: Map<string, string>,
  staff: Map<string, string>,
  handoffTarget: string | null = null,
  outbound: OutboundEntry[] = [],
  /** What the citizen added on the QR page (hub/citizen/additions.ts), already rendered. */
  citizen: Html = html``,
): Html {
  const r = remaining(o.dueAt, ctx.now);
  const actions = ctx.user
    ? allowedActions(o, ctx.user.role, !!handoffTarget).filter((a) => a !== 'judge' || o.appealedBy !== ctx.user!.name)
    : [];
  const form = (action: string, fields: Html, primary = true) =>
    html`<form method="post" action="/workorders/${o.id}" class="action" data-action="${action}">
      <input type="hidden" name="_csrf" value="${ctx.csrf ?? ''}" /><input type="hidden" name="version" value="${o.version}" /><input
        type="hidden"
        name="type"
        value="${action}"
      />
      <h3>${ACTION_LABELS[action]}</h3>
      ${fields} <button type="submit" class="${primary ? 'primary' : ''}">${ACTION_LABELS[action]}</button>
    </form>`;
  const note = (label: string, required = true) =>
    html`<label>${label}<textarea name="note" rows="2" ${required ? new Html('required') : ''}></textarea></label>`;
  const classSelect = html`<label
    >差评类别<select name="class">
      ${CLASSES.map((c) => html`<option value="${c}" ${c === 'general' ? new Html('selected') : ''}>${CLASS_LABELS[c]} — ${durationText(profile.handle[c])}</option>`)}
    </select></label
  >`;
  const forms: Record<string, () => Html> = {
    'start-verify': () => form('start-verify', note('核实安排（可选）', false)),
    confirm: () => form('confirm', html`${classSelect}${note('核实结论', false)}`),
    appeal: () =>
      form('appeal', note(`申诉理由与佐证（须在收到差评${profile.appeal ? durationText(profile.appeal.within) : ''}内提出）`), false),
    judge: () =>
      form(
        'judge',
        html`<label
            >复核结论<select name="outcome">
              <option value="upheld">申诉不成立，差评有效（转整改）</option>
              <option value="invalid">申诉成立，认定为误评/恶意差评（不计入统计）</option>
            </select></label
          >${classSelect}${note('复核意见')}`,
      ),
    extend: () =>
      profile.extension
        ? form(
            'extend',
            html`<label
                >延期（${profile.extension.max.unit === 'workingDays' ? '工作日' : '日'}，最多 ${profile.extension.max.amount}）<input
                  type="number"
                  name="amount"
                  min="1"
                  max="${profile.extension.max.amount}"
                  value="${profile.extension.max.amount}"
                  required /></label
              >${note('延期理由')}`,
            false,
          )
        : html``,
    rectify: () => form('rectify', note('整改情况')),
    revisit: () =>
      form(
        'revisit',
        html`<label
            >评价人对整改是否满意<select name="satisfied">
              <option value="yes">满意</option>
              <option value="no">不满意${profile.redo ? `（发回重办，限${profile.redo.times}次）` : ''}</option>
            </select></label
          >${note('回访记录')}`,
      ),
    'hand-off': () =>
      form(
        'hand-off',
        html`<p class="muted">转至：${handoffTarget ?? ''}。工单随之办结（已转办），办理记录一并转去。</p>
          ${note('转办原因')}`,
        false,
      ),
    comment: () => form('comment', note('备注'), false),
  };
  return layout(
    ctx,
    `差评工单 #${o.id}`,
    html`<section class="card order ${isOverdue(o, ctx.now) ? 'overdue-card' : ''}">
        <h1>差评工单 #${o.id} ${stateBadge(o, ctx.now)}</h1>
        <dl class="facts">
          <dt>评价</dt>
          <dd>
            <span class="lvl l${o.level}">${levelLabel(o.level)}</span>
            ${o.appealOutcome === 'invalid' ? html`<span class="badge grey">已认定无效，不计入统计</span>` : ''}
          </dd>
          <dt>原因</dt>
          <dd>
            ${o.reasons.length ? o.reasons.map((c) => `${c} ${reasonTexts.get(c) ?? ''}`).join('；') : '（评价人未选择原因）'}${trail[0]?.data.task === 'obtain-reason' ? html` <span class="badge amber" id="reason-task">待办：核实或回访时了解差评原因</span>` : ''}
          </dd>
          ${citizen}
          <dt>窗口</dt>
          <dd>${o.window}</dd>
          <dt>工作人员</dt>
          <dd>${o.staffId ? (staff.get(o.staffId) ?? o.staffId) : '—'}</dd>
          <dt>事项</dt>
          <dd>${o.itemName ?? '—'} ${o.itemCode ? html`<small class="muted">${o.itemCode}</small>` : ''}</dd>
          <dt>办件编号</dt>
          <dd>${o.cases.length ? o.cases.join('，') : '—'}</dd>
          <dt>评价时间</dt>
          <dd>${dateTime(o.ratedAt)}</dd>
          <dt>收到时间</dt>
          <dd>${dateTime(o.createdAt)}</dd>
          <dt>类别</dt>
          <dd>${o.class ? CLASS_LABELS[o.class] : '—'}</dd>
          <dt>当前期限</dt>
          <dd id="due">${o.dueAt ? html`${deadlineText(o.dueAt)} <b class="${r.overdue ? 'red-text' : ''}">${r.text}</b>` : '—'}</dd>
          <dt>延期 / 重办</dt>
          <dd>${o.extensions} 次 / ${o.redos} 次</dd>
          ${
            o.outcome
              ? html`<dt>结果</dt>
                  <dd>
                    ${{ resolved: '整改完成，评价人满意', unresolved: '回访仍不满意，已办结', invalid: '无效差评', 'handed-off': `已转办${handoffTarget ? `至 ${handoffTarget}` : ''}` }[o.outcome]}
                  </dd>`
              : ''
          }
        </dl>
      </section>
      ${
        actions.length
          ? html`<section class="card actions">
              <h2>办理</h2>
              <div class="action-grid">${actions.map((a) => forms[a]!())}</div>
            </section>`
          : ''
      }
      ${outbound.length ? outboundCard(outbound, handoffTarget) : ''}
      <section class="card">
        <h2>办理记录（不可修改）</h2>
        <table class="data trail">
          <thead>
            <tr>
              <th>时间</th>
              <th>办理人</th>
              <th>操作</th>
              <th>状态</th>
              <th>说明</th>
            </tr>
          </thead>
          <tbody>
            ${trail.map(
              (t) =>
                html`<tr>
                  <td>${dateTime(t.at)}</td>
                  <td>${t.actor === 'system' ? '系统' : t.actor}</td>
                  <td>
                    ${ACTION_LABELS[t.action] ?? t.action}${eventDetail(t)}${t.data.late ? html` <span class="badge red">超期办理</span>` : ''}
                  </td>
                  <td>${t.from ? `${STATE_LABELS[t.from]} → ` : ''}${STATE_LABELS[t.to]}</td>
                  <td>
                    ${t.note ?? ''}${t.data.dueAt ? html`<br /><small class="muted">期限 ${deadlineText(t.data.dueAt as number)}</small>` : ''}
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </section>`,
  );
}

const MILESTONE_LABELS: Record<string, string> = {
  verified: '核实',
  extended: '延期',
  rectified: '整改',
  'appeal-decided': '复核结论',
  revisited: '回访',
  closed: '办结',
  'handed-off': '转办',
};
const OUTBOUND_STATE: Record<OutboundEntry['state'], string> = { pending: '待上报', done: '已送达', rejected: '被拒收' };

/** What of this 差评 went out (milestones, invalidation to the province; the hand-off), and whether it arrived. */
function outboundCard(rows: OutboundEntry[], handoffTarget: string | null): Html {
  const what = (r: OutboundEntry) =>
    r.kind === 'rating' || r.kind === 'correction'
      ? '评价'
      : r.kind === 'follow-up'
        ? '补充评价（扫码）'
        : r.kind === 'milestone'
          ? `办理进度：${MILESTONE_LABELS[r.type ?? ''] ?? r.type}${r.result ? `（${r.result}）` : ''}`
          : r.kind === 'invalidation'
            ? '无效差评：撤销该评价'
            : r.kind === 'handoff'
              ? '转办'
              : r.kind;
  return html`<section class="card outbound">
    <h2>上报情况</h2>
    <table class="data">
      <thead>
        <tr>
          <th>内容</th>
          <th>去向</th>
          <th>状态</th>
          <th>时间</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (r) =>
            html`<tr data-kind="${r.kind}" data-state="${r.state}">
              <td>${what(r)}</td>
              <td>${r.destination === 'handoff' ? (handoffTarget ?? '转办去向') : '省平台'}</td>
              <td class="${r.state === 'rejected' ? 'red-text' : r.state === 'pending' ? 'muted' : ''}">
                ${OUTBOUND_STATE[r.state]}${r.state !== 'done' && r.lastError ? html`<br /><small>${r.lastError}</small>` : ''}
              </td>
              <td>${dateTime(r.forwardedAt ?? r.enqueuedAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** What an event decided, in words: 类别, 复核结论, 延期天数, 回访结果. */
function eventDetail(t: TrailEntry): string {
  const d = t.data;
  const parts: string[] = [];
  if (d.outcome === 'invalid') parts.push('申诉成立，认定无效');
  if (d.outcome === 'upheld') parts.push('申诉不成立，差评有效');
  if (typeof d.class === 'string' && d.class in CLASS_LABELS) parts.push(CLASS_LABELS[d.class as OrderClass]);
  if (typeof d.amount === 'number') parts.push(`延期${d.amount}${d.unit === 'workingDays' ? '个工作日' : '日'}`);
  if (typeof d.target === 'string' && d.target) parts.push(`转至 ${d.target}`);
  if (d.satisfied === true) parts.push('评价人满意');
  if (d.satisfied === false) parts.push(typeof d.redo === 'number' ? `不满意，第${d.redo}次发回重办` : '仍不满意');
  return parts.length ? `（${parts.join('，')}）` : '';
}

const MISUSE_KIND_LABELS: Record<string, string> = {
  sessionless: '无会话按键过多',
  burst: '最高评价连续出现',
  'flagged-high': '标记多且满意率异常偏高',
};

export function alertsPage(
  ctx: PageContext,
  alerts: Alert[],
  rule: { minutes: number; minBad: number; share: number; minTotal: number },
  misuse?: MisuseRule,
): Html {
  const canAck = ctx.user?.role !== 'viewer';
  return layout(
    ctx,
    '差评预警',
    html`<section class="card">
      <h1>差评集中与异常评价预警</h1>
      <p class="muted">
        规则：同一窗口 ${rule.minutes} 分钟内差评达到 ${rule.minBad} 条，或评价满 ${rule.minTotal} 条时差评占比达到
        ${percent(rule.share, 0)}。
      </p>
      ${misuse ? html`<p class="muted">异常评价：${misuse.sessionless.minutes} 分钟内无办件会话按键达到 ${misuse.sessionless.min} 次；最高评价连续 ${misuse.burst.min} 次、间隔均不超过 ${misuse.burst.seconds} 秒；窗口满意率高出全厅 ${percent(misuse.flaggedHigh.margin, 0)} 以上且按键中被标记的占 ${percent(misuse.flaggedHigh.flaggedShare, 0)} 以上。</p>` : ''}
      ${
        alerts.length === 0
          ? html`<p class="muted">没有预警。</p>`
          : html`<table class="data">
              <thead>
                <tr>
                  <th>时间</th>
                  <th>窗口</th>
                  <th>情况</th>
                  <th>处理</th>
                </tr>
              </thead>
              <tbody>
                ${alerts.map(
                  (a) =>
                    html`<tr class="${a.ackedAt ? '' : 'alert-row'}">
                      <td>${dateTime(a.at)}</td>
                      <td>${a.window}</td>
                      <td data-kind="${a.kind}">
                        ${a.kind in MISUSE_KIND_LABELS ? html`<span class="badge amber">${MISUSE_KIND_LABELS[a.kind]}</span> ${a.detail ?? ''}` : `${a.minutes} 分钟内差评 ${a.bad} 条 / 共 ${a.total} 条`}
                      </td>
                      <td>
                        ${
                          a.ackedAt
                            ? `${a.ackedBy} 于 ${dateTime(a.ackedAt)} 已知悉`
                            : canAck
                              ? html`<form method="post" action="/alerts/${a.id}/ack">
                                  <input type="hidden" name="_csrf" value="${ctx.csrf ?? ''}" /><button type="submit">知悉</button>
                                </form>`
                              : '未处理'
                        }
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
    </section>`,
  );
}

export function usersPage(ctx: PageContext, users: StaffUser[], created: { name: string; password: string } | null): Html {
  return layout(
    ctx,
    '账号管理',
    html`<section class="card">
        <h1>账号管理</h1>
        ${created ? html`<p class="flash ok">已创建账号 <b>${created.name}</b>，初始密码：<code id="new-password">${created.password}</code>（只显示这一次）</p>` : ''}
        <table class="data">
          <thead>
            <tr>
              <th>账号</th>
              <th>姓名</th>
              <th>角色</th>
              <th>创建时间</th>
              <th>状态</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${users.map(
              (u) =>
                html`<tr>
                  <td>${u.name}</td>
                  <td>${u.displayName ?? ''}</td>
                  <td>${ROLE_LABELS[u.role]}</td>
                  <td>${dateTime(u.createdAt)}</td>
                  <td>${u.disabledAt ? '已停用' : '正常'}</td>
                  <td>
                    <form method="post" action="/users/${u.name}/${u.disabledAt ? 'enable' : 'disable'}">
                      <input type="hidden" name="_csrf" value="${ctx.csrf ?? ''}" /><button type="submit">
                        ${u.disabledAt ? '启用' : '停用'}
                      </button>
                    </form>
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </section>
      <section class="card">
        <h2>新建账号</h2>
        <form method="post" action="/users" class="inline">
          <input type="hidden" name="_csrf" value="${ctx.csrf ?? ''}" />
          <label>账号 <input name="name" required pattern="[A-Za-z0-9_.@-]{2,32}" /></label>
          <label>姓名 <input name="displayName" /></label>
          <label
            >角色
            <select name="role">
              <option value="viewer">只读（大屏、查看）</option>
              <option value="supervisor">督办员（办理工单）</option>
              <option value="admin">管理员</option>
            </select></label
          >
          <button type="submit" class="primary">创建</button>
        </form>
      </section>`,
  );
}

export function auditPage(ctx: PageContext, rows: AuditRow[], chainOk: boolean): Html {
  return layout(
    ctx,
    '审计日志',
    html`<section class="card">
      <h1>审计日志 <small class="${chainOk ? 'muted' : 'red-text'}">${chainOk ? '校验链完整' : '校验链断裂：日志被改动过'}</small></h1>
      <table class="data">
        <thead>
          <tr>
            <th>#</th>
            <th>时间</th>
            <th>人员</th>
            <th>操作</th>
            <th>对象</th>
            <th>详情</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (r) =>
              html`<tr>
                <td>${r.n}</td>
                <td>${dateTime(r.at)}</td>
                <td>${r.actor}</td>
                <td>${r.action}</td>
                <td>${r.target ?? ''}</td>
                <td><code>${r.detail === '{}' ? '' : r.detail}</code></td>
              </tr>`,
          )}
        </tbody>
      </table>
    </section>`,
  );
}
