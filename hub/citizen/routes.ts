/**
 * The citizen's routes, all under /citizen/ so a hall can publish just that path through its
 * internet gateway: no log-in, no cookies, no script, nothing loaded from elsewhere. Abuse is
 * bounded before anything touches the database: per-address and per-link request windows, a
 * small body limit, a strict form parser (docs/citizen-channels.md).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Level } from '../../protocol/index.js';
import type { Html } from '../web/html.js';
import type { CitizenConfig } from './config.js';
import { cleanText, SubmissionError, type CitizenDesk, type Lookup, type Submission, type SubmitResult } from './desk.js';
import { WindowLimiter } from './limits.js';
import { CITIZEN_CSS_HASH, closedPage, errorPage, formPage, thanksPage } from './pages.js';

/** Further pages under /citizen/ (the public results, a window's board page), registered by their own modules. */
export type CitizenPagePlugin = (app: FastifyInstance, send: (reply: FastifyReply, body: Html, code?: number) => FastifyReply) => void;

export interface CitizenRoutesOptions {
  desk: CitizenDesk;
  config: CitizenConfig;
  now: () => number;
  log: Logger;
  /** Extra CSP style hashes (pages with their own stylesheet). */
  styleHashes?: string[];
  pages?: CitizenPagePlugin[];
}

/** A form as the pages post it: reason (repeatable), text, level. Anything else is malformed. */
interface Form {
  reason: string[];
  text: string;
  level: string | null;
}

class MalformedForm extends Error {
  readonly statusCode = 400;
}

// A % not followed by two hex digits: URLSearchParams would pass it through silently.
const BAD_ESCAPE = /%(?![0-9a-fA-F]{2})/;

