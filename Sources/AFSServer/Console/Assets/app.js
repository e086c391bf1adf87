// The AetherFS web console: a small single-page app over the JSON API (/v1), signed in by an
// HttpOnly cookie. Every value from the server is put on the page as text (textContent, never
// innerHTML), so names, paths, file contents and messages cannot inject markup.
'use strict';

const state = { me: null, live: null, epoch: 0 };

// --- DOM -----------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function show(...nodes) {
  const main = document.getElementById('main');
  main.replaceChildren(...nodes);
}

// Each navigation is an epoch. A view takes `const show = painter()` as its first statement (run
// before its first await, so it captures its own navigation's epoch); a view whose data arrives
// after the user moved on then paints nothing, instead of replacing the newer page.
function painter() {
  const epoch = state.epoch;
  return (...nodes) => { if (epoch === state.epoch) show(...nodes); };
}

function flash(message, ok) {
  const el = document.getElementById('flash');
  el.textContent = message;
  el.className = ok ? 'flash ok' : 'flash';
  el.hidden = !message;
}

function link(hash, ...children) { return h('a', { href: hash }, ...children); }
function sessionLink(id, label) { return link('#/s/' + encodeURIComponent(id), label || id); }
function badge(status) { return h('span', { class: 'badge ' + status, 'data-status': status }, status); }

function age(iso) {
  if (!iso) return '';
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return Math.floor(seconds) + ' s ago';
  if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago';
  if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ago';
  return Math.floor(seconds / 86400) + ' d ago';
}

function bytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + ' ' + units[i];
}

// --- API -----------------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = {};
  if (state.me) headers['X-AFS-Actor'] = state.me.actor;
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = state.me ? state.me.csrf : '';
  let payload;
  if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (response.status === 401) { location.href = '/'; throw new Error('signed out'); }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!response.ok) {
    const message = data && data.error ? data.error.message : 'HTTP ' + response.status;
    const error = new Error(message);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

function filePath(id, path) {
  return '/v1/sessions/' + encodeURIComponent(id) + '/files' + path.split('/').map(encodeURIComponent).join('/');
}

async function act(work, done) {
  try {
    const result = await work();
    flash(done || '', true);
    return result;
  } catch (error) {
    flash(error.message);
    return undefined;
  }
}

// --- Routing -------------------------------------------------------------------------------------

function stopLive() {
  if (state.live) { state.live.close(); state.live = null; }
  if (state.timer) { clearInterval(state.timer); state.timer = null; }
}

async function route() {
  stopLive();
  flash('');
  state.epoch += 1;
  const epoch = state.epoch;
  // The previous page goes at once: nothing on it can be clicked while the next one loads.
  show(h('p', { class: 'muted', id: 'loading' }, 'Loading…'));
  const hash = location.hash || '#/sessions';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts.length === 0 || parts[0] === 'sessions') return await viewSessions(params);
    if (parts[0] === 'usage') return await viewUsage();
    if (parts[0] === 'workspaces') return await viewWorkspaces();
    if (parts[0] === 's' && parts[1]) {
      const id = parts[1];
      const tab = parts[2] || 'files';
      if (tab === 'files') return await viewFiles(id, params.get('path') || '/');
      if (tab === 'changes') return await viewChanges(id);
      if (tab === 'checkpoints') return await viewCheckpoints(id);
      if (tab === 'compare') return await viewCompare(id, params.get('against'), params.get('file'), params.get('mode') || 'unified');
      if (tab === 'review') return await viewReview(id);
      if (tab === 'coordination') return await viewCoordination(id, params.get('topic'));
    }
    show(h('p', {}, 'No such page. ', link('#/sessions', 'Back to the sessions.')));
  } catch (error) {
    if (epoch !== state.epoch) return;
    show(h('h1', {}, 'Cannot show this page'), h('p', { class: 'reason', id: 'page-error' }, error.message), link('#/sessions', 'Back to the sessions.'));
  }
}

// --- Sessions ------------------------------------------------------------------------------------

const statuses = ['active', 'pending-approval', 'approved', 'rejected', 'committed', 'archived'];

