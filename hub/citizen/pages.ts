/**
 * The citizen's pages: small, Chinese, server-rendered forms that work without script, on a
 * phone, through a gateway that publishes only /citizen/. Every value is escaped by `html`.
 */
import { LEVEL_LABELS, LEVELS, type Level } from '../../protocol/index.js';
import { createHash } from 'node:crypto';
import { deadlineText, html, Html } from '../web/html.js';
import type { Lookup } from './desk.js';
import { MAX_TEXT } from './desk.js';

export const CITIZEN_CSS = `
*{box-sizing:border-box}
body{margin:0;font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;font-size:17px;line-height:1.5;color:#1d2733;background:#f3f5f8}
main{max-width:560px;margin:0 auto;padding:16px}
h1{font-size:22px;margin:8px 0 12px}
.card{background:#fff;border-radius:10px;padding:16px;margin:0 0 14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.muted{color:#5b6775;font-size:15px}
fieldset{border:0;padding:0;margin:0 0 14px}
legend{font-weight:bold;margin-bottom:6px}
label.opt{display:flex;gap:10px;align-items:flex-start;padding:10px;border:1px solid #d5dbe2;border-radius:8px;margin:6px 0;background:#fff}
label.opt input{margin-top:4px;width:20px;height:20px}
textarea{width:100%;min-height:110px;font-size:17px;padding:8px;border:1px solid #b9c3ce;border-radius:8px}
button{width:100%;font-size:19px;padding:12px;border:0;border-radius:8px;background:#c62828;color:#fff}
.notice{border-left:5px solid #c62828;padding:12px}
.ok{border-left:5px solid #2e7d32}
.given{color:#5b6775}
.err{background:#fdecea;color:#8a1c1c;padding:10px;border-radius:8px}
`;

/** The stylesheet's CSP hash: the pages carry it inline (no second request, no path to get wrong behind a gateway). */
export const CITIZEN_CSS_HASH = `'sha256-${createHash('sha256').update(CITIZEN_CSS).digest('base64')}'`;

// Built outside the template: the CSP hash covers the style element's exact text.
const STYLE = new Html(`<style>${CITIZEN_CSS}</style>`);

export function page(title: string, body: Html): Html {
  return html`<!doctype html>
    <html lang="zh-CN">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        <title>${title}</title>
        ${STYLE}
      </head>
      <body>
        <main>${body}</main>
      </body>
    </html>`;
}

const notice = (id: string, title: string, text: string, ok = false) =>
  page(
    title,
    html`<section class="card notice ${ok ? 'ok' : ''}" id="${id}">
      <h1>${title}</h1>
      <p>${text}</p>
    </section>`,
  );

/** The page for a link that cannot be used (anything but 'open'). */
export function closedPage(l: Exclude<Lookup, { state: 'open' }>): { code: number; body: Html } {
  switch (l.state) {
    case 'forged':
      return { code: 404, body: notice('forged', '二维码无效', '无法识别此二维码，请确认扫描的是评价器或回执上的二维码。') };
    case 'unknown':
      return {
        code: 404,
        body: notice('unknown', '未找到此评价', '未找到对应的评价记录。如果您刚刚在窗口评价，评价可能尚未送达，请一两分钟后再扫码。'),
      };
    case 'expired':
      return {
        code: 410,
        body: notice('expired', '已超过评价期限', `此二维码的评价期限已于 ${deadlineText(l.deadlineAt)} 结束，无法再提交。感谢您的关注。`),
      };
    case 'used':
      return { code: 409, body: notice('used', '已提交过', '此二维码已提交过评价，每个二维码只能提交一次。感谢您的评价。') };
    case 'rated':
      return { code: 409, body: notice('rated', '本次服务已评价', '本次服务已有评价，无需再次评价。感谢您的参与。') };
    case 'cancelled':
      return { code: 410, body: notice('cancelled', '本次服务已撤销', '窗口已撤销本次服务的评价请求，无需评价。') };
    case 'not-bad':
      return { code: 409, body: notice('not-bad', '无需补充', '此评价不是差评，无需补充原因。感谢您的评价。') };
    case 'not-counted':
      return { code: 409, body: notice('not-counted', '无法补充', '此评价未被计入，无法补充内容。如有意见请联系大厅工作人员。') };
  }
}

