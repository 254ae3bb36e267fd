/** Staff accounts and the audit log (admin only): the pages, the account forms and the JSON API. */
import { HttpError } from '../../../common/errors.js';
import { errorAnswer } from '../../http-errors.js';
import { z } from 'zod';
import { displayText } from '../../../protocol/index.js';
import { PasswordSchema, STAFF_ROLES } from '../../users/users.js';
import { auditPage, usersPage } from '../pages.js';
import type { WebKit } from './kit.js';

const AddUser = z.object({
  name: z.string(),
  role: z.enum(STAFF_ROLES),
  displayName: displayText(64).or(z.literal('')).optional(),
  password: PasswordSchema.optional(),
});
const UserOpParams = z.object({ name: z.string(), op: z.string() });

export function userRoutes(k: WebKit): void {
  const { app, web } = k;
  app.get(
    '/users',
    k.page('admin', '/users', (_req, reply, _s, ctx) => k.sendHtml(reply, usersPage(ctx, web.users.list(), null))),
  );
  app.post('/users', async (req, reply) => {
    // Not a redirect: the generated password is shown once, on this response only.
    const s = k.loginOf(req);
    if (!s) return reply.redirect('/login', 303);
    const ctx = k.ctxOf(req, s, '/users');
    try {
      if (s.user.role !== 'admin') throw new HttpError(403, 'forbidden', '只有管理员可以管理账号');
      k.checkCsrf(req, s);
      const b = AddUser.parse(req.body);
      const { user, password } = await web.users.add(s.user.name, b);
      return k.sendHtml(reply, usersPage(ctx, web.users.list(), { name: user.name, password }));
    } catch (e) {
      return k.sendHtml(
        reply,
        usersPage({ ...ctx, flash: { kind: 'error', text: errorAnswer(e).message } }, web.users.list(), null),
        errorAnswer(e).status,
      );
    }
  });
  app.post(
    '/users/:name/:op',
    k.form(
      'admin',
      () => '/users',
      (req, s) => {
        const { name, op } = UserOpParams.parse(req.params);
        if (op !== 'disable' && op !== 'enable') throw new HttpError(404, 'not-found', 'unknown operation');
        web.users.setDisabled(s.user.name, name, op === 'disable');
        return op === 'disable' ? `已停用 ${name}` : `已启用 ${name}`;
      },
    ),
  );
  app.post('/api/hall/users', async (req, reply) => {
    const s = k.api('admin', req, true);
    const { user, password } = await web.users.add(s.user.name, AddUser.parse(req.body));
    reply.code(201);
    return { user, password };
  });
  app.get(
    '/audit',
    k.page('admin', '/audit', (_req, reply, _s, ctx) =>
      k.sendHtml(reply, auditPage(ctx, web.audit.recent(300), web.audit.verify() === null)),
    ),
  );
}
