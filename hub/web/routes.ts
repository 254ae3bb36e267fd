/**
 * HTTP for the hall web page: the pages (server-rendered, forms that work without script),
 * a JSON API under /api/hall for the same actions (and for tests and integrations), the live
 * event stream, and the static files — all served from the hub, nothing from the internet
 * (the hall extranet has none). Staff log in with a session cookie; every write checks the
 * session's CSRF token and the role.
 */
import { citizenAdditions, citizenAdditionsHtml } from '../citizen/additions.js';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { BUILTIN_CATALOGUE, displayText } from '../../protocol/index.js';
import { addDays, chinaDay, numberFromDay, startOfChinaDay, weekday } from '../calendar/working-days.js';
import type { Grain } from '../stats/queries.js';
import { toCsv } from '../stats/queries.js';
import type { ActiveSession } from '../users/sessions.js';
import { PasswordSchema, STAFF_ROLES, UserError, type StaffRoleName } from '../users/users.js';
import { allowedActions, Refusal, STATES, type Command } from '../workorders/machine.js';
import { outboundFor } from '../workorders/outbound.js';
import { CLASSES } from '../workorders/policy.js';
import { WorkOrderError } from '../workorders/store.js';
import type { HallWeb } from './hall-web.js';
import { FLAG_LABELS } from '../policy/flag-policy.js';
import { html, levelLabel, percent } from './html.js';

/** "no-session,too-soon" → "无办件会话；提示后过快按键". */
export const flagText = (flags: string) =>
  flags
    .split(',')
    .map((f) => FLAG_LABELS[f] ?? f)
    .join('；');
import {
  alertsPage,
  auditPage,
  layout,
  loginPage,
  statsPage,
  usersPage,
  wallPage,
  workOrderPage,
  workOrdersPage,
  type PageContext,
  type StatsView,
} from './pages.js';

export const SESSION_COOKIE = 'hcp_session';
const RANK: Record<StaffRoleName, number> = { viewer: 0, supervisor: 1, admin: 2 };

export class WebError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const REFUSAL_STATUS: Record<Refusal['code'], number> = {
  forbidden: 403,
  'own-appeal': 403,
  'invalid-transition': 409,
  'too-late': 422,
  'limit-reached': 422,
  'invalid-input': 400,
};

/** The static folder, from the sources or from dist/ (static files are not compiled). */
function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    for (const c of [join(dir, 'static'), join(dir, 'hub', 'web', 'static')]) if (existsSync(join(c, 'app.css'))) return c;
    if (dirname(dir) === dir) throw new Error(`cannot find hub/web/static above ${here}`);
  }
}

function chartJs(): Buffer {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(join(dirname(main), 'chart.umd.min.js'));
}

// ---- statistics for a period (shared by the page, the JSON API, CSV and the benchmark)

export interface StatsRequest {
  from: string;
  to: string;
  grain: Grain;
  dim?: 'window' | 'staff' | 'item' | 'channel';
  key?: string;
  /** The flagged-ratings list: only this flag (e.g. no-session). */
  flag?: string;
}

export function presetRange(preset: string, now: number): { from: string; to: string } {
  const today = chinaDay(now);
  switch (preset) {
    case 'today':
      return { from: today, to: today };
    case 'week':
      return { from: addDays(today, -((weekday(today) + 6) % 7)), to: today };
    case 'year':
      return { from: today.slice(0, 4) + '-01-01', to: today };
    default:
      return { from: today.slice(0, 7) + '-01', to: today };
  }
}