async function viewSessions(params) {
  const show = painter();
  const status = params.get('status') || '';
  const q = (params.get('q') || '').toLowerCase();
  const [sessions, usage] = await Promise.all([
    api('GET', '/v1/sessions' + (status ? '?status=' + encodeURIComponent(status) : '')),
    api('GET', '/v1/usage').catch(() => ({ sessions: [] })),
  ]);
  const sizes = new Map((usage.sessions || []).map((u) => [u.id, u]));
  const shown = sessions
    .filter((s) => !q || (s.name || '').toLowerCase().includes(q) || s.id.includes(q))
    .sort((a, b) => (b.created_at || '').localeCompare(a.created_at || ''));
  const go = (next) => {
    const p = new URLSearchParams();
    if (next.status) p.set('status', next.status);
    if (next.q) p.set('q', next.q);
    location.hash = '#/sessions' + (p.toString() ? '?' + p : '');
  };
  const filter = h('select', { id: 'status-filter', onchange: (e) => go({ status: e.target.value, q }) },
    h('option', { value: '' }, 'any status'),
    statuses.map((s) => h('option', { value: s, selected: s === status }, s)));
  const search = h('input', { id: 'search', type: 'search', placeholder: 'search by name or id', value: params.get('q') || '' });
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') go({ status, q: search.value }); });
  const rows = shown.map((s) => h('tr', { 'data-id': s.id },
    h('td', {}, sessionLink(s.id, s.name || '(unnamed)')),
    h('td', { class: 'mono' }, s.id),
    h('td', {}, badge(s.status)),
    h('td', {}, s.parent_id ? sessionLink(s.parent_id) : h('span', { class: 'muted' }, s.source || '')),
    h('td', {}, s.owner || (sizes.get(s.id) || {}).tenant || ''),
    h('td', { class: 'size', title: 'logical bytes · physical bytes (stored, what it added over its parent) · files' },
      sizes.has(s.id) ? bytes(sizes.get(s.id).logical_bytes) + ' · ' + bytes(sizes.get(s.id).physical_bytes || 0) + ' physical · ' + sizes.get(s.id).files + ' files' : ''),
    h('td', { title: s.created_at || '' }, age(s.created_at)),
    h('td', {},
      h('button', { class: 'fork', onclick: () => forkSession(s.id) }, 'Fork'), ' ',
      s.status === 'archived' ? null : h('button', { class: 'archive', onclick: () => archiveSession(s) }, 'Archive'), ' ',
      h('button', { class: 'danger delete', onclick: () => deleteSession(s) }, 'Delete'))));
  show(
    h('h1', {}, 'Sessions'),
    h('div', { class: 'controls' }, filter, search,
      h('button', { onclick: () => go({ status, q: search.value }) }, 'Search'),
      h('button', { class: 'primary', id: 'new-session', onclick: newSession }, 'New blank session')),
    h('table', { id: 'sessions' },
      h('thead', {}, h('tr', {}, ['Name', 'ID', 'Status', 'Parent', 'Owner', 'Size', 'Age', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No sessions.')))));
}

async function newSession() {
  const name = prompt('Name of the new session (optional):', '');
  if (name === null) return;
  const body = { source: { kind: 'blank' } };
  if (name) body.name = name;
  const s = await act(() => api('POST', '/v1/sessions', body));
  if (s) location.hash = '#/s/' + encodeURIComponent(s.id);
}

async function forkSession(id) {
  const s = await act(() => api('POST', '/v1/sessions/' + encodeURIComponent(id) + '/fork', {}));
  if (s) location.hash = '#/s/' + encodeURIComponent(s.id);
}

async function archiveSession(s) {
  if (!confirm('Archive ' + (s.name || s.id) + '? It becomes read-only.')) return;
  if (await act(() => api('POST', '/v1/sessions/' + encodeURIComponent(s.id) + '/archive', {}), 'Archived.')) route();
}

async function deleteSession(s) {
  if (!confirm('Delete ' + (s.name || s.id) + '? Its files go; this cannot be undone.')) return;
  if (await act(() => api('DELETE', '/v1/sessions/' + encodeURIComponent(s.id)), 'Deleted.') !== undefined) route();
}

// --- A session -----------------------------------------------------------------------------------

async function sessionHeader(id, tab) {
  const s = await api('GET', '/v1/sessions/' + encodeURIComponent(id));
  const tabs = [['files', 'Files'], ['changes', 'Changes'], ['checkpoints', 'Checkpoints'], ['compare', 'Compare'], ['review', 'Review'], ['coordination', 'Bus, leases, knowledge']];
  return {
    session: s,
    nodes: [
      h('h1', { id: 'session-title' }, s.name || s.id, ' ', badge(s.status)),
      h('p', { class: 'muted' }, h('span', { class: 'mono' }, s.id),
        s.parent_id ? [' · forked from ', sessionLink(s.parent_id)] : [' · ', s.source || ''],
        ' · created ', age(s.created_at), ' ',
        h('button', { class: 'fork', onclick: () => forkSession(s.id) }, 'Fork')),
      h('nav', { class: 'tabs' }, tabs.map(([key, label]) =>
        h('a', { href: '#/s/' + encodeURIComponent(id) + '/' + key, class: key === tab ? 'active' : '' }, label))),
    ],
  };
}

function crumbs(id, path) {
  const parts = path.split('/').filter(Boolean);
  const out = [link('#/s/' + encodeURIComponent(id) + '/files?path=/', '/')];
  let acc = '';
  for (const p of parts) {
    acc += '/' + p;
    out.push(h('span', {}, ' '), link('#/s/' + encodeURIComponent(id) + '/files?path=' + encodeURIComponent(acc), p), h('span', {}, ' /'));
  }
  return h('div', { class: 'crumbs', id: 'crumbs' }, out);
}

const imageTypes = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml' };

async function viewFiles(id, path) {
  const show = painter();
  const { nodes } = await sessionHeader(id, 'files');
  const stat = path === '/' ? { kind: 'directory' } : await api('GET', '/v1/sessions/' + encodeURIComponent(id) + '/stat' + path.split('/').map(encodeURIComponent).join('/'));
  if (stat.kind === 'directory') {
    const entries = await api('GET', '/v1/sessions/' + encodeURIComponent(id) + '/tree?path=' + encodeURIComponent(path));
    entries.sort((a, b) => (a.kind === 'directory') === (b.kind === 'directory') ? a.path.localeCompare(b.path) : (a.kind === 'directory' ? -1 : 1));
    const rows = entries.map((e) => {
      const name = e.path.split('/').pop();
      return h('tr', { 'data-path': e.path },
        h('td', {}, link('#/s/' + encodeURIComponent(id) + '/files?path=' + encodeURIComponent(e.path), name + (e.kind === 'directory' ? '/' : ''))),
        h('td', {}, e.kind),
        h('td', {}, e.kind === 'directory' ? '' : bytes(e.size)));
    });
    show(...nodes, crumbs(id, path),
      h('table', { id: 'tree' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Kind'), h('th', {}, 'Size'))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'Empty directory.')))));
    return;
  }
  const url = filePath(id, path);
  const ext = (path.split('.').pop() || '').toLowerCase();
  const info = h('p', { class: 'muted' }, stat.kind, ' · ', bytes(stat.size), stat.content_id ? [' · content ', h('span', { class: 'mono' }, stat.content_id)] : null, ' · ',
    h('a', { href: url, download: path.split('/').pop() }, 'Download'));
  if (stat.kind !== 'file') {
    show(...nodes, crumbs(id, path), info, stat.target ? h('p', {}, '→ ', h('span', { class: 'mono' }, stat.target)) : null);
    return;
  }
  if (imageTypes[ext]) {
    show(...nodes, crumbs(id, path), info, h('img', { class: 'preview', id: 'image', src: url, alt: path }));
    return;
  }
  const limit = 2 << 20;
  const response = await fetch(url, { headers: stat.size > limit ? { Range: 'bytes=0-' + (limit - 1) } : {}, credentials: 'same-origin' });
  const data = new Uint8Array(await response.arrayBuffer());
  if (data.subarray(0, 8192).includes(0)) {
    show(...nodes, crumbs(id, path), info, h('p', { id: 'binary' }, 'A binary file: not shown.'));
    return;
  }
  const text = new TextDecoder('utf-8').decode(data);
  const notes = await api('GET', '/v1/sessions/' + encodeURIComponent(id) + '/annotations?path=' + encodeURIComponent(path));
  show(...nodes, crumbs(id, path), info, stat.size > limit ? h('p', { class: 'muted' }, 'The first 2 MiB are shown.') : null,
    codeView(text.split('\n'), notes, (line) => annotate(id, path, line)));
}

/// Lines with numbers; annotations under their lines; a click on a number annotates that line.
function codeView(lines, notes, onLine) {
  if (lines.length > 1 && lines[lines.length - 1] === '') lines = lines.slice(0, -1);
  const byLine = new Map();
  for (const n of notes || []) {
    const at = n.line_end || n.line_start;
    if (!at) continue;
    if (!byLine.has(at)) byLine.set(at, []);
    byLine.get(at).push(n);
  }
  const rows = [];
  lines.forEach((line, i) => {
    const number = i + 1;
    rows.push(h('tr', { 'data-line': number },
      h('td', { class: 'ln', title: onLine ? 'Annotate this line' : '', onclick: onLine ? () => onLine(number) : null }, number),
      h('td', { class: 'text' }, line)));
    for (const n of byLine.get(number) || []) {
      rows.push(h('tr', { class: 'note' }, h('td', {}), h('td', { class: 'annotation' }, h('strong', {}, n.author), ': ', n.text)));
    }
  });
  return h('div', { class: 'code', id: 'code' }, h('table', {}, h('tbody', {}, rows)));
}

async function annotate(id, path, line) {
  const text = prompt('Annotation for line ' + line + ':', '');
  if (!text) return;
  if (await act(() => api('POST', '/v1/sessions/' + encodeURIComponent(id) + '/annotations', { path, line_start: line, line_end: line, kind: 'comment', text }), 'Annotated.')) route();
}

// --- Changes (live) ------------------------------------------------------------------------------

function eventLine(e) {
  const time = e.time ? new Date(e.time / 1e6).toISOString().replace('T', ' ').slice(0, 19) : '';
  return h('li', { 'data-seq': e.seq }, '#' + e.seq + ' ' + time + ' ' + e.actor + ' ' + e.kind + ' ' + (e.path || '') + (e.detail ? ' (' + e.detail + ')' : ''));
}

async function viewChanges(id) {
  const show = painter();
  const { nodes } = await sessionHeader(id, 'changes');
  const events = await api('GET', '/v1/sessions/' + encodeURIComponent(id) + '/changes?since=0&limit=1000');
  const list = h('ul', { class: 'events', id: 'events' }, events.slice().reverse().map(eventLine));
  const last = events.length ? events[events.length - 1].seq : 0;
  const status = h('p', { class: 'muted', id: 'live-status' }, 'Connecting…');
  show(...nodes, status, list);
  // New events arrive without a reload: the changefeed as Server-Sent Events, resumed by the
  // browser with Last-Event-ID after a dropped connection.
  const source = new EventSource('/v1/sessions/' + encodeURIComponent(id) + '/changes?since=' + last);
  state.live = source;
  source.addEventListener('open', () => { status.textContent = 'Live: new changes appear here as they happen.'; });
  source.addEventListener('change', (message) => {
    const e = JSON.parse(message.data);
    if (!list.querySelector('[data-seq="' + e.seq + '"]')) list.prepend(eventLine(e));
  });
  source.addEventListener('error', () => { status.textContent = 'Reconnecting…'; });
}

// --- Checkpoints ---------------------------------------------------------------------------------

async function viewCheckpoints(id) {
  const show = painter();
  const { session, nodes } = await sessionHeader(id, 'checkpoints');
  const checkpoints = await api('GET', '/v1/sessions/' + encodeURIComponent(id) + '/checkpoints');
  // The session's commits: the history behind its latest commit, newest first.
  const commits = session.head_commit ? await api('GET', '/v1/refs/' + encodeURIComponent(session.head_commit) + '/log?limit=50') : [];
  const commitRows = commits.map((c) => h('tr', { 'data-id': c.id },
    h('td', { class: 'mono', title: c.id }, c.id.slice(0, 12)), h('td', {}, c.message.split('\n')[0]), h('td', {}, c.author),
    h('td', { title: c.created_at || '' }, age(c.created_at)), h('td', {}, c.parents.length > 1 ? 'merge' : '')));
  const rows = checkpoints.map((c) => h('tr', { 'data-id': c.id },
    h('td', { class: 'mono' }, c.id), h('td', {}, c.label || ''), h('td', { title: c.created_at || '' }, age(c.created_at)),
    h('td', {}, h('button', { class: 'restore', onclick: () => restore(id, c) }, 'Restore'))));
  show(...nodes,
    h('div', { class: 'controls' }, h('button', { class: 'primary', id: 'take-checkpoint', onclick: () => takeCheckpoint(id) }, 'Take a checkpoint')),
    h('table', { id: 'checkpoints' }, h('thead', {}, h('tr', {}, ['ID', 'Label', 'Taken', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No checkpoints.')))),
    h('h2', {}, 'Commits'),
    h('table', { id: 'commits' }, h('thead', {}, h('tr', {}, ['Commit', 'Message', 'Author', 'Made', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, commitRows.length ? commitRows : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No commits yet.')))));
}

async function takeCheckpoint(id) {
  const label = prompt('Label (optional):', '');
  if (label === null) return;
  if (await act(() => api('POST', '/v1/sessions/' + encodeURIComponent(id) + '/checkpoints', label ? { label } : {}), 'Checkpoint taken.')) route();
}

async function restore(id, c) {
  if (!confirm('Restore checkpoint ' + (c.label || c.id) + '? Changes made since are undone.')) return;
  if (await act(() => api('POST', '/v1/sessions/' + encodeURIComponent(id) + '/restore', { checkpoint: c.id }), 'Restored.')) route();
}

// --- Compare -------------------------------------------------------------------------------------

/// Line diff (longest common subsequence): [{op: ' ' | '-' | '+', a, b, text}].
function diffLines(left, right) {
  const n = left.length, m = right.length;
  if (n * m > 25e6) {
    return left.map((t, i) => ({ op: '-', a: i + 1, text: t })).concat(right.map((t, j) => ({ op: '+', b: j + 1, text: t })));
  }
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] = left[i] === right[j] ? lcs[(i + 1) * width + j + 1] + 1 : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (left[i] === right[j]) { out.push({ op: ' ', a: i + 1, b: j + 1, text: left[i] }); i++; j++; }
    else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) { out.push({ op: '-', a: i + 1, text: left[i] }); i++; }
    else { out.push({ op: '+', b: j + 1, text: right[j] }); j++; }
  }
  while (i < n) { out.push({ op: '-', a: i + 1, text: left[i] }); i++; }
  while (j < m) { out.push({ op: '+', b: j + 1, text: right[j] }); j++; }
  return out;
}

// A file's text in session `id`, or (with `at`) as it is in another session, checkpoint, commit,
// ref or snapshot; '' when absent there, null when binary.
async function readText(id, path, at) {
  const url = filePath(id, path) + (at ? '?at=' + encodeURIComponent(at) : '');
  const response = await fetch(url, { credentials: 'same-origin' });
  if (response.status === 404) return '';
  if (!response.ok) throw new Error('cannot read ' + path + (at ? ' at ' + at : '') + ': HTTP ' + response.status);
  const data = new Uint8Array(await response.arrayBuffer());
  if (data.subarray(0, 8192).includes(0)) return null;
  return new TextDecoder('utf-8').decode(data);
}

function splitLines(text) {
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return text === '' ? [] : lines;
}

async function viewCompare(id, against, file, mode) {
  const show = painter();
  const { session, nodes } = await sessionHeader(id, 'compare');
  against = against || session.parent_id;
  const form = h('form', { class: 'controls', id: 'compare-form' },
    h('label', { for: 'against' }, 'Compare with'),
    h('input', { id: 'against', value: against || '', placeholder: 'session, checkpoint, commit or ref', size: 40 }),
    h('button', { type: 'submit' }, 'Compare'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = '#/s/' + encodeURIComponent(id) + '/compare?against=' + encodeURIComponent(form.querySelector('#against').value);
  });
  if (!against) { show(...nodes, form, h('p', { class: 'muted' }, 'This session has no parent: name what to compare it with.')); return; }
  const entries = await api('GET', '/v1/sessions/' + encodeURIComponent(id) + '/diff?against=' + encodeURIComponent(against));
  const base = '#/s/' + encodeURIComponent(id) + '/compare?against=' + encodeURIComponent(against);
  const rows = entries.map((e) => h('tr', { 'data-path': e.path, class: 'change-' + e.change },
    h('td', {}, h('span', { class: 'badge ' + e.change }, e.change)),
    h('td', {}, e.kind === 'file' ? link(base + '&file=' + encodeURIComponent(e.path), e.path) : e.path),
    h('td', {}, e.kind)));
  const counts = ['added', 'modified', 'deleted'].map((c) => entries.filter((e) => e.change === c).length + ' ' + c).join(', ');
  const parts = [...nodes, form, h('p', { id: 'diff-summary' }, entries.length ? counts : 'No differences.'),
    h('table', { id: 'diff' }, h('thead', {}, h('tr', {}, h('th', {}, 'Change'), h('th', {}, 'Path'), h('th', {}, 'Kind'))), h('tbody', {}, rows))];
  if (file) {
    const [right, left] = await Promise.all([readText(id, file), readText(id, file, against)]);
    const notes = await api('GET', '/v1/sessions/' + encodeURIComponent(id) + '/annotations?path=' + encodeURIComponent(file));
    parts.push(h('h2', { id: 'file-title' }, file),
      h('div', { class: 'controls' },
        link(base + '&file=' + encodeURIComponent(file) + '&mode=unified', 'Unified'), ' · ',
        link(base + '&file=' + encodeURIComponent(file) + '&mode=split', 'Side by side')));
    if (left === null || right === null) {
      parts.push(h('p', {}, 'A binary file: not shown.'));
    } else {
      parts.push(diffView(diffLines(splitLines(left), splitLines(right)), notes, mode, (line) => annotate(id, file, line)));
    }
  }
  show(...parts);
}

/// Changed lines with `context` unchanged lines around them; longer unchanged runs fold into one row.
function hunks(lines, context) {
  const keep = new Array(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.op === ' ') return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  const out = [];
  let skipped = 0;
  lines.forEach((l, i) => {
    if (keep[i]) {
      if (skipped) { out.push({ op: '…', count: skipped }); skipped = 0; }
      out.push(l);
    } else {
      skipped++;
    }
  });
  if (skipped) out.push({ op: '…', count: skipped });
  return out;
}

function diffView(all, notes, mode, onLine) {
  const lines = hunks(all, 3);
  const skipRow = (l, span) => h('tr', { class: 'skip' }, h('td', { colspan: span, class: 'muted' }, '⋯ ' + l.count + ' unchanged line' + (l.count === 1 ? '' : 's')));
  const byLine = new Map();
  for (const n of notes || []) {
    const at = n.line_end || n.line_start;
    if (at) { if (!byLine.has(at)) byLine.set(at, []); byLine.get(at).push(n); }
  }
  const noteRows = (b, span) => (byLine.get(b) || []).map((n) => h('tr', { class: 'note' }, h('td', { colspan: span, class: 'annotation' }, h('strong', {}, n.author), ': ', n.text)));
  if (mode === 'split') {
    const rows = [];
    for (const l of lines) {
      if (l.op === '…') { rows.push(skipRow(l, 4)); continue; }
      const cls = l.op === '+' ? 'add' : l.op === '-' ? 'del' : '';
      rows.push(h('tr', { class: cls },
        h('td', { class: 'ln' }, l.a || ''), h('td', { class: 'text' }, l.op === '+' ? '' : l.text),
        h('td', { class: 'ln', onclick: l.b ? () => onLine(l.b) : null }, l.b || ''), h('td', { class: 'text' }, l.op === '-' ? '' : l.text)));
      if (l.b) rows.push(...noteRows(l.b, 4));
    }
    return h('div', { class: 'code', id: 'code' }, h('table', { class: 'split-view' }, h('tbody', {}, rows)));
  }
  const rows = [];
  for (const l of lines) {
    if (l.op === '…') { rows.push(skipRow(l, 3)); continue; }
    rows.push(h('tr', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : '', 'data-line': l.b || '' },
      h('td', { class: 'ln' }, l.a || ''), h('td', { class: 'ln', onclick: l.b ? () => onLine(l.b) : null }, l.b || ''),
      h('td', { class: 'text' }, l.op + ' ' + l.text)));
    if (l.b) rows.push(...noteRows(l.b, 3));
  }
  return h('div', { class: 'code', id: 'code' }, h('table', {}, h('tbody', {}, rows)));
}

// --- Review and promote --------------------------------------------------------------------------

async function viewReview(id) {
  const show = painter();
  const { session, nodes } = await sessionHeader(id, 'review');
  let review = null;
  try { review = await api('GET', '/v1/sessions/' + encodeURIComponent(id) + '/review'); } catch (e) { if (e.status !== 404) throw e; }
  const approvals = review ? review.decisions.filter((d) => d.approved).length : 0;
  const reviewers = h('input', { id: 'reviewers', placeholder: 'reviewers, comma separated', size: 30 });
  const required = h('input', { id: 'required-approvals', type: 'number', min: 1, value: review ? review.required_approvals : 1, size: 3 });
  const comment = h('input', { id: 'comment', placeholder: 'comment', size: 40 });
  const refName = h('input', { id: 'ref', placeholder: 'ref, e.g. main', value: 'main' });
  const message = h('input', { id: 'message', placeholder: 'commit message', size: 40 });
  const outcome = h('div', { id: 'promote-outcome' });
  const decide = (verb) => act(() => api('POST', '/v1/sessions/' + encodeURIComponent(id) + '/review/' + verb, { comment: comment.value }), verb === 'approve' ? 'Approved.' : 'Rejected.').then((r) => { if (r) route(); });
  const promote = async () => {
    outcome.replaceChildren();
    try {
      await api('POST', '/v1/sessions/' + encodeURIComponent(id) + '/commits', { message: message.value || 'Promoted from the console' });
      const result = await api('POST', '/v1/sessions/' + encodeURIComponent(id) + '/promote', { ref: refName.value });
      outcome.append(h('p', { class: 'ok', id: 'promoted' }, 'Promoted into ', refName.value, ': ', result.outcome, ' (commit ', h('span', { class: 'mono' }, result.commit || result.commit_id || ''), ').'));
    } catch (e) {
      const conflicted = e.data && e.data.outcome === 'conflicted';
      outcome.append(h('p', { class: 'reason', id: 'promote-refused' }, 'Promote refused: ', conflicted ? 'the merge into ' + refName.value + ' has conflicts; the ref is unchanged.' : e.message));
      const conflicts = e.data && (e.data.conflicts || (e.data.result && e.data.result.conflicts));
      if (conflicts && conflicts.length) outcome.append(h('ul', { id: 'conflicts' }, conflicts.map((c) => h('li', {}, typeof c === 'string' ? c : c.path))));
    }
  };
  // Promote waits for the ref's policy: disabled, with the reason, while the approvals fall short.
  const promoteButton = h('button', { class: 'primary', id: 'promote', onclick: promote }, 'Promote');
  const promoteReason = h('p', { class: 'reason', id: 'promote-reason' });
  const checkPolicy = async () => {
    const ref = refName.value.trim();
    if (!ref) { promoteButton.disabled = true; promoteReason.textContent = 'Name a ref.'; return; }
    let policy;
    try { policy = await api('GET', '/v1/refs/' + encodeURIComponent(ref) + '/policy'); } catch (e) { promoteReason.textContent = e.message; return; }
    const short = policy.required_approvals > approvals;
    promoteButton.disabled = short;
    promoteReason.textContent = short
      ? ref + ' requires ' + policy.required_approvals + ' approval' + (policy.required_approvals === 1 ? '' : 's') + '; this session has ' + approvals + (review && review.requested_by ? '.' : ' (no review requested).')
      : '';
  };
  refName.addEventListener('change', checkPolicy);
  refName.addEventListener('input', checkPolicy);
  show(...nodes,
    h('div', { class: 'panel', id: 'review-state' },
      h('h2', {}, 'Review'),
      review
        ? [h('p', {}, 'Status ', badge(session.status), ' · ', approvals, ' of ', review.required_approvals, ' approvals · reviewers: ', review.reviewers.join(', ') || 'anyone', review.requested_by ? ' · requested by ' + review.requested_by : ''),
          h('ul', { id: 'decisions' }, review.decisions.map((d) => h('li', {}, d.reviewer, d.approved ? ' approved' : ' rejected', d.comment ? ': ' + d.comment : '')))]
        : h('p', { class: 'muted' }, 'No review requested.'),
      h('div', { class: 'controls' }, reviewers, required,
        h('button', { id: 'request-review', onclick: () => act(() => api('POST', '/v1/sessions/' + encodeURIComponent(id) + '/review',
          { reviewers: reviewers.value.split(',').map((s) => s.trim()).filter(Boolean), required_approvals: Number(required.value) || 1 }), 'Review requested.').then((r) => { if (r) route(); }) }, 'Request review')),
      h('div', { class: 'controls' }, comment,
        h('button', { class: 'primary', id: 'approve', onclick: () => decide('approve') }, 'Approve'),
        h('button', { class: 'danger', id: 'reject', onclick: () => decide('reject') }, 'Reject'))),
    h('div', { class: 'panel' },
      h('h2', {}, 'Commit and promote'),
      h('div', { class: 'controls' }, refName, message, promoteButton),
      promoteReason,
      outcome));
  await checkPolicy();
}

// --- Bus, leases, knowledge ----------------------------------------------------------------------

async function viewCoordination(id, topic) {
  const show = painter();
  const { nodes } = await sessionHeader(id, 'coordination');
  const enc = encodeURIComponent(id);
  const [topics, leases, knowledge] = await Promise.all([
    api('GET', '/v1/sessions/' + enc + '/bus'),
    api('GET', '/v1/sessions/' + enc + '/locks'),
    api('GET', '/v1/sessions/' + enc + '/knowledge'),
  ]);
  const names = topics.map((t) => (typeof t === 'string' ? t : t.topic || t.name));
  topic = topic || names[0];
  const messages = topic ? await api('GET', '/v1/sessions/' + enc + '/bus/' + encodeURIComponent(topic) + '?from=1&limit=200') : [];
  show(...nodes,
    h('h2', {}, 'Bus'),
    names.length
      ? h('div', { class: 'controls', id: 'topics' }, names.map((n) => n === topic ? h('strong', {}, n) : link('#/s/' + enc + '/coordination?topic=' + encodeURIComponent(n), n)))
      : h('p', { class: 'muted' }, 'No topics.'),
    topic ? h('ul', { class: 'events', id: 'messages' }, messages.map((m) => h('li', {}, '#' + m.offset + ' ' + m.sender + ': ' + m.payload))) : null,
    h('h2', {}, 'Leases'),
    h('table', { id: 'leases' }, h('thead', {}, h('tr', {}, ['Path', 'Holder', 'Kind', 'Fencing token', 'Expires'].map((t) => h('th', {}, t)))),
      h('tbody', {}, leases.length ? leases.map((l) => h('tr', {}, h('td', { class: 'mono' }, l.path + (l.prefix ? '/…' : '')), h('td', {}, l.holder),
        h('td', {}, l.exclusive ? 'exclusive' : 'shared'), h('td', {}, l.token), h('td', {}, new Date(l.expires_at * 1000).toISOString())))
        : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No live leases.')))),
    h('h2', {}, 'Knowledge'),
    h('table', { id: 'knowledge' }, h('thead', {}, h('tr', {}, ['Key', 'Value', 'Tags', 'Author'].map((t) => h('th', {}, t)))),
      h('tbody', {}, knowledge.length ? knowledge.map((k) => h('tr', {}, h('td', { class: 'mono' }, k.key), h('td', {}, k.value), h('td', {}, (k.tags || []).join(', ')), h('td', {}, k.author)))
        : h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No entries.')))));
}

// --- Workspaces ----------------------------------------------------------------------------------

const presets = {
  small: { cpu_kind: 'shared', cpus: 1, memory_mb: 1024, volume_size_gb: 5 },
  standard: { cpu_kind: 'shared', cpus: 2, memory_mb: 2048, volume_size_gb: 10 },
  large: { cpu_kind: 'performance', cpus: 4, memory_mb: 8192, volume_size_gb: 50 },
};
const transitional = new Set(['starting', 'stopping']);

function hardwareText(hw) {
  return hw.cpus + ' CPU (' + hw.cpu_kind + ') · ' + hw.memory_mb + ' MB · ' + hw.volume_size_gb + ' GB' + (hw.gpu_kind ? ' · ' + hw.gpu_kind : '');
}

/// The status indicator: a dot and the state, with the reason when it failed.
function indicator(w) {
  return h('span', { class: 'indicator ' + w.status, 'data-status': w.status },
    h('span', { class: 'dot' }), ' ', w.status, w.error ? h('span', { class: 'reason' }, ' — ' + w.error) : null);
}

function workspaceRow(w) {
  const busy = transitional.has(w.status);
  return h('tr', { 'data-id': w.id },
    h('td', { class: 'mono' }, w.id),
    h('td', {}, sessionLink(w.project)),
    h('td', {}, hardwareText(w.hardware)),
    h('td', { class: 'state' }, indicator(w)),
    h('td', {},
      h('button', { class: 'start', disabled: busy || w.status === 'running', onclick: () => workspaceAction(w.id, 'start') }, 'Start'), ' ',
      h('button', { class: 'stop', disabled: busy || w.status === 'stopped', onclick: () => workspaceAction(w.id, 'stop') }, 'Stop'), ' ',
      h('button', { class: 'show-events', onclick: () => workspaceEvents(w.id) }, 'Events'), ' ',
      h('button', { class: 'danger delete', onclick: () => deleteWorkspace(w) }, 'Delete')));
}

async function viewWorkspaces() {
  const show = painter();
  let list;
  try {
    list = await api('GET', '/v1/workspaces');
  } catch (e) {
    if (e.status !== 503) throw e;
    show(h('h1', {}, 'Workspaces'), h('p', { class: 'muted', id: 'workspaces-off' }, e.message));
    return;
  }
  const sessions = await api('GET', '/v1/sessions');
  const project = h('select', { id: 'ws-project' }, sessions.map((x) => h('option', { value: x.id }, (x.name || '(unnamed)') + ' · ' + x.id)));
  const preset = h('select', { id: 'ws-preset' }, Object.entries(presets).map(([k, v]) =>
    h('option', { value: k, selected: k === 'standard' }, k + ': ' + hardwareText(v))));
  const idle = h('input', { id: 'ws-idle', type: 'number', min: 0, value: 600, title: 'Stop after this many idle seconds (0: never)' });
  const body = h('tbody', {}, list.map(workspaceRow));
  const create = async () => {
    const w = await act(() => api('POST', '/v1/workspaces', { project: project.value, hardware: presets[preset.value], idle_timeout: Number(idle.value) }), 'Workspace created.');
    if (w) body.prepend(workspaceRow(w));
  };
  show(
    h('h1', {}, 'Workspaces'),
    h('div', { class: 'controls', id: 'ws-create' }, h('label', { for: 'ws-project' }, 'Project'), project, preset, h('label', { for: 'ws-idle' }, 'Idle stop (s)'), idle,
      h('button', { class: 'primary', id: 'create-workspace', onclick: create, disabled: sessions.length === 0 }, 'Create workspace')),
    h('table', { id: 'workspaces' }, h('thead', {}, h('tr', {}, ['ID', 'Project', 'Hardware', 'State', ''].map((t) => h('th', {}, t)))), body),
    h('div', { id: 'ws-events' }));
  // The indicators follow the VMs: every second, each row is redrawn from afs-vmd's state.
  state.timer = setInterval(async () => {
    let fresh;
    try { fresh = await api('GET', '/v1/workspaces'); } catch (e) { return; }
    for (const w of fresh) {
      const row = body.querySelector('tr[data-id="' + w.id + '"]');
      if (row) row.replaceWith(workspaceRow(w));
    }
  }, 1000);
}

async function workspaceAction(id, verb) {
  const w = await act(() => api('POST', '/v1/workspaces/' + encodeURIComponent(id) + '/' + verb, {}));
  if (w) document.querySelector('#workspaces tr[data-id="' + w.id + '"]').replaceWith(workspaceRow(w));
}

async function deleteWorkspace(w) {
  if (!confirm('Delete workspace ' + w.id + ' and its volume? This cannot be undone.')) return;
  if (await act(() => api('DELETE', '/v1/workspaces/' + encodeURIComponent(w.id)), 'Deleted.') !== undefined) {
    const row = document.querySelector('#workspaces tr[data-id="' + w.id + '"]');
    if (row) row.remove();
  }
}

async function workspaceEvents(id) {
  const events = await act(() => api('GET', '/v1/workspaces/' + encodeURIComponent(id) + '/events'));
  if (!events) return;
  document.getElementById('ws-events').replaceChildren(
    h('h2', {}, 'Events of ', id),
    h('ul', { class: 'events', id: 'workspace-events' }, events.map((e) =>
      h('li', {}, e.at + ' ' + (e.from || '—') + ' → ' + (e.to || '—') + ' (' + e.reason + ')' + (e.detail ? ': ' + e.detail : '')))));
}

// --- Usage ---------------------------------------------------------------------------------------

const svgNS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/// A bar chart drawn by the page: [{label, value}], labels under the bars, values on hover.
function barChart(id, points, unit) {
  const width = 760, height = 180, pad = 28;
  const max = Math.max(1, ...points.map((p) => p.value));
  const step = points.length ? (width - pad) / points.length : 0;
  const chart = svg('svg', { id, class: 'chart', viewBox: `0 0 ${width} ${height + 30}`, width: '100%', role: 'img' });
  chart.append(svg('line', { x1: pad, y1: height, x2: width, y2: height, stroke: '#d0d5dd' }));
  chart.append(svg('text', { x: 0, y: 12, 'font-size': 11, fill: '#667085' }, max + ' ' + unit));
  points.forEach((p, i) => {
    const h = (p.value / max) * (height - 20);
    const bar = svg('rect', { x: pad + i * step + 2, y: height - h, width: Math.max(1, step - 4), height: h, fill: '#2f5bea' });
    bar.append(svg('title', {}, p.label + ': ' + p.value + ' ' + unit));
    chart.append(bar);
    if (points.length <= 14 || i % Math.ceil(points.length / 12) === 0) {
      chart.append(svg('text', { x: pad + i * step + step / 2, y: height + 14, 'font-size': 10, 'text-anchor': 'middle', fill: '#667085' }, p.label));
    }
  });
  return chart;
}

async function viewUsage() {
  const show = painter();
  const [usage, analytics] = await Promise.all([api('GET', '/v1/usage'), api('GET', '/v1/analytics')]);
  const tenants = Object.entries(usage.tenants || {});
  const ops = (o) => Object.entries(o || {}).map(([k, v]) => k + ' ' + v).join(', ');
  const store = usage.store;
  // Every minute of the last hour and every day of the last two weeks, empty ones included.
  const perMinute = new Map((analytics.requests_per_minute || []).map((m) => [m.minute, m.requests]));
  const thisMinute = Math.floor(Date.now() / 60000) * 60;
  const minutes = [];
  for (let t = thisMinute - 59 * 60; t <= thisMinute; t += 60) {
    minutes.push({ label: new Date(t * 1000).toISOString().slice(11, 16), value: perMinute.get(t) || 0 });
  }
  const perDay = analytics.sessions_created_per_day || {};
  const days = [];
  for (let i = 13; i >= 0; i--) {
    const day = new Date(Date.now() - i * 86400000).toISOString().slice(0, 10);
    days.push({ label: day.slice(5), value: perDay[day] || 0 });
  }
  show(
    h('h1', {}, 'Usage'),
    store ? h('div', { class: 'panel', id: 'store-usage' },
      h('p', {}, 'Store: ', bytes(store.logical_bytes), ' logical in ', bytes(store.physical_bytes), ' physical · ',
        store.chunks, ' chunks · dedup ratio ', Number(store.dedup_ratio).toFixed(3), ' · ', analytics.forks, ' forks')) : null,
    h('h2', {}, 'Requests per minute (last hour)'), barChart('requests-chart', minutes, 'requests'),
    h('h2', {}, 'Sessions created per day'), barChart('sessions-chart', days, 'sessions'),
    h('h2', {}, 'Per tenant'),
    h('table', { id: 'tenant-usage' }, h('thead', {}, h('tr', {}, ['Tenant', 'Sessions', 'Logical', 'Physical', 'Operations'].map((t) => h('th', {}, t)))),
      h('tbody', {}, tenants.map(([name, t]) => h('tr', {}, h('td', {}, name), h('td', {}, t.sessions), h('td', {}, bytes(t.logical_bytes)), h('td', {}, bytes(t.physical_bytes || 0)), h('td', {}, ops(t.operations)))))),
    h('h2', {}, 'Per session'),
    h('table', { id: 'session-usage' }, h('thead', {}, h('tr', {}, ['Session', 'Files', 'Logical', 'Physical', 'Operations'].map((t) => h('th', {}, t)))),
      h('tbody', {}, (usage.sessions || []).map((u) => h('tr', {}, h('td', {}, sessionLink(u.id)), h('td', {}, u.files), h('td', {}, bytes(u.logical_bytes)), h('td', { class: 'physical' }, bytes(u.physical_bytes || 0)), h('td', {}, ops(u.operations)))))));
}

// --- Start ---------------------------------------------------------------------------------------

async function start() {
  const response = await fetch('/console/me', { credentials: 'same-origin' });
  if (!response.ok) { location.href = '/'; return; }
  state.me = await response.json();
  document.getElementById('who').textContent = state.me.actor + ' · ' + state.me.tenant + ' · ' + state.me.role;
  document.getElementById('csrf-field').value = state.me.csrf;
  window.addEventListener('hashchange', route);
  route();
}

start();