export function parseForm(body: string): Form {
  if (BAD_ESCAPE.test(body)) throw new MalformedForm('bad percent-encoding');
  const form: Form = { reason: [], text: '', level: null };
  const seen = new Set<string>();
  for (const [k, v] of new URLSearchParams(body)) {
    if (k === 'reason') {
      if (form.reason.length >= 50) throw new MalformedForm('too many reasons');
      form.reason.push(v);
      continue;
    }
    if (k !== 'text' && k !== 'level') throw new MalformedForm(`unknown field ${k.slice(0, 20)}`);
    if (seen.has(k)) throw new MalformedForm(`${k} given twice`);
    seen.add(k);
    if (k === 'text') form.text = v;
    else form.level = v;
  }
  return form;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAC = /^[A-Za-z0-9_-]{22}$/;

export async function citizenRoutes(app: FastifyInstance, o: CitizenRoutesOptions): Promise<void> {
  app.addHook('onRoute', (r) => {
    r.schema = { ...r.schema, hide: true };
  });
  const csp = [
    "default-src 'none'",
    `style-src ${[CITIZEN_CSS_HASH, ...(o.styleHashes ?? [])].join(' ')}`,
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const send = (reply: FastifyReply, body: Html, code = 200) =>
    reply
      .code(code)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      // The link is the token: it must not leave in a Referer (there is nothing to link to anyway).
      .header('referrer-policy', 'no-referrer')
      .header('x-robots-tag', 'noindex')
      .send(body.toString());

  // Only the forms' own encoding, with a small limit; JSON, multipart and the rest are 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: o.config.limits.bodyBytes },
    (_req, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (e) {
        done(e as Error, undefined);
      }
    },
  );

  app.setErrorHandler((e, req, reply) => {
    const code = (e as { statusCode?: number }).statusCode ?? 500;
    if (code >= 500) req.log.error({ err: e }, 'citizen page failed');
    return send(reply, errorPage(code >= 500 ? 500 : code), code >= 500 ? 500 : code);
  });
  app.setNotFoundHandler((_req, reply) => send(reply, errorPage(404), 404));

  const lim = o.config.limits;
  const perAddress = new WindowLimiter(lim.perAddress.count, lim.perAddress.windowS * 1000, o.now);
  const perLink = new WindowLimiter(lim.perToken.count, lim.perToken.windowS * 1000, o.now);
  let refused = 0;
  const tooMany = (reply: FastifyReply, wait: number) => {
    if (++refused % 100 === 1) o.log.warn({ refused }, 'citizen page: requests over the rate limit refused');
    return send(reply.header('retry-after', String(wait)), errorPage(429, wait), 429);
  };
  // Counted before the body is read: a flood costs no parsing and no database work.
  app.addHook('onRequest', async (req, reply) => {
    const wait = perAddress.take(req.ip);
    if (wait) return tooMany(reply, wait);
  });

  const linkLimited = (req: FastifyRequest, reply: FastifyReply, link: string): boolean => {
    const wait = perLink.take(link);
    if (wait) {
      void tooMany(reply, wait);
      return true;
    }
    return false;
  };

  /** The form's submission, read: text cleaned (or the reason it cannot be taken), level checked. */
  const submission = (body: unknown): Submission | string => {
    const f = body as Form | undefined;
    if (!f || !Array.isArray(f.reason)) return '提交的内容无法识别';
    let text: string | null;
    try {
      text = cleanText(f.text);
    } catch (e) {
      if (e instanceof SubmissionError) return e.message;
      throw e;
    }
    const level = f.level === null ? undefined : /^[1-5]$/.test(f.level) ? (Number(f.level) as Level) : null;
    if (level === null) return '评价等级无效';
    return { reasons: f.reason, text, ...(level ? { level } : {}) };
  };
  const kept = (body: unknown) => {
    const f = body as Form | undefined;
    const level = f?.level && /^[1-5]$/.test(f.level) ? (Number(f.level) as Level) : undefined;
    return { reasons: f?.reason ?? [], text: f?.text?.slice(0, 600) ?? '', ...(level ? { level } : {}) };
  };

  const answer = (reply: FastifyReply, l: Lookup) =>
    l.state === 'open' ? send(reply, formPage(l)) : send(reply, closedPage(l).body, closedPage(l).code);
  const answerSubmit = (reply: FastifyReply, r: SubmitResult, again: () => Lookup, body: unknown) => {
    if (r.ok) return send(reply, thanksPage(r.evaluation.kind === 'follow-up' ? 'follow-up' : 'late-rating'));
    if ('lookup' in r) return answer(reply, r.lookup);
    const l = again();
    return l.state === 'open' ? send(reply, formPage(l, r.invalid, kept(body)), 400) : answer(reply, l);
  };

  // The receipt of a 差评: add reasons and text.
  app.get('/r/:id/:mac', async (req, reply) => {
    const { id, mac } = req.params as { id: string; mac: string };
    if (!ID.test(id) || !MAC.test(mac)) return answer(reply, { state: 'forged' });
    if (linkLimited(req, reply, `r/${id}/${mac}`)) return reply;
    return answer(reply, o.desk.receipt(id, mac));
  });
  app.post('/r/:id/:mac', async (req, reply) => {
    const { id, mac } = req.params as { id: string; mac: string };
    if (!ID.test(id) || !MAC.test(mac)) return answer(reply, { state: 'forged' });
    if (linkLimited(req, reply, `r/${id}/${mac}`)) return reply;
    const s = submission(req.body);
    const again = () => o.desk.receipt(id, mac);
    if (typeof s === 'string') return answerSubmit(reply, { ok: false, invalid: s }, again, req.body);
    return answerSubmit(reply, o.desk.submitReceipt(id, mac, s), again, req.body);
  });

  // A session's rate-later link: rate it until its deadline.
  app.get('/s/:device/:mac', async (req, reply) => {
    const { device, mac } = req.params as { device: string; mac: string };
    if (!ID.test(device) || !MAC.test(mac)) return answer(reply, { state: 'forged' });
    if (linkLimited(req, reply, `s/${device}/${mac}`)) return reply;
    return answer(reply, o.desk.rateLater(device, mac));
  });
  app.post('/s/:device/:mac', async (req, reply) => {
    const { device, mac } = req.params as { device: string; mac: string };
    if (!ID.test(device) || !MAC.test(mac)) return answer(reply, { state: 'forged' });
    if (linkLimited(req, reply, `s/${device}/${mac}`)) return reply;
    const s = submission(req.body);
    const again = () => o.desk.rateLater(device, mac);
    if (typeof s === 'string') return answerSubmit(reply, { ok: false, invalid: s }, again, req.body);
    return answerSubmit(reply, o.desk.submitRateLater(device, mac, s), again, req.body);
  });

  for (const p of o.pages ?? []) p(app, send);
}