export function computeStats(web: HallWeb, r: StatsRequest): StatsView {
  const timings: Record<string, number> = {};
  const time = <T>(name: string, f: () => T): T => {
    const t0 = performance.now();
    const v = f();
    timings[name] = performance.now() - t0;
    return v;
  };
  const from = numberFromDay(r.from);
  const to = numberFromDay(r.to);
  const t0 = performance.now();
  const summary = time('summary', () => web.stats.summary(from, to));
  const trend = time('trend', () =>
    r.dim && r.key !== undefined ? web.stats.trend(from, to, r.grain, r.dim, r.key) : web.stats.trend(from, to, r.grain),
  );
  const tables = {
    window: time('window', () => web.stats.byDim('window', from, to)),
    staff: time('staff', () => web.stats.byDim('staff', from, to)),
    item: time('item', () => web.stats.byDim('item', from, to)),
    channel: time('channel', () => web.stats.byDim('channel', from, to)),
  };
  const invalidated = time('invalidated', () => web.stats.invalidated(startOfChinaDay(r.from), startOfChinaDay(addDays(r.to, 1)) - 1));
  const flagged = time('flagged', () => web.stats.flagged(startOfChinaDay(r.from), startOfChinaDay(addDays(r.to, 1)) - 1, r.flag ?? null));
  const orders = time('workorders', () =>
    web.d.db
      .prepare<[number, number], { state: string; n: number; late: number }>(ORDER_SUMMARY_SQL)
      .all(startOfChinaDay(r.from), startOfChinaDay(addDays(r.to, 1)) - 1),
  );
  const items = web.stats.itemNames();
  const windowNames = web.windowNames();
  timings.total = performance.now() - t0;
  const dimLabel = r.dim ? { window: '窗口', staff: '工作人员', item: '事项', channel: '渠道' }[r.dim] : '';
  return {
    from: r.from,
    to: r.to,
    grain: r.grain,
    summary,
    trend,
    trendTitle: r.dim ? `${dimLabel} ${r.key === '' ? '（未登记）' : r.key} 的评价趋势` : '全厅评价趋势',
    tables,
    labels: { window: windowNames, staff: web.staffNames(), item: new Map([...items].map(([c, n]) => [c, n ? `${n}（${c}）` : c])) },
    invalidated,
    flagged,
    flag: r.flag ?? null,
    orders,
    timings,
  };
}

export const ORDER_SUMMARY_SQL = `SELECT state, count(*) AS n, coalesce(sum(late_stages > 0), 0) AS late FROM work_orders WHERE created_at BETWEEN ? AND ? GROUP BY state`;

/** A calendar day: "2026-99-01" or "2026-02-30" is a 400 naming the parameter, never a 500 or March 2. */
export const DayParam = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date written YYYY-MM-DD')
  .refine((s) => {
    const t = Date.parse(s + 'T00:00:00Z');
    return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
  }, 'is not a day on the calendar')
  // The day after 9999-12-31 has no four-digit year: the range arithmetic would fail (a 500).
  .refine((s) => s >= '1970-01-01' && s <= '9998-12-31', 'must be between 1970-01-01 and 9998-12-31');

const StatsQuery = z.object({
  preset: z.enum(['today', 'week', 'month', 'year']).optional(),
  from: DayParam.optional(),
  to: DayParam.optional(),
  grain: z.enum(['day', 'week', 'month']).optional(),
  dim: z.enum(['window', 'staff', 'item', 'channel']).optional(),
  key: z.string().max(200).optional(),
  table: z.enum(['window', 'staff', 'item', 'channel', 'trend', 'invalid', 'flagged']).optional(),
  flag: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/)
    .optional(),
});

function statsRequest(q: unknown, now: number): StatsRequest {
  const p = StatsQuery.parse(q);
  let { from, to } = p.preset || !p.from || !p.to ? presetRange(p.preset ?? 'month', now) : { from: p.from, to: p.to };
  if (from > to) [from, to] = [to, from];
  const days = numberFromDay(to) - numberFromDay(from);
  if (days > 3 * 366) throw new WebError(400, 'range-too-long', '查询范围不能超过三年');
  const grain = p.grain ?? (days > 92 ? 'month' : days > 31 ? 'week' : 'day');
  return { from, to, grain, ...(p.dim ? { dim: p.dim, key: p.key ?? '' } : {}), ...(p.flag ? { flag: p.flag } : {}) };
}

// ---- commands from forms and JSON

