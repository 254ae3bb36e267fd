/** The device wall: tiles, the summary, recent ratings and open alerts; and the live event stream. */
import { wallPage } from '../pages.js';
import { SESSION_COOKIE, type WebKit } from './kit.js';

export function wallRoutes(k: WebKit): void {
  const { app, web } = k;
  app.get(
    '/wall',
    k.page('viewer', '/wall', (_req, reply, _s, ctx) => {
      const tiles = web.tiles();
      return k.sendHtml(reply, wallPage(ctx, tiles, web.summary(tiles), web.stats.recent(30), web.alerts.open()));
    }),
  );
  app.get('/api/hall/wall', async (req) => {
    k.api('viewer', req);
    const tiles = web.tiles();
    return { tiles, summary: web.summary(tiles), recent: web.stats.recent(30), alerts: web.alerts.open(), now: web.now() };
  });
  app.get('/api/hall/events', async (req, reply) => {
    k.api('viewer', req);
    const token = req.cookies[SESSION_COOKIE];
    reply.hijack();
    web.live.attach(reply.raw, () => !!web.logins.resolve(token));
  });
}
