/** 差评 cluster and misuse alerts: the list (page and JSON) and acknowledging one (form and JSON). */
import { HttpError } from '../../../common/errors.js';
import type { ActiveLogin } from '../../users/login-sessions.js';
import { alertsPage } from '../pages.js';
import { IdParams, type WebKit } from './kit.js';

export function alertRoutes(k: WebKit): void {
  const { app, web } = k;
  const ack = (id: number, s: ActiveLogin) => {
    if (!web.alerts.ack(id, s.user.name)) throw new HttpError(404, 'not-found', `预警 ${id} 不存在或已处理`);
    web.audit.record(s.user.name, 'alert-ack', String(id));
    web.pushSummary();
  };

  app.get(
    '/alerts',
    k.page('viewer', '/alerts', (_req, reply, _s, ctx) =>
      k.sendHtml(reply, alertsPage(ctx, web.alerts.list(), web.config.alerts, web.config.misuseAlerts)),
    ),
  );
  app.post(
    '/alerts/:id/ack',
    k.form(
      'supervisor',
      () => '/alerts',
      (req, s) => ack(IdParams.parse(req.params).id, s),
    ),
  );
  app.get('/api/hall/alerts', async (req) => {
    k.api('viewer', req);
    return { alerts: web.alerts.list() };
  });
  app.post('/api/hall/alerts/:id/ack', async (req) => {
    const s = k.api('supervisor', req, true);
    ack(IdParams.parse(req.params).id, s);
    return { ok: true };
  });
}
