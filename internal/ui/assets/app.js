// The dashboard: plain JavaScript over the documented JSON endpoints
// (/admin/session, /admin/stats, /admin/requests, /admin/providers,
// /admin/keys, /admin/budgets). Every view makes a fixed, small number of
// requests when opened; the views that refresh do so with one timer,
// never less than MIN_REFRESH_MS apart and never while a load runs.
'use strict';
(() => {
  const MIN_REFRESH_MS = 30000;
  const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4d7c0f', '#be185d'];
  const state = { session: null, view: null, timer: null, loading: false, cursor: '', filter: '', charts: {} };
  const $ = (id) => document.getElementById(id);

  async function api(path, opts = {}) {
    const headers = Object.assign({}, opts.headers || {});
    let body;
    if (opts.method && opts.method !== 'GET' && state.session) headers['X-CSRF-Token'] = state.session.csrf_token;
    if (opts.json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(opts.json); }
    const resp = await fetch(path, { method: opts.method || 'GET', headers, body, credentials: 'same-origin', cache: 'no-store' });
    if (opts.raw && resp.ok) return resp;
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const err = new Error((data.error && data.error.message) || data.detail || resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function showError(err) {
    $('error').textContent = err ? String(err.message || err) : '';
    if (err && err.status === 401) showLogin();
  }

  // el builds an element; children are nodes or text (never HTML).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === undefined || c === null ? '' : String(c)));
    return e;
  }

  function table(id, head, rows, onClick) {
    const t = $(id);
    t.replaceChildren(el('tr', null, ...head.map((h) => el('th', null, h))));
    for (const r of rows) {
      const tr = el('tr', onClick ? { class: 'clickable' } : null, ...r.cells.map((c) => (c instanceof Node ? el('td', null, c) : el('td', null, c))));
      if (onClick) tr.addEventListener('click', () => onClick(r));
      t.append(tr);
    }
    if (rows.length === 0) t.append(el('tr', null, el('td', { colspan: head.length }, 'no data')));
  }

  const usd = (v) => '$' + Number(v || 0).toFixed(v >= 1 ? 2 : 6);
  const pct = (v) => (100 * (v || 0)).toFixed(1) + ' %';
  const ms = (v) => (v === undefined ? '' : Math.round(v) + ' ms');

  function pointTime(label, win) {
    if (win === 'hour') return Date.parse(label) / 1000;
    if (win === 'day') return Date.parse(label + 'T00:00:00Z') / 1000;
    return Date.parse(label + '-01T00:00:00Z') / 1000;
  }

  // chart draws series over the points of a stats answer with uPlot.
  function chart(id, st, series, fmt) {
    const host = $(id);
    if (state.charts[id]) state.charts[id].destroy();
    host.replaceChildren();
    const xs = st.series.map((p) => pointTime(p.time, st.window));
    const data = [xs, ...series.map((s) => st.series.map(s.value))];
    const opts = {
      width: Math.max(host.clientWidth, 420), height: 220,
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, points: { show: xs.length < 60 } }))],
      axes: [{}, { size: 70, values: fmt ? (u, vals) => vals.map(fmt) : undefined }],
      scales: { x: { time: true } },
    };
    state.charts[id] = new uPlot(opts, data, host);
    host.dataset.points = String(xs.length);
  }

  function windowOf(view) { return document.querySelector('#view-' + view + ' select.window').value; }

  const views = {
    async overview() {
      const w = windowOf('overview');
      const q = '/admin/stats?window=' + w;
      const [st, users, keys, models] = await Promise.all([
        api(q), api(q + '&group_by=user&limit=5'), api(q + '&group_by=key&limit=5'), api(q + '&group_by=model&limit=5'),
      ]);
      const t = st.total;
      $('ov-tiles').replaceChildren(...[
        ['Requests', t.requests], ['Cost', usd(t.cost_usd)], ['Input tokens', t.input_tokens], ['Output tokens', t.output_tokens],
        ['Thinking tokens', t.thinking_tokens], ['Cached tokens', t.cached_input_tokens], ['Error rate', pct(t.error_rate)],
        ['Fallback rate', pct(t.fallback_rate)], ['Cache-hit rate', pct(t.cache_hit_rate)],
      ].map(([k, v]) => el('div', { class: 'tile' }, k, el('b', null, v))));
      chart('ch-requests', st, [{ label: 'requests', value: (p) => p.requests }, { label: 'errors', value: (p) => p.errors }]);
      chart('ch-tokens', st, [
        { label: 'input', value: (p) => p.input_tokens }, { label: 'output', value: (p) => p.output_tokens },
        { label: 'thinking', value: (p) => p.thinking_tokens }, { label: 'cached', value: (p) => p.cached_input_tokens },
      ]);
      chart('ch-cost', st, [{ label: 'USD', value: (p) => p.cost_usd }], (v) => Number(v).toPrecision(2));
      chart('ch-errors', st, [{ label: 'error rate', value: (p) => p.error_rate }, { label: 'fallback rate', value: (p) => p.fallback_rate }]);
      for (const [id, ans] of [['top-user', users], ['top-key', keys], ['top-model', models]]) {
        table(id, ['', 'requests', 'cost', 'errors'], ans.groups.map((g) => ({ cells: [g.group || '(none)', g.requests, usd(g.cost_usd), pct(g.error_rate)] })));
      }
    },

    async latency() {
      const w = windowOf('latency');
      const q = '/admin/stats?latency=1&window=' + w;
      const wants = [api(q), api(q + '&group_by=model&limit=20')];
      if (state.session.admin) wants.push(api('/admin/providers'));
      const [st, models, prov] = await Promise.all(wants);
      chart('ch-latency', st, [{ label: 'p50', value: (p) => p.latency.p50_ms }, { label: 'p99', value: (p) => p.latency.p99_ms }]);
      chart('ch-ttft', st, [{ label: 'p50', value: (p) => p.ttft.p50_ms }, { label: 'p99', value: (p) => p.ttft.p99_ms }]);
      table('lat-table', ['provider/model', 'requests', 'p50', 'p90', 'p99', 'TTFT p50', 'TTFT p99'],
        models.groups.map((g) => ({ cells: [g.group, g.requests, ms(g.latency.p50_ms), ms(g.latency.p90_ms), ms(g.latency.p99_ms), ms(g.ttft.p50_ms), ms(g.ttft.p99_ms)] })));
      if (prov) {
        const o = prov.overhead;
        $('overhead').textContent = o.count + ' calls since start: p50 ' + o.p50_ms.toFixed(3) + ' ms, p99 ' + o.p99_ms.toFixed(3) + ' ms (time the service adds: total minus upstream)';
      }
    },

    async requests(more) {
      const f = new FormData($('req-filter'));
      const params = new URLSearchParams();
      for (const k of ['user', 'key', 'model', 'status']) if (f.get(k)) params.set(k, f.get(k));
      for (const k of ['from', 'to']) if (f.get(k)) params.set(k, new Date(f.get(k)).toISOString().replace(/\.\d+Z$/, 'Z'));
      params.set('limit', '50');
      if (more && state.cursor) params.set('cursor', state.cursor);
      const page = await api('/admin/requests?' + params);
      state.cursor = page.next || '';
      $('req-more').hidden = !state.cursor;
      const rows = page.rows.map((r) => ({ id: r.id, cells: [r.time, r.user, r.key_id, r.provider + '/' + r.model, el('span', { class: r.status === 'ok' ? 'status-ok' : 'status-unavailable' }, r.status), r.input_tokens + ' / ' + r.output_tokens, usd(r.cost_usd), ms(r.latency_ms)] }));
      const head = ['time', 'user', 'key', 'model', 'status', 'tokens in/out', 'cost', 'latency'];
      if (more) {
        const t = $('req-table');
        for (const r of rows) {
          const tr = el('tr', { class: 'clickable' }, ...r.cells.map((c) => el('td', null, c)));
          tr.addEventListener('click', () => detail(r.id));
          t.append(tr);
        }
      } else {
        table('req-table', head, rows, (r) => detail(r.id));
      }
    },

    async providers() {
      const p = await api('/admin/providers');
      $('prov-status').replaceChildren('Service: ', el('span', { class: 'status-' + (p.status === 'healthy' ? 'ok' : p.status === 'degraded' ? 'degraded' : 'unavailable') }, p.status));
      table('prov-targets', ['target', 'state', 'consecutive failures', 'last error', 'open until'],
        p.targets.map((t) => ({ cells: [t.name, el('span', { class: 'state-' + t.state }, t.state), t.consecutive_failures, t.last_error || '', t.open_until || ''] })));
      table('prov-components', ['component', 'status', 'detail'], Object.entries(p.components || {}).map(([name, c]) => ({
        cells: [name, el('span', { class: 'status-' + (c.status || 'ok') }, c.status || (c.reachable === false ? 'unreachable' : 'ok')), c.reason || (c.backlog !== undefined ? 'backlog ' + c.backlog + ', shipped ' + c.shipped + ', dropped ' + c.dropped : '')],
      })));
      table('prov-state', ['part', 'state'], [
        { cells: ['ledger', 'queued ' + p.ledger.queued + ', written ' + p.ledger.written + ', dropped ' + p.ledger.dropped + ', write errors ' + p.ledger.write_errors] },
        { cells: ['cache', p.cache.enabled ? p.cache.backend + (p.cache.degraded ? ' (degraded)' : '') : 'off'] },
        { cells: ['rate limits', 'rpm ' + (p.limits.rpm || 'unlimited') + ', tpm ' + (p.limits.tpm || 'unlimited') + ' per ' + (p.limits.key || 'user') + ' on ' + p.limits.backend + (p.limits.degraded ? ' (degraded)' : '')] },
      ]);
    },

    async keys() {
      const [keys, budgets] = await Promise.all([api('/admin/keys'), api('/admin/budgets')]);
      table('key-table', ['id', 'prefix', 'user', 'team', 'name', 'models', 'rpm', 'tpm', 'daily', 'monthly', 'state', ''],
        keys.keys.map((k) => ({
          cells: [k.id, k.prefix, k.user, k.team || '', k.name || '', (k.models || []).join(', '), k.rpm || '', k.tpm || '',
            k.daily_usd ? usd(k.daily_usd) : '', k.monthly_usd ? usd(k.monthly_usd) : '', k.revoked ? 'revoked' : 'active',
            k.revoked ? '' : el('button', { class: 'revoke', 'data-id': k.id, onclick: () => revoke(k.id) }, 'Revoke')],
        })));
      const rows = [];
      for (const kb of budgets.keys) for (const b of kb.budgets) rows.push({ cells: [kb.key.id, kb.key.user, b.period, usd(b.limit_usd), usd(b.spent_usd), usd(b.reserved_usd), usd(b.remaining_usd), b.resets_at] });
      table('budget-table', ['key', 'user', 'period', 'limit', 'spent', 'reserved', 'remaining', 'resets'], rows);
    },
  };

  async function detail(id) {
    try {
      const d = await api('/admin/requests/' + encodeURIComponent(id));
      $('req-detail').hidden = false;
      $('req-detail').textContent = JSON.stringify(d, null, 2);
    } catch (err) { showError(err); }
  }

  async function revoke(id) {
    if (!window.confirm('Revoke key ' + id + '?')) return;
    try { await api('/admin/keys/' + encodeURIComponent(id), { method: 'DELETE' }); await load(); } catch (err) { showError(err); }
  }

  async function download(path, name) {
    try {
      const resp = await api(path, { headers: { Accept: 'text/csv' }, raw: true });
      const url = URL.createObjectURL(await resp.blob());
      el('a', { href: url, download: name }).click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) { showError(err); }
  }

  const refreshing = { overview: true, latency: true, providers: true };

  // load runs the current view once; a view that refreshes schedules its
  // one next run only after this one ended.
  async function load(more) {
    if (state.loading) return;
    state.loading = true;
    clearTimeout(state.timer);
    const view = state.view;
    try { await views[view](more); showError(null); } catch (err) { showError(err); } finally { state.loading = false; }
    if (refreshing[view] && state.view === view) state.timer = setTimeout(() => load(), MIN_REFRESH_MS);
  }

  function route() {
    if (!state.session) return;
    let view = (location.hash || '#overview').slice(1);
    if (!views[view] || (!state.session.admin && ['providers', 'keys'].includes(view))) view = 'overview';
    clearTimeout(state.timer);
    state.view = view;
    state.cursor = '';
    for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + view;
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === view);
    document.body.dataset.view = view;
    load();
  }

  function showLogin() {
    state.session = null;
    clearTimeout(state.timer);
    $('login').hidden = false;
    $('nav').hidden = $('logout').hidden = true;
    $('who').textContent = '';
    for (const s of document.querySelectorAll('.view')) s.hidden = true;
  }

  function loggedIn(s) {
    state.session = s;
    $('login').hidden = true;
    $('nav').hidden = $('logout').hidden = false;
    for (const a of document.querySelectorAll('#nav a[data-admin]')) a.hidden = !s.admin;
    $('who').textContent = s.admin ? 'admin' : 'user ' + s.user;
    route();
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const s = await api('/admin/session', { method: 'POST', json: { key: $('login-key').value } });
      $('login-key').value = '';
      $('login-error').textContent = '';
      loggedIn(s);
    } catch (err) { $('login-error').textContent = err.message; }
  });
  $('logout').addEventListener('click', async () => { await api('/admin/session', { method: 'DELETE' }).catch(() => {}); showLogin(); });
  $('req-filter').addEventListener('submit', (ev) => { ev.preventDefault(); state.cursor = ''; load(); });
  $('req-more').addEventListener('click', () => load(true));
  for (const s of document.querySelectorAll('select.window')) s.addEventListener('change', () => load());
  $('keys-csv').addEventListener('click', () => download('/admin/keys', 'keys.csv'));
  $('usage-csv').addEventListener('click', () => download('/admin/usage?group_by=day,user,model', 'usage.csv'));
  $('key-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const spec = { user: f.get('user') };
    for (const k of ['team', 'name']) if (f.get(k)) spec[k] = f.get(k);
    const models = String(f.get('models') || '').split(',').map((m) => m.trim()).filter(Boolean);
    if (models.length) spec.models = models;
    for (const k of ['rpm', 'tpm']) if (f.get(k)) spec[k] = parseInt(f.get(k), 10);
    for (const k of ['daily_usd', 'monthly_usd']) if (f.get(k)) spec[k] = parseFloat(f.get(k));
    try {
      const k = await api('/admin/keys', { method: 'POST', json: spec });
      $('key-created').hidden = false;
      $('key-created').replaceChildren('New key for ' + k.user + ' (shown once, store it now): ', el('code', { id: 'new-key' }, k.key));
      ev.target.reset();
      await load();
    } catch (err) { showError(err); }
  });
  window.addEventListener('hashchange', route);

  api('/admin/session').then(loggedIn, showLogin);
})();
