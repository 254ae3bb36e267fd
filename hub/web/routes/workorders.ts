/** 差评 work orders: the list and one order (page and JSON), and the actions on an order (form and JSON). */
import { HttpError } from '../../../common/errors.js';
import { citizenAdditions, citizenAdditionsHtml } from '../../citizen/additions.js';
import { z } from 'zod';
import { BUILTIN_CATALOGUE } from '../../../protocol/index.js';
import type { ActiveLogin } from '../../users/login-sessions.js';
import { allowedActions, STATES, type Command } from '../../workorders/machine.js';
import { outboundFor } from '../../workorders/outbound.js';
import { CLASSES } from '../../workorders/policy.js';
import { html } from '../html.js';
import { layout, STATE_LABELS, workOrderPage, workOrdersPage } from '../pages.js';
import { IdParams, RawIdParams, type WebKit } from './kit.js';

const ListQuery = z.object({
  state: z.enum(['open', 'overdue', 'all', ...STATES]).default('open'),
  window: z.string().max(32).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  before: z.coerce.number().int().optional(),
});

const Note = z.string().max(2000).optional();
/** Every command a form or the JSON API can give an order; the state machine decides whether it may. */
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
]) satisfies z.ZodType<Command>;
/** The order version the form or client saw (a stale one is refused: someone else acted first). */
const ActionBody = z.object({ version: z.coerce.number().int().positive().optional() }).passthrough();

export function workOrderRoutes(k: WebKit): void {
  const { app, web } = k;
  const reasonTexts = new Map(BUILTIN_CATALOGUE.reasons.map((r) => [r.code, r.text]));

  const act = (id: number, body: unknown, s: ActiveLogin) => {
    const { version } = ActionBody.parse(body);
    const cmd: Command = CommandSchema.parse(body);
    const o = web.workOrders.act(id, cmd, { name: s.user.name, role: s.user.role }, version);
    web.live.send('workorder', { id: o.id, window: o.window, level: o.level, state: o.state, dueAt: o.dueAt });
    web.pushSummary();
    return o;
  };

  app.get(
    '/workorders',
    k.page('viewer', '/workorders', (req, reply, _s, ctx) => {
      const q = ListQuery.parse(req.query);
      const orders = web.workOrders.list({ state: q.state, window: q.window, limit: q.limit, beforeId: q.before });
      return k.sendHtml(reply, workOrdersPage(ctx, orders, q.state, web.workOrders.counts(), web.profile, web.staffNames()));
    }),
  );
  app.get(
    '/workorders/:id',
    k.page('viewer', '/workorders', (req, reply, _s, ctx) => {
      const { id } = IdParams.parse(req.params);
      const o = web.workOrders.get(id);
      if (!o) return k.sendHtml(reply, layout(ctx, '没有此工单', html`<section class="card"><h1>没有工单 #${id}</h1></section>`), 404);
      return k.sendHtml(
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
  app.post(
    '/workorders/:id',
    k.form(
      'supervisor',
      (req) => `/workorders/${RawIdParams.parse(req.params).id}`,
      (req, s) => {
        const o = act(IdParams.parse(req.params).id, req.body, s);
        return `已办理：${o.id} 号工单现为「${STATE_LABELS[o.state]}」`;
      },
    ),
  );
  app.get('/api/hall/workorders', async (req) => {
    k.api('viewer', req);
    const q = ListQuery.parse(req.query);
    return {
      orders: web.workOrders
        .list({ state: q.state, window: q.window, limit: q.limit, beforeId: q.before })
        .map((o) => ({ ...o, overdue: web.workOrders.isOverdue(o) })),
      counts: web.workOrders.counts(),
    };
  });
  app.get('/api/hall/workorders/:id', async (req) => {
    const s = k.api('viewer', req);
    const { id } = IdParams.parse(req.params);
    const o = web.workOrders.get(id);
    if (!o) throw new HttpError(404, 'not-found', `没有工单 ${id}`);
    return {
      order: { ...o, overdue: web.workOrders.isOverdue(o) },
      trail: web.workOrders.trail(id),
      allowed: allowedActions(o, s.user.role, !!web.handoffTarget),
      outbound: outboundFor(web.d.db, o.ratingId),
    };
  });
  app.post('/api/hall/workorders/:id/actions', async (req) => {
    const s = k.api('supervisor', req, true);
    const o = act(IdParams.parse(req.params).id, req.body, s);
    return { order: { ...o, overdue: web.workOrders.isOverdue(o) } };
  });
}
