/**
 * HTTP for the hall web page: the pages (server-rendered, forms that work without script),
 * a JSON API under /api/hall for the same actions (and for tests and integrations), the live
 * event stream, and the static files — all served from the hub, nothing from the internet
 * (the hall extranet has none). Staff log in with a cookie; every write checks the log-in's
 * CSRF token and the role. One file per resource in routes/, like the token API's.
 */
import { HttpError } from '../../common/errors.js';
import { errorAnswer } from '../http-errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { HallWeb } from './hall-web.js';
import { alertRoutes } from './routes/alerts.js';
import { WebKit } from './routes/kit.js';
import { loginRoutes } from './routes/login.js';
import { statsRoutes } from './routes/stats.js';
import { userRoutes } from './routes/users.js';
import { wallRoutes } from './routes/wall.js';
import { workOrderRoutes } from './routes/workorders.js';

export { safeNext } from './routes/login.js';

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

export async function webRoutes(app: FastifyInstance, web: HallWeb): Promise<void> {
  // The page and its JSON are for staff with a log-in cookie; the hub's OpenAPI document
  // describes the token API for queue systems and hall IT, so these stay out of it.
  app.addHook('onRoute', (r) => {
    r.schema = { ...r.schema, hide: true };
  });
  await app.register(fastifyCookie);
  const k = new WebKit(app, web);
  // The JSON API checks the log-in before anything reads the body: a caller without one
  // gets 401, never a 400 that tells it what a valid body would look like.
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?', 1)[0]!;
    if (path.startsWith('/api/hall/') && path !== '/api/hall/login' && !k.loginOf(req))
      throw new HttpError(401, 'unauthorized', '请先登录 (log in first)');
  });
  // Open live streams would keep the server from closing: end them first.
  app.addHook('preClose', async () => web.live.close());
  await app.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  await app.register(fastifyStatic, { root: staticDir(), prefix: '/static/', maxAge: 3_600_000 });
  const chart = chartJs();
  app.get('/static/vendor/chart.umd.js', async (_req, reply) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(chart),
  );

  app.setErrorHandler((e, req, reply) => {
    const { status, code, message } = errorAnswer(e);
    if (status >= 500) req.log.error({ err: e }, 'web request failed');
    return reply.code(status).send({ error: code, message });
  });

  for (const routes of [loginRoutes, wallRoutes, statsRoutes, workOrderRoutes, alertRoutes, userRoutes]) routes(k);
}
