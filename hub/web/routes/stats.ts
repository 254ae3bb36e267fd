/** Statistics for a period: the page, its JSON and the CSV export of one table. */
import { FLAG_LABELS } from '../../policy/flag-policy.js';
import { toCsv } from '../../stats/queries.js';
import { levelLabel, percent } from '../html.js';
import { statsPage, type StatsView } from '../pages.js';
import { computeStats, StatsQuery, statsRequest } from '../stats-view.js';
import type { WebKit } from './kit.js';

/** "no-session,too-soon" → "无办件会话；提示后过快按键". */
export const flagText = (flags: string) =>
  flags
    .split(',')
    .map((f) => FLAG_LABELS[f] ?? f)
    .join('；');

const LEVEL_COLUMNS = [
  '非常满意',
  '满意',
  '基本满意',
  '不满意',
  '非常不满意',
  '有效评价',
  '满意率',
  '差评率',
  '无效差评',
  '已标记',
  '异常不计入',
];
const counts = (c: StatsView['summary']) => [
  c.n5,
  c.n4,
  c.n3,
  c.n2,
  c.n1,
  c.total,
  percent(c.satisfaction, 2),
  percent(c.badRate, 2),
  c.invalid,
  c.flagged,
  c.misuse,
];
const DIM_TITLES = { window: '窗口', staff: '工作人员', item: '事项', channel: '渠道' } as const;

/** One table of the statistics as CSV. */
function statsCsv(v: StatsView, table: NonNullable<ReturnType<typeof StatsQuery.parse>['table']>): string {
  if (table === 'trend')
    return toCsv(
      ['期间', ...LEVEL_COLUMNS],
      v.trend.map((p) => [p.period, ...counts(p.counts)]),
    );
  if (table === 'flagged')
    return toCsv(
      ['评价编号', '评价时间', '窗口', '等级', '工作人员', '事项编码', '设备', '标记', '标记说明', '统计'],
      v.flagged.map((r) => [
        r.id,
        new Date(r.at).toISOString(),
        r.window,
        levelLabel(r.level),
        r.staff_id,
        r.item_code,
        r.device,
        r.flags,
        flagText(r.flags),
        r.excluded === 'misuse' ? '不计入' : '计入',
      ]),
    );
  if (table === 'invalid')
    return toCsv(
      ['评价编号', '评价时间', '窗口', '等级', '工作人员', '事项编码', '工单'],
      v.invalidated.map((r) => [r.id, new Date(r.at).toISOString(), r.window, levelLabel(r.level), r.staff_id, r.item_code, r.order_id]),
    );
  const label = (k: string) => (table === 'channel' ? k : k === '' ? '（未登记）' : (v.labels[table].get(k) ?? k));
  return toCsv(
    [DIM_TITLES[table], ...LEVEL_COLUMNS],
    v.tables[table].map((r) => [label(r.key), ...counts(r.counts)]),
  );
}

export function statsRoutes(k: WebKit): void {
  const { app, web } = k;
  app.get(
    '/stats',
    k.page('viewer', '/stats', (req, reply, _s, ctx) =>
      k.sendHtml(reply, statsPage(ctx, computeStats(web, statsRequest(req.query, web.now())))),
    ),
  );
  app.get('/api/hall/stats', async (req) => {
    k.api('viewer', req);
    const v = computeStats(web, statsRequest(req.query, web.now()));
    const obj = (m: Map<string, string>) => Object.fromEntries(m);
    return { ...v, labels: { window: obj(v.labels.window), staff: obj(v.labels.staff), item: obj(v.labels.item) } };
  });
  app.get('/stats.csv', async (req, reply) => {
    const s = k.loginOf(req);
    if (!s) return reply.redirect('/login', 303);
    const table = StatsQuery.parse(req.query).table ?? 'window';
    const v = computeStats(web, statsRequest(req.query, web.now()));
    const csv = statsCsv(v, table);
    web.audit.record(s.user.name, 'export-csv', table, { from: v.from, to: v.to });
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="haochaping-${table}-${v.from}-${v.to}.csv"`)
      .send(csv);
  });
}