const Note = z.string().max(2000).optional();
const CommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start-verify'), note: Note }),
  z.object({ type: z.literal('confirm'), class: z.enum(CLASSES), note: Note }),
  z.object({ type: z.literal('appeal'), note: z.string().max(2000) }),
  z.object({
    type: z.literal('judge'),
    outcome: z.enum(['upheld', 'invalid']),
    class: z.enum(CLASSES).optional(),
    note: z.string().max(2000),
  }),
  z.object({ type: z.literal('extend'), amount: z.coerce.number().int(), note: z.string().max(2000) }),
  z.object({ type: z.literal('rectify'), note: z.string().max(2000) }),
  z.object({
    type: z.literal('revisit'),
    satisfied: z.union([z.boolean(), z.enum(['yes', 'no']).transform((v) => v === 'yes')]),
    note: z.string().max(2000),
  }),
  z.object({ type: z.literal('hand-off'), note: z.string().max(2000) }),
  z.object({ type: z.literal('comment'), note: z.string().max(2000) }),
]);
const ActionBody = z.object({ version: z.coerce.number().int().positive().optional() }).passthrough();

/**
 * Where to go after log-in: only a path on this hub. "//host", "/\\host" and their variants
 * with tabs, newlines or spaces (which browsers strip) would leave the hub, so anything with a
 * backslash, a control character or whitespace is refused, and what is left must resolve to
 * this origin. Percent-encoded slashes stay encoded in a path, so they cannot name a host.
 */
export function safeNext(n: unknown): string {
  const fallback = '/wall';
  // eslint-disable-next-line no-control-regex
  if (typeof n !== 'string' || n.length > 2000 || !n.startsWith('/') || n.startsWith('//') || /[\\\u0000-\u0020\u007f-\u009f]/.test(n))
    return fallback;
  try {
    const base = 'http://hub.invalid';
    const u = new URL(n, base);
    return u.origin === base ? u.pathname + u.search + u.hash : fallback;
  } catch {
    return fallback;
  }
}

// ---- the plugin

