/**
 * What every route file of the hall page shares: who is logged in, the page context, how HTML
 * is sent, and the three ways a route checks its caller — a page (no log-in → the log-in page),
 * the JSON API (401/403) and a form post (errors go back to the page as a message). Writes
 * check the log-in's CSRF token and the role.
 */
import { HttpError } from '../../../common/errors.js';
import { errorAnswer } from '../../http-errors.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ActiveLogin } from '../../users/login-sessions.js';
import type { StaffRoleName } from '../../users/users.js';
import type { HallWeb } from '../hall-web.js';
import { html } from '../html.js';
import { layout, type PageContext } from '../pages.js';

export const SESSION_COOKIE = 'hcp_session';
const RANK: Record<StaffRoleName, number> = { viewer: 0, supervisor: 1, admin: 2 };

/** A message shown once after a redirect (?ok=… / ?err=…); anything else in the query is the page's own. */
const FlashQuery = z.object({ ok: z.string().optional().catch(undefined), err: z.string().optional().catch(undefined) });
/** The CSRF token, from the header (JSON) or the form field. */
const CsrfHeader = z.object({ 'x-csrf-token': z.string().optional().catch(undefined) });
const CsrfField = z.object({ _csrf: z.unknown().optional() }).catch({});

// Everything the pages load comes from the hub itself; nothing may frame them.
const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export class WebKit {
  readonly hallName: string;

  constructor(
    readonly app: FastifyInstance,
    readonly web: HallWeb,
  ) {
    this.hallName = web.config.hallName ?? web.d.registry.hall;
  }

  /** The staff member logged in with this request's cookie, or null. */
  loginOf = (req: FastifyRequest): ActiveLogin | null => this.web.logins.resolve(req.cookies[SESSION_COOKIE]);

  ctxOf = (req: FastifyRequest, s: ActiveLogin | null, active?: string): PageContext => {
    const q = FlashQuery.safeParse(req.query ?? {});
    const ok = q.success ? q.data.ok : undefined;
    const err = q.success ? q.data.err : undefined;
    const flash = ok !== undefined ? { kind: 'ok' as const, text: ok } : err !== undefined ? { kind: 'error' as const, text: err } : null;
    return { hallName: this.hallName, user: s?.user ?? null, csrf: s?.csrf ?? null, now: this.web.now(), active, flash };
  };

  sendHtml = (reply: FastifyReply, body: { toString(): string }, code = 200) =>
    reply
      .code(code)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .send(body.toString());

  /** Pages: no log-in → the log-in page; too low a role → 403 page. */
  page =
    (
      min: StaffRoleName,
      active: string | undefined,
      handler: (req: FastifyRequest, reply: FastifyReply, s: ActiveLogin, ctx: PageContext) => unknown,
    ) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const s = this.loginOf(req);
      if (!s) return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
      const ctx = this.ctxOf(req, s, active);
      if (RANK[s.user.role] < RANK[min])
        return this.sendHtml(
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

  /** JSON: no log-in → 401; too low a role → 403; writes need the CSRF header or field. */
  api = (min: StaffRoleName, req: FastifyRequest, write = false): ActiveLogin => {
    const s = this.loginOf(req);
    if (!s) throw new HttpError(401, 'unauthorized', '请先登录 (log in first)');
    if (RANK[s.user.role] < RANK[min]) throw new HttpError(403, 'forbidden', `角色 ${s.user.role} 不能执行此操作`);
    if (write) this.checkCsrf(req, s);
    return s;
  };

  checkCsrf = (req: FastifyRequest, s: ActiveLogin): void => {
    const given = CsrfHeader.parse(req.headers)['x-csrf-token'] ?? CsrfField.parse(req.body ?? {})._csrf;
    if (given !== s.csrf) throw new HttpError(403, 'csrf', '页面已过期，请刷新后重试 (CSRF token missing or wrong)');
  };

  /** Form posts: check log-in, role and CSRF; errors go back to the page as a message. */
  form =
    (
      min: StaffRoleName,
      back: (req: FastifyRequest) => string,
      handler: (req: FastifyRequest, s: ActiveLogin) => Promise<string | void> | string | void,
    ) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const s = this.loginOf(req);
      if (!s) return reply.redirect('/login', 303);
      const to = back(req);
      const sep = to.includes('?') ? '&' : '?';
      try {
        if (RANK[s.user.role] < RANK[min]) throw new HttpError(403, 'forbidden', '您的账号角色不能执行此操作');
        this.checkCsrf(req, s);
        const ok = await handler(req, s);
        return reply.redirect(ok ? `${to}${sep}ok=${encodeURIComponent(ok)}` : to, 303);
      } catch (e) {
        return reply.redirect(`${to}${sep}err=${encodeURIComponent(errorAnswer(e).message)}`, 303);
      }
    };
}

/** A numeric id in the path (/workorders/:id, /alerts/:id/ack): anything else is a 400. */
export const IdParams = z.object({ id: z.coerce.number().int() });
/** The same path parameter as written, for the page a form post goes back to. */
export const RawIdParams = z.object({ id: z.string() });
