/**
 * The hall page's link to a window's QR board (/boards/{window}.pdf|png): for staff with a
 * session (the hall page's cookie), outside /citizen/ so a gateway publishing the citizen page
 * never exposes it. Hall IT's scripts use the token API (GET /api/windows/:window/board).
 */
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import type { HallWeb } from '../web/hall-web.js';
import { SESSION_COOKIE } from '../web/routes/kit.js';
import { BoardError } from './board.js';
import type { CitizenChannel } from './channel.js';

export async function boardStaffRoutes(app: FastifyInstance, o: { citizen: CitizenChannel; web: HallWeb }): Promise<void> {
  app.addHook('onRoute', (r) => {
    r.schema = { ...r.schema, hide: true };
  });
  await app.register(fastifyCookie);
  app.get('/boards/:file', async (req, reply) => {
    if (!o.web.logins.resolve(req.cookies[SESSION_COOKIE])) return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
    const m = /^(.{1,32})\.(pdf|png)$/.exec((req.params as { file: string }).file);
    if (!m) return reply.code(404).send({ error: 'not-found', message: '二维码牌地址应为 /boards/<窗口>.pdf 或 .png' });
    try {
      const b = await o.citizen.board(m[1]!, m[2] as 'pdf' | 'png');
      return reply
        .header('content-type', b.contentType)
        .header('content-disposition', `inline; filename="window-${encodeURIComponent(m[1]!)}-board.${m[2]}"`)
        .header('cache-control', 'no-store')
        .send(b.body);
    } catch (e) {
      if (e instanceof BoardError)
        return reply.code(409).header('content-type', 'text/plain; charset=utf-8').send(`无法生成二维码牌：${e.message}`);
      throw e;
    }
  });
}