export async function webRoutes(app: FastifyInstance, web: HallWeb): Promise<void> {
  // The page and its JSON are for staff with a session cookie; the hub's OpenAPI document
  // describes the token API for queue systems and hall IT, so these stay out of it.
  app.addHook('onRoute', (r) => {
    r.schema = { ...r.schema, hide: true };
  });
  await app.register(fastifyCookie);
  // The JSON API checks the session before anything reads the body: a caller without a
  // session gets 401, never a 400 that tells it what a valid body would look like.
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?', 1)[0]!;
    if (path.startsWith('/api/hall/') && path !== '/api/hall/login' && !sessionOf(req))
      throw new WebError(401, 'unauthorized', '请先登录 (log in first)');
  });
  await app.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  await app.register(fastifyStatic, { root: staticDir(), prefix: '/static/', maxAge: 3_600_000 });
  const chart = chartJs();
  app.get('/static/vendor/chart.umd.js', async (_req, reply) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(chart),
  );

  const hallName = web.config.hallName ?? web.d.registry.hall;
  const sessionOf = (req: FastifyRequest): ActiveSession | null => web.sessions.resolve(req.cookies[SESSION_COOKIE]);
  const ctxOf = (req: FastifyRequest, s: ActiveSession | null, active?: string): PageContext => {
    const q = req.query as Record<string, unknown>;
    const flash =
      typeof q.ok === 'string'
        ? { kind: 'ok' as const, text: q.ok }
        : typeof q.err === 'string'
          ? { kind: 'error' as const, text: q.err }
          : null;
    return { hallName, user: s?.user ?? null, csrf: s?.csrf ?? null, now: web.now(), active, flash };
  };
  // Everything the pages load comes from the hub itself; nothing may frame them.
  const CSP =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
  const sendHtml = (reply: FastifyReply, body: { toString(): string }, code = 200) =>
    reply
      .code(code)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .send(body.toString());

  /** Pages: no session → the log-in page; too low a role → 403 page. */
  const page =
    (
      min: StaffRoleName,
      active: string | undefined,
      handler: (req: FastifyRequest, reply: FastifyReply, s: ActiveSession, ctx: PageContext) => unknown,
    ) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const s = sessionOf(req);
      if (!s) return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
      const ctx = ctxOf(req, s, active);
      if (RANK[s.user.role] < RANK[min])
        return sendHtml(
          reply,
          layout(
            ctx,
            '无权限',
            html`<section class="card">
              <h1>无权限</h1>
              <p>您的账号角色不能查看此页面。</p>
            </section>`,
          ),
          403,
        );
      return handler(req, reply, s, ctx);
    };
  /** JSON: no session → 401; too low a role → 403; writes need the CSRF header or field. */
  const api = (min: StaffRoleName, req: FastifyRequest, write = false): ActiveSession => {
    const s = sessionOf(req);
    if (!s) throw new WebError(401, 'unauthorized', '请先登录 (log in first)');
    if (RANK[s.user.role] < RANK[min]) throw new WebError(403, 'forbidden', `角色 ${s.user.role} 不能执行此操作`);
    if (write) checkCsrf(req, s);
    return s;
  };
  const checkCsrf = (req: FastifyRequest, s: ActiveSession) => {
    const given = (req.headers['x-csrf-token'] as string | undefined) ?? (req.body as Record<string, unknown> | undefined)?._csrf;
    if (given !== s.csrf) throw new WebError(403, 'csrf', '页面已过期，请刷新后重试 (CSRF token missing or wrong)');
  };
  /** Form posts: check session, role and CSRF; errors go back to the page as a message. */
  const form =
    (
      min: StaffRoleName,
      back: (req: FastifyRequest) => string,
      handler: (req: FastifyRequest, s: ActiveSession) => Promise<string | void> | string | void,
    ) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const s = sessionOf(req);
      if (!s) return reply.redirect('/login', 303);
      const to = back(req);
      const sep = to.includes('?') ? '&' : '?';
      try {
        if (RANK[s.user.role] < RANK[min]) throw new WebError(403, 'forbidden', '您的账号角色不能执行此操作');
        checkCsrf(req, s);
        const ok = await handler(req, s);
        return reply.redirect(ok ? `${to}${sep}ok=${encodeURIComponent(ok)}` : to, 303);
      } catch (e) {
        return reply.redirect(`${to}${sep}err=${encodeURIComponent(messageOf(e))}`, 303);
      }
    };

  app.setErrorHandler((e, req, reply) => {
    const { status, code } = classify(e);
    if (status >= 500) req.log.error({ err: e }, 'web request failed');
    return reply.code(status).send({ error: code, message: messageOf(e) });
  });

  // ---- log in / out
  const login = async (req: FastifyRequest, reply: FastifyReply, name: string, password: string) => {
    const r = await web.users.login(name, password, req.ip);
    if (!r.ok) return r;
    const { token, session } = web.sessions.create(r.user);
    reply.setCookie(SESSION_COOKIE, token, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: req.protocol === 'https',
      maxAge: Math.floor(web.config.sessionMaxHours * 3600),
    });
    return { ok: true as const, session };
  };
  const loginMessage = (reason: string) =>
    reason === 'locked' ? '连续输错密码次数过多，账号已临时锁定，请10分钟后再试' : reason === 'disabled' ? '账号已停用' : '账号或密码错误';

  app.get('/', async (req, reply) => reply.redirect(sessionOf(req) ? '/wall' : '/login', 303));
  app.get('/login', async (req, reply) =>
    sendHtml(reply, loginPage(ctxOf(req, null), null, safeNext((req.query as { next?: string }).next))),
  );
  app.post('/login', async (req, reply) => {
    const b = z.object({ name: z.string().max(64), password: z.string().max(200), next: z.string().optional() }).parse(req.body);
    const r = await login(req, reply, b.name.trim(), b.password);
    if (!r.ok) return sendHtml(reply, loginPage(ctxOf(req, null), loginMessage(r.reason), safeNext(b.next)), 401);
    return reply.redirect(safeNext(b.next), 303);
  });
  app.post('/logout', async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    const s = sessionOf(req);
    if (token && s) {
      // A state change like any other: a page elsewhere must not be able to log staff out.
      try {
        checkCsrf(req, s);
      } catch (e) {
        return sendHtml(
          reply,
          layout(
            ctxOf(req, s),
            '无法退出',
            html`<section class="card">
              <h1>无法退出</h1>
              <p>${messageOf(e)}</p>
              <p><a href="/wall">返回</a></p>
            </section>`,
          ),
          403,
        );
      }
      web.sessions.end(token);
      web.audit.record(s.user.name, 'logout');
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });
  app.post('/api/hall/login', async (req, reply) => {
    const b = z.object({ name: z.string().max(64), password: z.string().max(200) }).parse(req.body);
    const r = await login(req, reply, b.name.trim(), b.password);
    if (!r.ok) throw new WebError(r.reason === 'locked' ? 429 : 401, r.reason, loginMessage(r.reason));
    return { user: r.session.user, csrf: r.session.csrf, expiresAt: r.session.expiresAt };
  });
  app.post('/api/hall/logout', async (req) => {
    const s = api('viewer', req, true);
    web.sessions.end(req.cookies[SESSION_COOKIE]!);
    web.audit.record(s.user.name, 'logout');
    return { ok: true };
  });
  app.get('/api/hall/me', async (req) => {
    const s = api('viewer', req);
    return { user: s.user, csrf: s.csrf, expiresAt: s.expiresAt, idleUntil: s.idleUntil };
  });

  // ---- device wall
  app.get(
    '/wall',
    page('viewer', '/wall', (_req, reply, _s, ctx) => {
      const tiles = web.tiles();
      return sendHtml(reply, wallPage(ctx, tiles, web.summary(tiles), web.stats.recent(30), web.alerts.open()));
    }),
  );
  app.get('/api/hall/wall', async (req) => {
    api('viewer', req);
    const tiles = web.tiles();
    return { tiles, summary: web.summary(tiles), recent: web.stats.recent(30), alerts: web.alerts.open(), now: web.now() };
  });
  app.get('/api/hall/events', async (req, reply) => {
    api('viewer', req);
    const token = req.cookies[SESSION_COOKIE];
    reply.hijack();
    web.live.attach(reply.raw, () => !!web.sessions.resolve(token));
  });

  // ---- statistics
  app.get(
    '/stats',
    page('viewer', '/stats', (req, reply, _s, ctx) =>
      sendHtml(reply, statsPage(ctx, computeStats(web, statsRequest(req.query, web.now())))),
    ),
  );
  app.get('/api/hall/stats', async (req) => {
    api('viewer', req);
    const v = computeStats(web, statsRequest(req.query, web.now()));
    const obj = (m: Map<string, string>) => Object.fromEntries(m);
    return { ...v, labels: { window: obj(v.labels.window), staff: obj(v.labels.staff), item: obj(v.labels.item) } };
  });
  app.get('/stats.csv', async (req, reply) => {
    const s = sessionOf(req);
    if (!s) return reply.redirect('/login', 303);
    const table = StatsQuery.parse(req.query).table ?? 'window';
    const v = computeStats(web, statsRequest(req.query, web.now()));
    const levelCols = [
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
    let csv: string;
    if (table === 'trend')
      csv = toCsv(
        ['期间', ...levelCols],
        v.trend.map((p) => [p.period, ...counts(p.counts)]),
      );
    else if (table === 'flagged') {
      csv = toCsv(
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
    } else if (table === 'invalid')
      csv = toCsv(
        ['评价编号', '评价时间', '窗口', '等级', '工作人员', '事项编码', '工单'],
        v.invalidated.map((r) => [r.id, new Date(r.at).toISOString(), r.window, levelLabel(r.level), r.staff_id, r.item_code, r.order_id]),
      );
    else {
      const label = (k: string) =>
        table === 'channel' ? k : k === '' ? '（未登记）' : ((v.labels as Record<string, Map<string, string>>)[table]?.get(k) ?? k);
      csv = toCsv(
        [{ window: '窗口', staff: '工作人员', item: '事项', channel: '渠道' }[table], ...levelCols],
        v.tables[table].map((r) => [label(r.key), ...counts(r.counts)]),
      );
    }
    web.audit.record(s.user.name, 'export-csv', table, { from: v.from, to: v.to });
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="haochaping-${table}-${v.from}-${v.to}.csv"`)
      .send(csv);
  });

  // ---- work orders
  const reasonTexts = new Map(BUILTIN_CATALOGUE.reasons.map((r) => [r.code, r.text]));
  const ListQuery = z.object({
    state: z.enum(['open', 'overdue', 'all', ...STATES]).default('open'),
    window: z.string().max(32).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
    before: z.coerce.number().int().optional(),
  });
  app.get(
    '/workorders',
    page('viewer', '/workorders', (req, reply, _s, ctx) => {
      const q = ListQuery.parse(req.query);
      const orders = web.workOrders.list({ state: q.state, window: q.window, limit: q.limit, beforeId: q.before });
      return sendHtml(reply, workOrdersPage(ctx, orders, q.state, web.workOrders.counts(), web.profile, web.staffNames()));
    }),
  );
  app.get(
    '/workorders/:id',
    page('viewer', '/workorders', (req, reply, _s, ctx) => {
      const id = z.coerce
        .number()
        .int()
        .parse((req.params as { id: string }).id);
      const o = web.workOrders.get(id);
      if (!o) return sendHtml(reply, layout(ctx, '没有此工单', html`<section class="card"><h1>没有工单 #${id}</h1></section>`), 404);
      return sendHtml(
        reply,
        workOrderPage(
          ctx,
          o,
          web.workOrders.trail(id),
          web.profile,
          reasonTexts,
          web.staffNames(),
          web.handoffTarget,
          outboundFor(web.d.db, o.ratingId),
          citizenAdditionsHtml(citizenAdditions(web.d.db, o.ratingId), reasonTexts),
        ),
      );
    }),
  );
  const act = (idParam: string, body: unknown, s: ActiveSession) => {
    const id = z.coerce.number().int().parse(idParam);
    const { version } = ActionBody.parse(body);
    const cmd = CommandSchema.parse(body) as Command;
    const o = web.workOrders.act(id, cmd, { name: s.user.name, role: s.user.role }, version);
    web.live.send('workorder', { id: o.id, window: o.window, level: o.level, state: o.state, dueAt: o.dueAt });
    web.pushSummary();
    return o;
  };
  app.post(
    '/workorders/:id',
    form(
      'supervisor',
      (req) => `/workorders/${(req.params as { id: string }).id}`,
      (req, s) => {
        const o = act((req.params as { id: string }).id, req.body, s);
        return `已办理：${o.id} 号工单现为「${{ new: '待核实', verifying: '核实中', appealed: '申诉复核中', rectifying: '整改中', revisit: '待回访', closed: '已办结', invalid: '无效差评' }[o.state]}」`;
      },
    ),
  );
  app.get('/api/hall/workorders', async (req) => {
    api('viewer', req);
    const q = ListQuery.parse(req.query);
    return {
      orders: web.workOrders
        .list({ state: q.state, window: q.window, limit: q.limit, beforeId: q.before })
        .map((o) => ({ ...o, overdue: web.workOrders.isOverdue(o) })),
      counts: web.workOrders.counts(),
    };
  });
  app.get('/api/hall/workorders/:id', async (req) => {
    const s = api('viewer', req);
    const id = z.coerce
      .number()
      .int()
      .parse((req.params as { id: string }).id);
    const o = web.workOrders.get(id);
    if (!o) throw new WebError(404, 'not-found', `没有工单 ${id}`);
    return {
      order: { ...o, overdue: web.workOrders.isOverdue(o) },
      trail: web.workOrders.trail(id),
      allowed: allowedActions(o, s.user.role, !!web.handoffTarget),
      outbound: outboundFor(web.d.db, o.ratingId),
    };
  });
  app.post('/api/hall/workorders/:id/actions', async (req) => {
    const s = api('supervisor', req, true);
    const o = act((req.params as { id: string }).id, req.body, s);
    return { order: { ...o, overdue: web.workOrders.isOverdue(o) } };
  });

  // ---- alerts
  app.get(
    '/alerts',
    page('viewer', '/alerts', (_req, reply, _s, ctx) =>
      sendHtml(reply, alertsPage(ctx, web.alerts.list(), web.config.alerts, web.config.misuseAlerts)),
    ),
  );
  const ack = (idParam: string, s: ActiveSession) => {
    const id = z.coerce.number().int().parse(idParam);
    if (!web.alerts.ack(id, s.user.name)) throw new WebError(404, 'not-found', `预警 ${id} 不存在或已处理`);
    web.audit.record(s.user.name, 'alert-ack', String(id));
    web.pushSummary();
  };
  app.post(
    '/alerts/:id/ack',
    form(
      'supervisor',
      () => '/alerts',
      (req, s) => ack((req.params as { id: string }).id, s),
    ),
  );
  app.get('/api/hall/alerts', async (req) => {
    api('viewer', req);
    return { alerts: web.alerts.list() };
  });
  app.post('/api/hall/alerts/:id/ack', async (req) => {
    ack((req.params as { id: string }).id, api('supervisor', req, true));
    return { ok: true };
  });

  // ---- accounts and audit (admin)
  app.get(
    '/users',
    page('admin', '/users', (_req, reply, _s, ctx) => sendHtml(reply, usersPage(ctx, web.users.list(), null))),
  );
  const AddUser = z.object({
    name: z.string(),
    role: z.enum(STAFF_ROLES),
    displayName: displayText(64).or(z.literal('')).optional(),
    password: PasswordSchema.optional(),
  });
  app.post('/users', async (req, reply) => {
    // Not a redirect: the generated password is shown once, on this response only.
    const s = sessionOf(req);
    if (!s) return reply.redirect('/login', 303);
    const ctx = ctxOf(req, s, '/users');
    try {
      if (s.user.role !== 'admin') throw new WebError(403, 'forbidden', '只有管理员可以管理账号');
      checkCsrf(req, s);
      const b = AddUser.parse(req.body);
      const { user, password } = await web.users.add(s.user.name, b);
      return sendHtml(reply, usersPage(ctx, web.users.list(), { name: user.name, password }));
    } catch (e) {
      return sendHtml(
        reply,
        usersPage({ ...ctx, flash: { kind: 'error', text: messageOf(e) } }, web.users.list(), null),
        classify(e).status,
      );
    }
  });
  app.post(
    '/users/:name/:op',
    form(
      'admin',
      () => '/users',
      (req, s) => {
        const { name, op } = req.params as { name: string; op: string };
        if (op !== 'disable' && op !== 'enable') throw new WebError(404, 'not-found', 'unknown operation');
        web.users.setDisabled(s.user.name, name, op === 'disable');
        return op === 'disable' ? `已停用 ${name}` : `已启用 ${name}`;
      },
    ),
  );
  app.post('/api/hall/users', async (req, reply) => {
    const s = api('admin', req, true);
    const { user, password } = await web.users.add(s.user.name, AddUser.parse(req.body));
    reply.code(201);
    return { user, password };
  });
  app.get(
    '/audit',
    page('admin', '/audit', (_req, reply, _s, ctx) => sendHtml(reply, auditPage(ctx, web.audit.recent(300), web.audit.verify() === null))),
  );
}

function classify(e: unknown): { status: number; code: string } {
  if (e instanceof WebError) return { status: e.statusCode, code: e.code };
  if (e instanceof Refusal) return { status: REFUSAL_STATUS[e.code], code: e.code };
  if (e instanceof WorkOrderError) return { status: e.code === 'not-found' ? 404 : 409, code: e.code };
  if (e instanceof UserError) return { status: e.code === 'not-found' ? 404 : 409, code: e.code };
  if (e instanceof z.ZodError) return { status: 400, code: 'invalid-request' };
  const status = (e as { statusCode?: number }).statusCode ?? 500;
  return { status, code: status >= 500 ? 'internal' : 'bad-request' };
}

function messageOf(e: unknown): string {
  if (e instanceof z.ZodError) return z.prettifyError(e);
  return (e as Error).message;
}