export function thanksPage(kind: 'follow-up' | 'late-rating'): Html {
  return notice(
    'thanks',
    '提交成功',
    kind === 'follow-up'
      ? '您补充的意见已收到，将与您的评价一并报送。感谢您的监督。'
      : '您的评价已收到，将报送政务服务好差评系统。感谢您的评价。',
    true,
  );
}

/** The form of an open link: a 差评's follow-up (reasons of its level, text) or a late rating (five levels). */
export function formPage(
  l: Extract<Lookup, { state: 'open' }>,
  error: string | null = null,
  kept?: { level?: Level; reasons: string[]; text: string },
): Html {
  const win = html`窗口 ${l.window}${l.windowName ? html` · ${l.windowName}` : ''}${l.itemName ? html` · ${l.itemName}` : ''}`;
  const picked = new Set(kept?.reasons ?? []);
  const reasonBoxes = (level: Level) =>
    l.reasons[level].map((r) =>
      l.given.includes(r.code)
        ? html`<label class="opt given"><input type="checkbox" checked disabled /> <span>${r.text}（已选）</span></label>`
        : html`<label class="opt"
            ><input type="checkbox" name="reason" value="${r.code}" ${picked.has(r.code) ? html`checked` : ''} />
            <span>${r.text}</span></label
          >`,
    );
  const textBox = html`<fieldset>
    <legend>文字意见（可选，最多 ${MAX_TEXT} 字）</legend>
    <textarea name="text" maxlength="${MAX_TEXT}" placeholder="请写下您的意见或建议">${kept?.text ?? ''}</textarea>
  </fieldset>`;
  const err = error ? html`<p class="err" id="error" role="alert">${error}</p>` : '';
  const deadline = html`<p class="muted">请于 ${deadlineText(l.deadlineAt)} 前提交；每个二维码只能提交一次。不收集您的个人信息。</p>`;
  if (l.kind === 'follow-up')
    return page(
      '补充差评意见',
      html`<section class="card">
          <h1>补充差评意见</h1>
          <p>${win}</p>
          <p>您的评价：<strong>${LEVEL_LABELS[l.level!].zh}</strong></p>
          ${deadline}
        </section>
        <form method="post" class="card" id="follow-up">
          ${err}
          <fieldset>
            <legend>不满意的原因（可多选）</legend>
            ${reasonBoxes(l.level!)}
          </fieldset>
          ${textBox}
          <button type="submit">提交</button>
        </form>`,
    );
  // Without script the per-level content cannot follow the chosen level: all levels' content is
  // listed under its level's heading, and the hub accepts only reasons of the level chosen.
  return page(
    '服务评价',
    html`<section class="card">
        <h1>服务评价</h1>
        <p>${win}</p>
        ${deadline}
      </section>
      <form method="post" class="card" id="late-rating">
        ${err}
        <fieldset>
          <legend>您对本次服务的评价</legend>
          ${LEVELS.map(
            (lv) =>
              html`<label class="opt"
                ><input type="radio" name="level" value="${lv}" required ${kept?.level === lv ? html`checked` : ''} />
                <span>${LEVEL_LABELS[lv].zh}</span></label
              >`,
          )}
        </fieldset>
        ${LEVELS.filter((lv) => l.reasons[lv].length).map(
          (lv) =>
            html`<fieldset>
              <legend>如选择「${LEVEL_LABELS[lv].zh}」，可勾选：</legend>
              ${reasonBoxes(lv)}
            </fieldset>`,
        )}
        ${textBox}
        <button type="submit">提交评价</button>
      </form>`,
  );
}

/** An error page for a request the pages cannot take (too large, malformed, too many). */
export function errorPage(code: number, retryAfterS?: number): Html {
  const [title, text] =
    code === 429
      ? ['请求过于频繁', `请稍候${retryAfterS ? ` ${retryAfterS} 秒` : ''}再试。`]
      : code === 413
        ? ['内容过长', `提交的内容超过了允许的长度，文字意见最多 ${MAX_TEXT} 字。`]
        : code === 415
          ? ['无法识别的提交', '请通过页面上的表单提交。']
          : code === 404
            ? ['页面不存在', '请扫描评价器或回执上的二维码。']
            : code === 405
              ? ['不支持的操作', '请通过页面上的表单提交。']
              : ['提交有误', '提交的内容无法识别，请返回页面重新提交。'];
  return page(
    title,
    html`<section class="card notice" id="error-${code}">
      <h1>${title}</h1>
      <p>${text}</p>
    </section>`,
  );
}
