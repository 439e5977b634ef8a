// The console of `riptide serve` (GET /): polls the server's JSON routes and draws them.
//
// Safety: everything a page or the server says is put into the DOM as text (textContent,
// createTextNode) or as attributes checked first (http/https links, base64 images); nothing
// here ever assigns HTML. The Markdown view is built by the small renderer below, element by
// element. The page's Content-Security-Policy allows no inline script besides.
'use strict';

(() => {
  const POLL_MS = 3000;
  const TOKEN_KEY = 'riptide-token';
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (selector) => document.querySelector(selector);

  let token = sessionStorage.getItem(TOKEN_KEY);
  let needToken = false;

  // ---- DOM helpers: text only -------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      node.setAttribute(name, String(value));
    }
    return node;
  }

  function text(value) {
    if (value === null || value === undefined || value === '') return '–';
    if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(1);
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }

  function ms(value) {
    return value === null || value === undefined ? '–' : `${Number(value).toFixed(1)} ms`;
  }

  function percent(value) {
    return value === null || value === undefined ? '–' : `${(value * 100).toFixed(0)} %`;
  }

  function fillList(dl, rows) {
    dl.replaceChildren(...rows.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, text(value))]));
  }

  /** An `<a>` for an http(s) URL (resolved against `base`), else the URL as plain text. */
  function safeLink(url, base, label) {
    let parsed = null;
    try {
      parsed = new URL(url, base || undefined);
    } catch (_) {
      parsed = null;
    }
    const shown = label === undefined ? String(url) : label;
    if (parsed && (parsed.protocol === 'http:' || parsed.protocol === 'https:')) {
      const a = el('a', { rel: 'noopener noreferrer nofollow', target: '_blank' });
      a.href = parsed.href;
      if (typeof shown === 'string') a.append(document.createTextNode(shown));
      return a;
    }
    const span = el('span', { class: 'unlinked', title: 'not an http(s) link' });
    if (typeof shown === 'string') span.append(document.createTextNode(shown));
    return span;
  }

  // ---- The server -------------------------------------------------------------------------

  class NeedToken extends Error {}

  async function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    if (token) headers.set('Authorization', `Bearer ${token}`);
    if (options.body !== undefined) headers.set('Content-Type', 'application/json');
    const response = await fetch(path, { ...options, headers, cache: 'no-store' });
    if (response.status === 401) {
      askForToken();
      throw new NeedToken('a bearer token is required');
    }
    return response;
  }

  async function getJson(path) {
    const response = await api(path);
    const body = await response.json();
    if (!response.ok) throw new Error(`${path}: ${body.error || response.status}`);
    return body;
  }

  function notice(message) {
    const p = $('#notice');
    p.textContent = message || '';
    p.hidden = !message;
  }

  function askForToken() {
    needToken = true;
    $('#token-form').hidden = false;
    $('#token-input').focus();
  }

  $('#token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('#token-input').value;
    $('#token-input').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    needToken = false;
    $('#token-form').hidden = true;
    $('#token-forget').hidden = false;
    refresh();
  });

  $('#token-forget').hidden = !token;
  $('#token-forget').addEventListener('click', () => {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('#token-forget').hidden = true;
    refresh();
  });

  // ---- The panels -------------------------------------------------------------------------

  function showReport(report) {
    const e = report.extraction || {};
    $('#summary').textContent =
      `${e.pages || 0} pages (${e.succeeded || 0} ok, ${e.failed || 0} failed; ${e.static_pages || 0} static, ` +
      `${e.headless_pages || 0} headless), up ${Math.round(e.uptime_secs || 0)} s`;

    const pool = report.browser_pool;
    const poolList = $('#pool dl');
    if (!pool) {
      fillList(poolList, [['pool', 'off (renders launch a browser each, or none)']]);
    } else {
      const r = pool.recycled || {};
      const w = pool.checkout_wait || {};
      fillList(poolList, [
        ['provider', pool.provider],
        ['idle', pool.available],
        ['busy', pool.in_use],
        ['launching', pool.launching],
        ['maintaining', pool.maintaining],
        ['waiting', pool.waiting],
        ['launched', pool.created],
        ['launch failures', pool.launch_failures],
        ['recycled', Object.entries(r).filter(([, n]) => n > 0).map(([why, n]) => `${why} ${n}`).join(', ') || 'none'],
        ['checkout wait p50 / p95', `${ms(w.p50_ms)} / ${ms(w.p95_ms)}`],
      ]);
    }

    const cache = report.wasm_cache;
    fillList($('#cache dl'), cache ? [
      ['runtime / store', `${cache.runtime} / ${cache.store}`],
      ['hits', cache.hits],
      ['misses', cache.misses],
      ['hit rate', percent(cache.hit_rate)],
      ['compiles (mean)', `${cache.compilations} (${ms(cache.avg_compile_ms)})`],
      ['loads (mean)', `${cache.loads} (${ms(cache.avg_load_ms)})`],
      ['stored', `${cache.entries} (${(cache.bytes / 1048576).toFixed(1)} MiB)`],
    ] : [['cache', 'none']]);

    const t = report.adaptive_timeout;
    fillList($('#timeouts dl'), t ? [
      ['attempts', t.total_requests],
      ['timed out', `${t.timeouts} (${percent(t.timeout_rate)})`],
      ['wasted wait', `${text(t.wasted_wait_secs)} s`],
      ['hosts learned', t.learned_domains],
    ] : [['policy', 'keeps no statistics']]);
  }

  function showTimeouts(profiles) {
    const rows = profiles.slice(0, 50).map((p) => el('tr', {},
      el('td', {}, p.host), el('td', {}, p.engine), el('td', {}, `${text(p.timeout_secs)} s`),
      el('td', {}, p.p95_secs === null ? '–' : `${text(p.p95_secs)} s`), el('td', {}, text(p.samples)),
      el('td', {}, percent(p.success_rate))));
    $('#timeouts tbody').replaceChildren(...rows);
  }

  function showCrawls(crawls) {
    const table = $('#crawls table');
    $('#crawls .empty').hidden = crawls.length > 0;
    table.hidden = crawls.length === 0;
    const rows = crawls.map((c) => {
      const r = c.report || {};
      const rate = r.elapsed_secs > 0 ? (r.emitted / r.elapsed_secs).toFixed(1) : '–';
      const skipped = Object.entries(r.skipped || {}).map(([why, n]) => `${why} ${n}`).join(', ') || 'none';
      const cancel = el('button', { type: 'button', class: 'cancel' }, 'Cancel');
      cancel.dataset.id = String(c.id);
      cancel.addEventListener('click', async () => {
        cancel.disabled = true;
        try {
          const response = await api(`/v1/crawls/${encodeURIComponent(c.id)}`, { method: 'DELETE' });
          if (!response.ok) notice(`could not cancel crawl ${c.id}: ${response.status}`);
        } catch (error) {
          notice(String(error.message || error));
        }
        refresh();
      });
      const seeds = el('td', { class: 'seeds' });
      (c.seeds || []).forEach((seed, i) => {
        if (i > 0) seeds.append(document.createTextNode(' '));
        seeds.append(safeLink(seed));
      });
      return el('tr', {}, el('td', {}, text(c.id)), seeds, el('td', {}, text(r.emitted)),
        el('td', {}, text(r.fetched)), el('td', {}, text(r.failed)),
        el('td', {}, `${text(r.queued)} (+${text(r.in_flight)} now)`), el('td', {}, `${rate}/s`),
        el('td', {}, skipped), el('td', {}, cancel));
    });
    $('#crawls tbody').replaceChildren(...rows);
  }

  // ---- The charts: plain SVG --------------------------------------------------------------

  const W = 360, H = 120, LEFT = 34, BOTTOM = 14, TOP = 6;

  function axes(chart, max, unit, buckets) {
    chart.append(svg('line', { x1: LEFT, y1: H - BOTTOM, x2: W, y2: H - BOTTOM, class: 'axis' }));
    chart.append(svg('line', { x1: LEFT, y1: TOP, x2: LEFT, y2: H - BOTTOM, class: 'axis' }));
    const label = (x, y, words, anchor) => {
      const t = svg('text', { x, y, 'text-anchor': anchor, class: 'label' });
      t.textContent = words;
      chart.append(t);
    };
    label(LEFT - 3, TOP + 8, `${max < 10 ? max.toFixed(1) : Math.round(max)}${unit}`, 'end');
    label(LEFT - 3, H - BOTTOM, '0', 'end');
    const minutes = Math.round((buckets.length * 5) / 60);
    label(LEFT, H - 2, `-${minutes} min`, 'start');
    label(W, H - 2, 'now', 'end');
  }

  function drawActivity(activity) {
    const buckets = activity.buckets || [];
    const n = Math.max(buckets.length, 1);
    const step = (W - LEFT) / n;
    const y = (value, max) => H - BOTTOM - (value / max) * (H - BOTTOM - TOP);

    const rate = $('#rate-chart');
    rate.replaceChildren();
    const maxRate = Math.max(1, ...buckets.map((b) => b.pages_per_sec || 0));
    axes(rate, maxRate, '/s', buckets);
    let pages = 0;
    buckets.forEach((b, i) => {
      if (!b.pages) return;
      pages += b.pages;
      const top = y(b.pages_per_sec, maxRate);
      const bar = svg('rect', {
        x: (LEFT + i * step + 0.5).toFixed(1), y: top.toFixed(1),
        width: Math.max(step - 1, 1).toFixed(1), height: (H - BOTTOM - top).toFixed(1),
        class: b.failed ? 'bar failed' : 'bar',
      });
      const tip = svg('title');
      tip.textContent = `${b.pages} pages (${b.failed} failed), ${b.pages_per_sec.toFixed(2)}/s`;
      bar.append(tip);
      rate.append(bar);
    });
    rate.dataset.pages = String(pages);

    const latency = $('#latency-chart');
    latency.replaceChildren();
    const series = ['p50_ms', 'p95_ms', 'p99_ms'];
    const maxMs = Math.max(10, ...buckets.flatMap((b) => series.map((s) => b[s] || 0)));
    axes(latency, maxMs, 'ms', buckets);
    let points = 0;
    for (const s of series) {
      let d = '';
      let joined = false;
      buckets.forEach((b, i) => {
        const value = b[s];
        if (value === null || value === undefined) {
          joined = false;
          return;
        }
        const x = LEFT + i * step + step / 2;
        d += `${joined ? 'L' : 'M'}${x.toFixed(1)} ${y(value, maxMs).toFixed(1)} `;
        joined = true;
        points += 1;
        latency.append(svg('circle', { cx: x.toFixed(1), cy: y(value, maxMs).toFixed(1), r: 1.6, class: `dot ${s.slice(0, 3)}` }));
      });
      if (d) latency.append(svg('path', { d: d.trim(), class: `series ${s.slice(0, 3)}` }));
    }
    latency.dataset.points = String(points);
  }

  // ---- Polling ----------------------------------------------------------------------------

  async function refreshReady() {
    try {
      const response = await fetch('/readyz', { cache: 'no-store' });
      const body = await response.json();
      $('#ready').textContent = body.status || String(response.status);
      $('#ready').className = `badge ${body.status === 'ready' ? 'ok' : 'warn'}`;
      $('#ready').title = body.error || '';
    } catch (_) {
      $('#ready').textContent = 'unreachable';
      $('#ready').className = 'badge bad';
    }
  }

  async function refreshActivity() {
    drawActivity(await getJson('/v1/activity'));
  }

  async function refresh() {
    refreshReady();
    if (needToken) return;
    const results = await Promise.allSettled([
      getJson('/v1/report').then(showReport),
      getJson('/v1/timeouts').then(showTimeouts),
      getJson('/v1/crawls').then(showCrawls),
      refreshActivity(),
    ]);
    const failed = results.find((r) => r.status === 'rejected' && !(r.reason instanceof NeedToken));
    notice(failed ? `could not read the server: ${failed.reason.message || failed.reason}` : '');
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  }

  // ---- Try a URL --------------------------------------------------------------------------

  const STAGES = [
    ['engine choice', 'engine_choice_ms'], ['fetch', 'fetch_ms'], ['module load', 'module_load_ms'],
    ['extraction', 'extraction_ms'], ['total', 'total_ms'],
  ];
  const META = [
    'url', 'final_url', 'engine', 'partial', 'raw_title', 'description', 'author', 'published_time',
    'modified_time', 'site_name', 'language', 'canonical_url', 'image', 'is_article', 'word_count', 'robots',
  ];
  const LINKISH = new Set(['url', 'final_url', 'canonical_url', 'image']);

  function showResult(record, status) {
    const result = $('#result');
    result.hidden = false;
    const base = record.final_url || record.url;
    const failed = status >= 400 || record.error !== undefined;
    $('#result-title').textContent = failed
      ? `Failed (${status}): ${record.error_kind || 'error'}`
      : (record.title || record.raw_title || '(no title)');

    const metaRows = [];
    const row = (name, value) => metaRows.push(el('tr', {}, el('th', {}, name), el('td', {}, value)));
    if (failed) {
      for (const name of ['url', 'error', 'error_kind', 'hint']) {
        if (record[name] !== undefined) row(name, text(record[name]));
      }
    } else {
      for (const name of META) {
        const value = record[name];
        if (value === null || value === undefined) continue;
        row(name, LINKISH.has(name) && typeof value === 'string' ? safeLink(value, base) : text(value));
      }
      for (const [name, value] of Object.entries(record.open_graph || {})) row(`og:${name}`, text(value));
    }
    $('#result-meta tbody').replaceChildren(...metaRows);

    const timings = record.timings || {};
    const total = timings.total_ms || 0;
    const timingRows = STAGES.filter(([, key]) => typeof timings[key] === 'number').map(([name, key]) => {
      const bar = el('progress', { max: Math.max(total, 0.001), value: timings[key] });
      return el('tr', {}, el('th', {}, name), el('td', {}, ms(timings[key])), el('td', {}, bar));
    });
    if (typeof timings.attempts === 'number') {
      timingRows.push(el('tr', {}, el('th', {}, 'attempts'), el('td', {}, text(timings.attempts)), el('td')));
    }
    $('#result-timings tbody').replaceChildren(...timingRows);

    const shot = record.screenshot_png_base64;
    const image = $('#result-screenshot');
    if (typeof shot === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(shot)) {
      image.src = `data:image/png;base64,${shot}`;
      $('#result-shot').hidden = false;
    } else {
      image.removeAttribute('src');
      $('#result-shot').hidden = true;
    }

    const markdown = typeof record.markdown === 'string' ? record.markdown : (record.text || '');
    $('#result-markdown').replaceChildren(...renderMarkdown(markdown, base));
    $('#result-raw').textContent = markdown;

    const links = Array.isArray(record.links) ? record.links : [];
    $('#result-link-count').textContent = String(links.length);
    $('#result-links').replaceChildren(...links.slice(0, 500).map((link) => el('li', {}, safeLink(link, base))));
    result.dataset.state = failed ? 'failed' : 'done';
  }

  $('#result-toggle').addEventListener('click', () => {
    const raw = $('#result-raw');
    raw.hidden = !raw.hidden;
    $('#result-markdown').hidden = !raw.hidden;
    $('#result-toggle').textContent = raw.hidden ? 'raw' : 'rendered';
  });

  $('#try-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('#try-submit');
    const status = $('#try-status');
    const body = {
      url: $('#try-url').value.trim(),
      engine: $('#try-engine').value,
      markdown: true,
      screenshot: true,
    };
    button.disabled = true;
    $('#result').dataset.state = 'running';
    status.textContent = 'extracting…';
    const started = performance.now();
    try {
      const response = await api('/v1/extract', { method: 'POST', body: JSON.stringify(body) });
      const record = await response.json();
      showResult(record, response.status);
      status.textContent = `answered ${response.status} in ${((performance.now() - started) / 1000).toFixed(2)} s`;
    } catch (error) {
      status.textContent = String(error.message || error);
      $('#result').dataset.state = 'failed';
    } finally {
      button.disabled = false;
    }
    refresh();
  });

  // ---- A small Markdown renderer: elements and text nodes only ----------------------------

  function renderMarkdown(source, base) {
    const lines = source.replace(/\r\n?/g, '\n').split('\n');
    const blocks = [];
    let i = 0;
    const isBlank = (line) => line.trim() === '';
    const listItem = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/;
    while (i < lines.length) {
      const line = lines[i];
      if (isBlank(line)) {
        i += 1;
        continue;
      }
      const fence = line.match(/^\s*(```|~~~)/);
      if (fence) {
        const code = [];
        i += 1;
        while (i < lines.length && !lines[i].trim().startsWith(fence[1])) code.push(lines[i++]);
        i += 1;
        blocks.push(el('pre', {}, el('code', {}, code.join('\n'))));
        continue;
      }
      const heading = line.match(/^\s*(#{1,6})\s+(.*?)\s*#*\s*$/);
      if (heading) {
        const h = el(`h${heading[1].length}`);
        inline(heading[2], h, base);
        blocks.push(h);
        i += 1;
        continue;
      }
      if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        blocks.push(el('hr'));
        i += 1;
        continue;
      }
      if (/^\s*>/.test(line)) {
        const quoted = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ''));
        blocks.push(el('blockquote', {}, ...renderMarkdown(quoted.join('\n'), base)));
        continue;
      }
      if (/^\s*\|/.test(line)) {
        const table = el('table', { class: 'md-table' });
        while (i < lines.length && /^\s*\|/.test(lines[i])) {
          const cells = lines[i].trim().replace(/^\||\|$/g, '').split('|');
          i += 1;
          if (cells.every((c) => /^\s*:?-+:?\s*$/.test(c))) continue;
          const tr = el('tr');
          for (const cell of cells) {
            const td = el('td');
            inline(cell.trim(), td, base);
            tr.append(td);
          }
          table.append(tr);
        }
        blocks.push(table);
        continue;
      }
      const item = line.match(listItem);
      if (item) {
        const list = el(item[2] ? 'ol' : 'ul');
        while (i < lines.length) {
          const m = lines[i].match(listItem);
          if (!m) break;
          const li = el('li');
          inline(m[3], li, base);
          list.append(li);
          i += 1;
        }
        blocks.push(list);
        continue;
      }
      const paragraph = [];
      while (i < lines.length && !isBlank(lines[i]) && !/^\s*(#{1,6}\s|>|\||```|~~~)/.test(lines[i]) &&
        !listItem.test(lines[i])) {
        paragraph.push(lines[i++].trim());
      }
      if (paragraph.length === 0) {
        paragraph.push(lines[i++].trim());
      }
      const p = el('p');
      inline(paragraph.join(' '), p, base);
      blocks.push(p);
    }
    return blocks;
  }

  /** `[text](url)` at `start` (the `[`): its text, URL and the index after it, or null. */
  function linkAt(source, start) {
    let depth = 0;
    let close = -1;
    for (let j = start; j < source.length; j += 1) {
      if (source[j] === '\\') { j += 1; continue; }
      if (source[j] === '[') depth += 1;
      if (source[j] === ']' && --depth === 0) { close = j; break; }
    }
    if (close < 0 || source[close + 1] !== '(') return null;
    depth = 0;
    for (let j = close + 1; j < source.length; j += 1) {
      if (source[j] === '(') depth += 1;
      if (source[j] === ')' && --depth === 0) {
        const target = source.slice(close + 2, j).trim().split(/\s+/)[0].replace(/^<|>$/g, '');
        return { label: source.slice(start + 1, close), url: target, end: j + 1 };
      }
    }
    return null;
  }

  function inline(source, parent, base) {
    let buffer = '';
    const flush = () => {
      if (buffer) parent.append(document.createTextNode(buffer));
      buffer = '';
    };
    let i = 0;
    while (i < source.length) {
      const c = source[i];
      if (c === '\\' && i + 1 < source.length && /[\\`*_[\](){}#+\-.!|>~<]/.test(source[i + 1])) {
        buffer += source[i + 1];
        i += 2;
        continue;
      }
      if (c === '`') {
        const end = source.indexOf('`', i + 1);
        if (end > i) {
          flush();
          parent.append(el('code', {}, source.slice(i + 1, end)));
          i = end + 1;
          continue;
        }
      }
      if ((c === '*' || c === '_') && source[i + 1] === c) {
        const end = source.indexOf(c + c, i + 2);
        if (end > i + 2) {
          flush();
          const strong = el('strong');
          inline(source.slice(i + 2, end), strong, base);
          parent.append(strong);
          i = end + 2;
          continue;
        }
      }
      if ((c === '*' || c === '_') && source[i + 1] !== ' ' && (c === '*' || i === 0 || /\W/.test(source[i - 1]))) {
        const end = source.indexOf(c, i + 1);
        if (end > i + 1) {
          flush();
          const em = el('em');
          inline(source.slice(i + 1, end), em, base);
          parent.append(em);
          i = end + 1;
          continue;
        }
      }
      if (c === '!' && source[i + 1] === '[') {
        const image = linkAt(source, i + 1);
        if (image) {
          // Never loaded: an image is shown as its description, linked.
          flush();
          parent.append(safeLink(image.url, base, `[image: ${image.label || image.url}]`));
          i = image.end;
          continue;
        }
      }
      if (c === '[') {
        const link = linkAt(source, i);
        if (link) {
          flush();
          const a = safeLink(link.url, base, '');
          inline(link.label, a, base);
          parent.append(a);
          i = link.end;
          continue;
        }
      }
      buffer += c;
      i += 1;
    }
    flush();
  }

  refresh();
  setInterval(refresh, POLL_MS);
})();
