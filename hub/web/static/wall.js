// The device wall: draws the tiles from the JSON in the page, then keeps them current from
// the hub's event stream (server-sent events). No reload, no framework.
(() => {
  'use strict';
  const data = JSON.parse(document.getElementById('wall-data').textContent);
  const LEVELS = { 5: '非常满意', 4: '满意', 3: '基本满意', 2: '不满意', 1: '非常不满意' };
  const STATE = { online: '在线', offline: '离线', paused: '暂停', never: '未上线', revoked: '已停用' };
  const FLAGS = {
    'no-session': '无会话',
    'walk-up': '自助',
    'no-reason': '未选原因',
    'too-soon': '过快',
    repeated: '重复按键',
    'attribution-mismatch': '归属不符',
    'rate-exceeded': '超频',
  };
  const MODE = { idle: '待机', prompt: '请评价', reasons: '选择原因', thanks: '致谢', paused: '暂停服务', 'out-of-service': '停止服务' };
  const UPDATE = {
    downloading: '下载中',
    verifying: '校验中',
    installed: '已安装待确认',
    active: '已生效',
    failed: '失败',
    'rolled-back': '已回退',
  };
  const tiles = new Map(data.tiles.map((t) => [t.id, t]));
  let summary = data.summary;
  let alerts = data.alerts;
  const skew = Date.now() - data.now; // the browser's clock may differ from the hub's
  const now = () => Date.now() - skew;

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const chinaDay = (ms) => new Date(ms + 8 * 3600e3).toISOString().slice(0, 10);
  // Today: 14:03; another day: 11-14 14:03.
  const hhmm = (ms) => {
    const t = new Date(ms).toLocaleTimeString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false, hour: '2-digit', minute: '2-digit' });
    return chinaDay(ms) === chinaDay(now()) ? t : `${chinaDay(ms).slice(5)} ${t}`;
  };
  const ago = (ms) => {
    const s = Math.max(0, Math.round((now() - ms) / 1000));
    if (s < 60) return `${s}秒前`;
    if (s < 3600) return `${Math.floor(s / 60)}分钟前`;
    if (s < 86400) return `${Math.floor(s / 3600)}小时前`;
    return `${Math.floor(s / 86400)}天前`;
  };

  function renderTile(t) {
    const d = el('article', `tile ${t.state}`);
    d.id = `tile-${t.id}`;
    d.dataset.device = t.id;
    d.dataset.state = t.state;
    d.append(el('div', 'win', `${t.window} 号窗口`));
    d.append(el('div', 'wname', t.windowName || t.name || t.id));
    const badge = el('span', 'status', STATE[t.state] || t.state);
    badge.setAttribute('data-role', 'status');
    d.append(badge);
    d.append(el('div', 'staff', t.staff ? `在岗：${t.staff.name}${t.staff.number ? `（${t.staff.number}）` : ''}` : '无人在岗'));
    const last = el('div', 'last');
    if (t.lastRating) {
      last.append('最近评价：');
      last.append(el('span', `lvl l${t.lastRating.level}`, LEVELS[t.lastRating.level]));
      last.append(el('span', 'meta', ` ${hhmm(t.lastRating.at)}`));
    } else last.textContent = '暂无评价';
    last.dataset.role = 'last';
    d.append(last);
    const meta = [];
    meta.push(
      `今日 ${t.today.total} 条${t.today.bad ? `，差评 ${t.today.bad}` : ''}${t.today.misuse ? `，异常不计入 ${t.today.misuse}` : ''}`,
    );
    if (t.backlog) meta.push(`待上传 ${t.backlog}`);
    if (t.mode && t.online && !t.paused) meta.push(MODE[t.mode] || t.mode);
    if (t.statusAt && !t.online) meta.push(`最后在线 ${ago(t.statusAt)}`);
    if (t.clockSynced === false) meta.push('时钟未同步');
    // Fleet updates: the release it runs, and an update under way or one that did not take.
    if (t.firmware) meta.push(`版本 ${t.firmware.split('/').pop()}`);
    if (t.update && t.update.state !== 'active') meta.push(`更新 ${t.update.version}：${UPDATE[t.update.state] || t.update.state}`);
    d.append(el('div', 'meta', meta.join(' · ')));
    if (t.faults && t.faults.length) d.append(el('div', 'faults', `故障：${t.faults.join('、')}`));
    // The window's printable QR board (hub/citizen/board.ts), A5 PDF.
    const board = el('a', 'board', '打印二维码牌');
    board.href = `/boards/${encodeURIComponent(t.window)}.pdf`;
    board.dataset.role = 'board';
    d.append(board);
    return d;
  }

  function renderTiles() {
    const box = document.getElementById('tiles');
    const sorted = [...tiles.values()].sort((a, b) => a.window.localeCompare(b.window, 'zh-CN', { numeric: true }));
    box.replaceChildren(...sorted.map(renderTile));
  }

  function updateTile(t, flash) {
    tiles.set(t.id, t);
    const old = document.getElementById(`tile-${t.id}`);
    const fresh = renderTile(t);
    if (flash) fresh.classList.add('flash');
    if (old) old.replaceWith(fresh);
    else renderTiles();
  }

  function renderKpis() {
    const s = summary;
    const k = (value, label, cls, id) => {
      const d = el('div', `kpi ${cls || ''}`);
      const b = el('b', '', String(value));
      b.id = id;
      d.append(b, el('span', '', label));
      return d;
    };
    const sat = s.today.satisfaction === null ? '—' : `${(s.today.satisfaction * 100).toFixed(1)}%`;
    document
      .getElementById('kpis')
      .replaceChildren(
        k(`${s.online}/${s.devices}`, '设备在线', s.offline ? 'bad' : 'good', 'k-online'),
        k(s.paused, '暂停', '', 'k-paused'),
        k(s.today.total, '今日评价', '', 'k-today'),
        k(sat, '今日满意率', '', 'k-sat'),
        k(s.today.bad, '今日差评', s.today.bad ? 'bad' : '', 'k-bad'),
        k(s.orders.open, '未办结工单', '', 'k-open'),
        k(s.orders.overdue, '超期工单', s.orders.overdue ? 'bad' : '', 'k-overdue'),
      );
    const bar = document.getElementById('alert-bar');
    const open = alerts.filter((a) => !a.ackedAt);
    if (open.length) {
      bar.hidden = false;
      // 差评 clusters say how many; misuse alerts carry their own words.
      bar.replaceChildren(
        el('span', '', `⚠ 预警：${open.map((a) => `${a.window} 号窗口 ${a.detail || `${a.minutes} 分钟内差评 ${a.bad} 条`}`).join('；')} `),
      );
      const a = el('a', '', '查看');
      a.href = '/alerts';
      bar.append(a);
    } else bar.hidden = true;
  }

  function addFeed(r, isNew) {
    if (document.querySelector(`#feed li[data-rating="${CSS.escape(r.id)}"]`)) return; // already shown
    const li = el('li', isNew ? 'new' : '');
    li.dataset.rating = r.id;
    li.append(el('span', '', `${r.window} 号窗口`));
    li.append(el('span', `lvl l${r.level}`, LEVELS[r.level]));
    li.append(el('span', 'meta', hhmm(r.at)));
    // Flags stay visible: a press kept but not counted is struck through and marked.
    const marks = el('span', 'flags');
    if (r.excluded === 'misuse') {
      li.classList.add('misuse');
      marks.append(el('span', 'badge grey', '不计入'));
    }
    for (const f of r.flags ? r.flags.split(',') : []) {
      const b = el('span', 'badge amber flag', FLAGS[f] || f);
      b.dataset.flag = f;
      marks.append(b);
    }
    if (marks.childElementCount) li.append(marks);
    // What the citizen wrote on the QR page: set as text, never as HTML.
    if (r.citizen_text) li.append(el('q', 'citizen-text', r.citizen_text));
    const ol = document.getElementById('feed');
    ol.prepend(li);
    while (ol.children.length > 50) ol.lastChild.remove();
  }

  function tickClock() {
    document.getElementById('clock').textContent = new Date(now()).toLocaleTimeString('zh-CN', {
      timeZone: 'Asia/Shanghai',
      hour12: false,
    });
  }

  renderTiles();
  renderKpis();
  [...data.recent].reverse().forEach((r) => addFeed(r, false));
  tickClock();
  setInterval(tickClock, 1000);

  const conn = document.getElementById('conn');
  const es = new EventSource('/api/hall/events');
  es.onopen = () => {
    conn.textContent = '实时连接正常';
    document.body.dataset.live = 'open';
    catchUp();
  };
  // What happened between the page being drawn (or the stream dropping) and the stream opening
  // is not in the stream: fetch the current state once it is open, so nothing is missed.
  function catchUp() {
    fetch('/api/hall/wall', { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : null))
      .then((now) => {
        if (!now) return;
        for (const t of now.tiles) updateTile(t, false);
        summary = now.summary;
        renderKpis();
        [...now.recent].reverse().forEach((r) => addFeed(r, false));
      })
      .catch(() => {});
  }
  es.onerror = () => {
    conn.textContent = '实时连接中断，正在重连…';
    document.body.dataset.live = 'error';
  };
  es.addEventListener('tile', (e) => updateTile(JSON.parse(e.data), false));
  es.addEventListener('summary', (e) => {
    summary = JSON.parse(e.data);
    renderKpis();
  });
  es.addEventListener('rating', (e) => {
    const r = JSON.parse(e.data);
    addFeed(r, true);
    for (const t of tiles.values())
      if (t.window === r.window) {
        t.lastRating = { level: r.level, at: r.at };
        updateTile(t, true);
      }
  });
  es.addEventListener('citizen-text', (e) => {
    const c = JSON.parse(e.data);
    const li = [...document.querySelectorAll('#feed li')].find((x) => x.dataset.rating === c.id);
    if (!li) return;
    li.querySelector('.citizen-text')?.remove();
    li.append(el('q', 'citizen-text', c.text));
  });
  es.addEventListener('alert', (e) => {
    alerts = [JSON.parse(e.data), ...alerts];
    renderKpis();
  });
  es.addEventListener('logout', () => {
    es.close();
    location.href = '/login?next=/wall';
  });
  // Ages ("最后在线 3分钟前") move on even when nothing happens.
  setInterval(renderTiles, 30_000);
})();
