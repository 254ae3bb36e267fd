/** Log-in and log-out: the page's form and the JSON API's. A log-in is a cookie (staff_logins). */
import { HttpError } from '../../../common/errors.js';
import { errorAnswer } from '../../http-errors.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { html } from '../html.js';
import { layout, loginPage } from '../pages.js';
import { SESSION_COOKIE, type WebKit } from './kit.js';

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

/** ?next=… on the log-in page; safeNext decides whether it may be followed. */
const LoginQuery = z.object({ next: z.unknown().optional() });
const LoginForm = z.object({ name: z.string().max(64), password: z.string().max(200), next: z.string().optional() });
const LoginBody = z.object({ name: z.string().max(64), password: z.string().max(200) });

const loginMessage = (reason: string) =>
  reason === 'locked' ? '连续输错密码次数过多，账号已临时锁定，请10分钟后再试' : reason === 'disabled' ? '账号已停用' : '账号或密码错误';

export function loginRoutes(k: WebKit): void {
  const { app, web } = k;
  const login = async (req: FastifyRequest, reply: FastifyReply, name: string, password: string) => {
    const r = await web.users.login(name, password, req.ip);
    if (!r.ok) return r;
    const { token, login } = web.logins.create(r.user);
    reply.setCookie(SESSION_COOKIE, token, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: req.protocol === 'https',
      maxAge: Math.floor(web.config.sessionMaxHours * 3600),
    });
    return { ok: true as const, login };
  };

  app.get('/', async (req, reply) => reply.redirect(k.loginOf(req) ? '/wall' : '/login', 303));
  app.get('/login', async (req, reply) =>
    k.sendHtml(reply, loginPage(k.ctxOf(req, null), null, safeNext(LoginQuery.parse(req.query ?? {}).next))),
  );
  app.post('/login', async (req, reply) => {
    const b = LoginForm.parse(req.body);
    const r = await login(req, reply, b.name.trim(), b.password);
    if (!r.ok) return k.sendHtml(reply, loginPage(k.ctxOf(req, null), loginMessage(r.reason), safeNext(b.next)), 401);
    return reply.redirect(safeNext(b.next), 303);
  });
  app.post('/logout', async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    const s = k.loginOf(req);
    if (token && s) {
      // A state change like any other: a page elsewhere must not be able to log staff out.
      try {
        k.checkCsrf(req, s);
      } catch (e) {
        return k.sendHtml(
          reply,
          layout(
            k.ctxOf(req, s),
            '无法退出',
            html`<section class="card">
              <h1>无法退出</h1>
              <p>${errorAnswer(e).message}</p>
              <p><a href="/wall">返回</a></p>
            </section>`,
          ),
          403,
        );
      }
      web.logins.end(token);
      web.audit.record(s.user.name, 'logout');
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });
  app.post('/api/hall/login', async (req, reply) => {
    const b = LoginBody.parse(req.body);
    const r = await login(req, reply, b.name.trim(), b.password);
    if (!r.ok) throw new HttpError(r.reason === 'locked' ? 429 : 401, r.reason, loginMessage(r.reason));
    return { user: r.login.user, csrf: r.login.csrf, expiresAt: r.login.expiresAt };
  });
  app.post('/api/hall/logout', async (req) => {
    const s = k.api('viewer', req, true);
    web.logins.end(req.cookies[SESSION_COOKIE]!);
    web.audit.record(s.user.name, 'logout');
    return { ok: true };
  });
  app.get('/api/hall/me', async (req) => {
    const s = k.api('viewer', req);
    return { user: s.user, csrf: s.csrf, expiresAt: s.expiresAt, idleUntil: s.idleUntil };
  });
}
