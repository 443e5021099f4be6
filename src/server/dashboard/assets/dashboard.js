// kvshare dashboard: polls /dashboard/api/stats (the server's once-a-second samples since the last poll) and
// /dashboard/api/requests, draws small SVG charts and the sharing view of one request. No libraries, no network
// beyond this server.
// URL fragment options: #key=<API key>&req=<request id>&focus=sharing&poll=<ms>
(() => {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  const opts = new URLSearchParams(location.hash.slice(1));
  const key = opts.get('key') || '';
  const pollMs = Math.max(250, Number(opts.get('poll')) || 1000);
  const HISTORY = 300;  // stats samples kept (the server samples once a second and keeps 5 minutes)
  const CLASSES = ['reused', 'moved', 'inserted', 'deleted', 'recomputed', 'computed'];
  const CLASS_TEXT = {
    reused: 'reused in place', moved: 'reused and moved (shift)', inserted: 'inserted (computed)',
    deleted: 'deleted from the donor', recomputed: 'recomputed (deviation / edit-aware selection)',
    computed: 'computed (no cache)',
  };
  const MODE_COLOR = {full: '#8c959f', prefix: '#2e7d32', semantic: '#1565c0'};
  let selected = opts.get('req') || '';
  let userSelected = !!selected;
  const stats = [];
  let requests = [];

  if (opts.get('focus') === 'sharing') document.body.classList.add('focus-sharing');

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) e.append(k);
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  async function api(path) {
    const r = await fetch(path, {headers: key ? {Authorization: 'Bearer ' + key} : {}, cache: 'no-store'});
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try { msg = (await r.json()).error.message; } catch (e) { /* not JSON */ }
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return r.json();
  }
  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '-';
    const a = Math.abs(v);
    if (a >= 1000) return v.toFixed(0);
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }

  // A line chart: series = [{name, color, points: [[x, y], ...], dots}], x in ms since epoch.
  function drawChart(host, name, series, yFixedMax) {
    const W = 320, H = 170, L = 38, R = 8, T = 8, B = 20;
    const all = series.flatMap(s => s.points);
    const svg = svgEl('svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none',
                              'data-chart': name, 'data-points': String(all.length)});
    let x0 = Math.min(...all.map(p => p[0])), x1 = Math.max(...all.map(p => p[0]));
    if (!all.length) { x0 = Date.now() - 60000; x1 = Date.now(); }
    if (x1 - x0 < 10000) x0 = x1 - 10000;
    let yMax = yFixedMax || Math.max(1, ...all.map(p => p[1]));
    if (!yFixedMax) yMax *= 1.15;
    const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R);
    const sy = y => T + (1 - y / yMax) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const y = yMax * i / 4;
      svg.append(svgEl('line', {class: 'grid', x1: L, x2: W - R, y1: sy(y), y2: sy(y)}));
      const t = svgEl('text', {class: 'axis', x: L - 4, y: sy(y) + 3, 'text-anchor': 'end'});
      t.textContent = fmt(y);
      svg.append(t);
    }
    const span = svgEl('text', {class: 'axis', x: W - R, y: H - 5, 'text-anchor': 'end'});
    span.textContent = `last ${Math.round((x1 - x0) / 1000)} s`;
    svg.append(span);
    for (const s of series) {
      if (!s.points.length) continue;
      if (!s.dots) {
        const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
        svg.append(svgEl('path', {class: 'series', d, stroke: s.color, 'data-series': s.name,
                                  'data-points': String(s.points.length),
                                  'data-max': String(Math.max(...s.points.map(p => p[1])))}));
      }
      const g = svgEl('g', {'data-series': s.name, 'data-points': String(s.points.length)});
      for (const p of (s.dots ? s.points : s.points.slice(-1)))
        g.append(svgEl('circle', {class: 'dot', cx: sx(p[0]), cy: sy(p[1]), r: s.dots ? 4 : 2.5, fill: s.color}));
      svg.append(g);
    }
    const legend = el('div', {class: 'legend'});
    for (const s of series) {
      const i = el('i');
      i.style.background = s.color;
      const last = s.points.length ? s.points[s.points.length - 1][1] : null;
      legend.append(el('span', {}, i, `${s.name} ${fmt(last)}`));
    }
    host.replaceChildren(svg, legend);
  }

  function rate(num, den) { return den > 0 ? 100 * num / den : 0; }

  function drawCharts() {
    const thr = {gen: [], prompt: []}, rates = {ph: [], sh: [], pr: [], sr: []}, kv = {used: [], cached: []};
    for (let i = 0; i < stats.length; i++) {
      const s = stats[i], t = s.unix_ms;
      if (i > 0) {
        const p = stats[i - 1], dt = (s.unix_ms - p.unix_ms) / 1000;
        if (dt > 0) {
          thr.gen.push([t, (s.generation_tokens - p.generation_tokens) / dt]);
          thr.prompt.push([t, (s.prompt_tokens - p.prompt_tokens) / dt]);
        }
      }
      rates.ph.push([t, rate(s.prefix_hits, s.prefix_queries)]);
      rates.sh.push([t, rate(s.semantic_hits, s.semantic_queries)]);
      rates.pr.push([t, rate(s.prefix_cached_tokens, s.prompt_tokens)]);
      rates.sr.push([t, rate(s.semantic_reused_tokens, s.prompt_tokens)]);
      kv.used.push([t, rate(s.kv_blocks_total - s.kv_blocks_free, s.kv_blocks_total)]);
      kv.cached.push([t, rate(s.kv_blocks_cached, s.kv_blocks_total)]);
    }
    drawChart(document.getElementById('chart-throughput'), 'throughput', [
      {name: 'generated', color: '#1565c0', points: thr.gen},
      {name: 'prompt', color: '#e65100', points: thr.prompt}]);
    const byMode = {full: [], prefix: [], semantic: []};
    for (const r of requests)
      if (r.ttft_ms > 0 && byMode[r.mode]) byMode[r.mode].push([r.finished_unix_ms, r.ttft_ms]);
    drawChart(document.getElementById('chart-ttft'), 'ttft', Object.entries(byMode).map(([m, pts]) => (
      {name: m, color: MODE_COLOR[m], points: pts.sort((a, b) => a[0] - b[0]), dots: true})));
    drawChart(document.getElementById('chart-rates'), 'rates', [
      {name: 'prefix hit', color: '#2e7d32', points: rates.ph},
      {name: 'semantic hit', color: '#1565c0', points: rates.sh},
      {name: 'prefix reuse', color: '#81c784', points: rates.pr},
      {name: 'semantic reuse', color: '#64b5f6', points: rates.sr}], 100);
    drawChart(document.getElementById('chart-kv'), 'kv', [
      {name: 'in use', color: '#6a1b9a', points: kv.used},
      {name: 'cached (reusable)', color: '#2e7d32', points: kv.cached}], 100);
  }

  function drawTable() {
    const showTenant = requests.some(r => 'tenant' in r);
    const cols = ['time', 'request', ...(showTenant ? ['tenant'] : []), 'mode', 'prompt', 'reused', 'recomputed',
                  'edit script', 'TTFT ms', 'out'];
    const table = document.getElementById('requests');
    table.tHead.replaceChildren(el('tr', {}, ...cols.map(c => el('th', {}, c))));
    const rows = requests.map(r => {
      const mode = el('span', {class: 'mode mode-' + r.mode}, r.mode + (r.fell_back ? ' (fell back)' : ''));
      const cells = [
        el('td', {}, new Date(r.finished_unix_ms).toLocaleTimeString()),
        el('td', {class: 'script'}, r.id),
        ...(showTenant ? [el('td', {}, r.tenant)] : []),
        el('td', {}, mode),
        el('td', {class: 'num'}, String(r.prompt_tokens)),
        el('td', {class: 'num'}, String(r.reused_tokens)),
        el('td', {class: 'num'}, String(r.recomputed_tokens)),
        el('td', {class: 'script', title: r.edit_script}, r.edit_script || '-'),
        el('td', {class: 'num'}, fmt(r.ttft_ms)),
        el('td', {class: 'num'}, String(r.completion_tokens))];
      const tr = el('tr', {'data-id': r.id, class: r.id === selected ? 'selected' : ''}, ...cells);
      tr.addEventListener('click', () => { selected = r.id; userSelected = true; drawTable(); loadSharing(); });
      return tr;
    });
    table.tBodies[0].replaceChildren(...rows);
  }

  function tokenSpan(t, side, i) {
    const text = t.piece === undefined ? '\u2022' : t.piece.replace(/\n/g, '\u21b5\n');
    const s = el('span', {class: `tok c-${t.cls}` + (t.piece === undefined ? ' redacted' : ''), 'data-side': side,
                          'data-i': String(i)});
    const where = side === 'prompt' ? (t.src !== undefined ? `from donor token ${t.src}` : '')
                                    : (t.dst !== undefined ? `to prompt token ${t.dst}` : '');
    s.title = `${side} token ${i}: ${CLASS_TEXT[t.cls]}` + (where ? `, ${where}` : '') +
              (t.shift ? `, shift ${t.shift > 0 ? '+' : ''}${t.shift}` : '');
    if (t.src !== undefined) s.dataset.peer = String(t.src);
    if (t.dst !== undefined) s.dataset.peer = String(t.dst);
    s.textContent = text;
    return s;
  }

  // Tokens of one side; the first token of every moved run carries its shift.
  function tokenList(tokens, side) {
    const box = el('div', {class: 'tokens', 'data-side': side});
    let prevShift = null;
    tokens.forEach((t, i) => {
      const moved = t.cls !== 'inserted' && t.cls !== 'deleted' && t.shift !== undefined && t.shift !== 0;
      if (moved && t.shift !== prevShift) {
        const sup = el('sup', {class: 'shift'}, `${t.shift > 0 ? '+' : ''}${t.shift}`);
        box.append(sup);
      }
      prevShift = t.shift === undefined ? null : t.shift;
      box.append(tokenSpan(t, side, i));
    });
    return box;
  }

  function classBar(counts, total) {
    const bar = el('div', {class: 'bars'});
    for (const c of CLASSES) {
      if (!counts[c]) continue;
      const s = el('span', {class: 'c-' + c, title: `${counts[c]} ${CLASS_TEXT[c]}`});
      s.style.width = (100 * counts[c] / Math.max(1, total)) + '%';
      bar.append(s);
    }
    return bar;
  }

  function drawSharing(v) {
    const host = document.getElementById('sharing');
    document.getElementById('sharing-title').textContent = v.id;
    host.dataset.request = v.id;
    host.dataset.mode = v.mode;
    const item = (k, val) => el('span', {}, el('b', {}, k + ': '), String(val));
    const summary = el('div', {class: 'summary'},
      item('mode', v.mode + (v.fell_back ? ' (quality guard fell back)' : '')),
      ...('tenant' in v ? [item('tenant', v.tenant)] : []),
      item('reused', `${v.reused_tokens} / ${v.prompt_tokens} tokens`),
      item('recomputed', v.recomputed_tokens),
      item('TTFT', fmt(v.ttft_ms) + ' ms'),
      ...(v.donor_id >= 0 ? [item('donor', `#${v.donor_id}` + (v.donor_request_id ? ` (${v.donor_request_id})` : '')),
                             item('similarity', fmt(v.similarity))] : []),
      ...(v.deviation ? [item('deviation', `${v.deviation}, median ${fmt(v.deviation_median)}`)] : []),
      ...(v.donation_limit ? [item('donation limit', `${v.donation_limit} (${v.shareable_tokens} shareable)`)] : []));
    const script = el('div', {class: 'summary'}, el('span', {class: 'mono'}, el('b', {}, 'edit script: '),
                                                    v.edit_script || '(none)'));
    const legend = el('div', {class: 'legend'});
    for (const c of CLASSES) legend.append(el('span', {}, el('i', {class: 'c-' + c}),
      `${CLASS_TEXT[c]} ${v.counts.prompt[c] || 0}` + (c === 'deleted' ? ` (donor ${v.counts.donor.deleted || 0})` : '')));
    const donorPane = el('div', {class: 'pane'}, el('h3', {}, v.donor.length
        ? `donor prompt (${v.donor.length} tokens)` + (v.donor_text_shown ? '' : ', text hidden: not your request')
        : 'no donor: ' + (v.mode === 'prefix' ? 'exact prefix from the prefix cache' : 'computed from scratch')),
      ...(v.donor.length ? [classBar(v.counts.donor, v.donor.length), tokenList(v.donor, 'donor')] : []));
    const promptPane = el('div', {class: 'pane'}, el('h3', {}, `this prompt (${v.prompt.length} tokens)`),
      classBar(v.counts.prompt, v.prompt.length), tokenList(v.prompt, 'prompt'));
    const panes = el('div', {class: 'panes'}, donorPane, promptPane);
    panes.addEventListener('mouseover', e => {
      const t = e.target.closest('.tok');
      host.querySelectorAll('.tok.hl').forEach(x => x.classList.remove('hl'));
      if (!t || t.dataset.peer === undefined) return;
      t.classList.add('hl');
      const other = t.dataset.side === 'prompt' ? 'donor' : 'prompt';
      const peer = host.querySelector(`.tok[data-side="${other}"][data-i="${t.dataset.peer}"]`);
      if (peer) peer.classList.add('hl');
    });
    host.replaceChildren(summary, script, legend, panes);
  }

  async function loadSharing() {
    if (!selected) return;
    try {
      drawSharing(await api('/dashboard/api/requests/' + encodeURIComponent(selected)));
    } catch (e) {
      document.getElementById('sharing').replaceChildren(el('p', {class: 'hint'}, `${selected}: ${e.message}`));
    }
  }

  function setStatus(text, error) {
    const s = document.getElementById('status');
    s.textContent = text;
    s.classList.toggle('error', !!error);
  }

  async function poll() {
    const problems = [];
    let now = null;
    try {
      const since = stats.length ? stats[stats.length - 1].unix_ms : 0;
      const r = await api('/dashboard/api/stats?since=' + since);
      now = r.now;
      stats.push(...r.samples);
      if (stats.length > HISTORY) stats.splice(0, stats.length - HISTORY);
    } catch (e) { problems.push('stats: ' + e.message); }
    try {
      requests = (await api('/dashboard/api/requests?limit=100')).data;
    } catch (e) { problems.push('requests: ' + e.message); }
    drawCharts();
    drawTable();
    if (!userSelected) {  // follow the newest semantic request (else the newest one)
      const pick = requests.find(r => r.mode === 'semantic') || requests[0];
      if (pick && pick.id !== selected) { selected = pick.id; drawTable(); await loadSharing(); }
    } else if (!document.getElementById('sharing').dataset.request) {
      await loadSharing();
    }
    setStatus(problems.length ? problems.join('; ') + (key ? '' : ' (open with #key=<operator key>)')
                              : `live: ${now.running} running, ${now.waiting} waiting, ${now.donors} donors, ` +
                                `${requests.length} recent requests, updated ${new Date().toLocaleTimeString()}`,
              problems.length > 0);
    setTimeout(poll, pollMs);
  }

  poll();
})();
