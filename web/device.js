// lumora-hr-mini web device: speaks the device protocol over /ws and renders
// the schema as HTML. No dependencies, no remote loads; text is only ever
// set as text (never parsed as HTML).
'use strict';
(() => {
const V = '1.0.0', $ = (id) => document.getElementById(id);
// A malformed escape (a damaged link) names no session: said, not thrown.
let sid = null;
try { sid = decodeURIComponent(location.pathname.split('/')[2] || ''); } catch (_) { /* sid stays null */ }

// ---- checksum: CRC-32 of RFC 8785 canonical JSON without metadata.generatedAt
// JSON.stringify writes numbers and strings as JCS requires; keys are sorted
// by UTF-16 code units, which is what sort() does. Each node's canonical text
// is kept until the node or something under it changes, so an update costs
// the changed nodes and their ancestors, not the whole tree.
const memo = new WeakMap();
const jcsNode = (n) => {
  if (!n || typeof n !== 'object') return jcs(n);
  let c = memo.get(n);
  if (c === undefined) memo.set(n, c = jcs(n));
  return c;
};
const jcs = (v) => {
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().filter((k) => v[k] !== undefined)
      .map((k) => JSON.stringify(k) + ':' + ((k === 'children' || k === 'nodes') && Array.isArray(v[k]) ? '[' + v[k].map(jcsNode).join(',') + ']' : jcs(v[k]))).join(',') + '}';
  }
  return JSON.stringify(v);
};
// Copies made key by key as own properties: Object.assign would run the
// `__proto__` setter for a key of that name, and the copy would lose it.
const define = (o, k, value) => Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
const own = (o, skip) => {
  const c = {};
  for (const k of Object.keys(o)) if (k !== skip) define(c, k, o[k]);
  return c;
};
const canonical = (s) => {
  const m = s && s.metadata;
  if (m && typeof m === 'object' && !Array.isArray(m) && Object.prototype.hasOwnProperty.call(m, 'generatedAt')) {
    s = define(own(s), 'metadata', own(m, 'generatedAt'));
  }
  return jcs(s);
};
let T;
const crc32 = (bytes) => {
  if (!T) {
    T = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      T[n] = c;
    }
  }
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = T[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return ((c ^ -1) >>> 0).toString(16).padStart(8, '0');
};
const enc = new TextEncoder();
const checksum = (s) => crc32(enc.encode(canonical(s)));

// ---- the schema as held: nodes indexed by id (node, parent array, parent
// node, element)
let schema = null, seq = 0, sum = '';
let idx = new Map();
const root = $('lm-root');
const index = (n, arr, up) => {
  if (!n || typeof n !== 'object') return;
  idx.set(n.id, { n, arr, up, el: null });
  if (Array.isArray(n.children)) for (const c of n.children) index(c, n.children, n);
};
// A node's children changed: its canonical text and its ancestors' are stale.
const stale = (n) => {
  while (n) {
    memo.delete(n);
    const e = idx.get(n.id);
    n = e && e.n === n ? e.up : null;
  }
};
const unindex = (n) => {
  if (!n || typeof n !== 'object') return;
  const e = idx.get(n.id);
  if (e && e.n === n) idx.delete(n.id);
  if (Array.isArray(n.children)) n.children.forEach(unindex);
};

// Delta rules: removed (anywhere, with subtree) -> modified (replace by id,
// subtree included) -> added (appended to top-level nodes) -> metadataChanges
// (top-level keys; null deletes). Returns false when a modified id is unknown.
const applyDelta = (d) => {
  for (const id of d.removed || []) {
    const e = idx.get(id);
    if (!e) continue;
    const i = e.arr.indexOf(e.n);
    if (i >= 0) e.arr.splice(i, 1);
    stale(e.up);
    unindex(e.n);
    if (e.el) e.el.remove();
  }
  let todo = d.modified || [], lost = false;
  while (todo.length) {
    const later = [];
    for (const n of todo) {
      const e = idx.get(n && n.id);
      if (!e) { later.push(n); continue; }
      const i = e.arr.indexOf(e.n);
      e.arr[i] = n;
      stale(e.up);
      unindex(e.n);
      index(n, e.arr, e.up);
      if (e.el) e.el.replaceWith(build(n)); else lost = true;
    }
    if (later.length === todo.length) throw new Error('modified node ' + JSON.stringify(later[0] && later[0].id) + ' is not in the schema');
    todo = later;
  }
  if (lost) show(schema.nodes);
  for (const n of d.added || []) {
    schema.nodes.push(n);
    index(n, schema.nodes, null);
    root.append(build(n));
  }
  const mc = d.metadataChanges;
  if (mc) for (const k of Object.keys(mc)) {
    if (k === 'nodes') continue;
    if (mc[k] === null) delete schema[k]; else schema[k] = mc[k];
  }
};
// A whole schema: indexed and built aside, and only then put in place, so
// that one which cannot be shown leaves the page as it was.
const setFull = (s) => {
  if (!s || typeof s !== 'object') throw new Error('the schema is not an object');
  const held = idx;
  idx = new Map();
  try {
    if (!Array.isArray(s.nodes)) s.nodes = [];
    for (const n of s.nodes) index(n, s.nodes, null);
    show(s.nodes);
  } catch (e) { idx = held; throw e; }
  schema = s;
};
// The page's elements for these top-level nodes (one fragment: spreading
// 100,000 children into one call would overflow the stack).
const show = (nodes) => {
  const f = document.createDocumentFragment();
  for (const n of nodes) f.appendChild(build(n));
  root.replaceChildren(f);
};

// ---- UI state the user made (typed text, switches, scroll offsets, focus),
// kept by node id so that an update which rebuilds those elements gives it
// back, as a hot reload keeps an app's state. An update with
// `preserveState: false` (`push --no-preserve-state`) drops it and renders
// the schema afresh; a node's state goes when the node does.
const kept = new Map();
const keep = (el, what) => {
  const id = el && el.dataset && el.dataset.id;
  if (!id || !el.classList.contains('lm')) return;
  const k = kept.get(id) || {};
  Object.assign(k, what);
  kept.set(id, k);
};
root.addEventListener('input', (e) => {
  const el = e.target;
  if (el.type === 'checkbox') keep(el, { checked: el.checked });
  else if ('value' in el) keep(el, { value: el.value });
});
root.addEventListener('change', (e) => { if (e.target.type === 'checkbox') keep(e.target, { checked: e.target.checked }); });
// Scroll events do not bubble: caught on the way down.
root.addEventListener('scroll', (e) => keep(e.target, { top: e.target.scrollTop, left: e.target.scrollLeft }), true);
// What was focused (and the text selected in it) before an update.
const focused = () => {
  const el = document.activeElement;
  if (!el || !root.contains(el) || !el.dataset.id) return null;
  let sel = null;
  try { sel = [el.selectionStart, el.selectionEnd, el.selectionDirection]; } catch (_) { /* no selection on this element */ }
  return { id: el.dataset.id, el, sel };
};
// After an update: state back on rebuilt elements, focus back where it was,
// and state of nodes that are gone dropped.
const restore = (f) => {
  for (const [id, k] of kept) {
    const e = idx.get(id);
    if (!e) { kept.delete(id); continue; }
    const el = e.el;
    if (!el) continue;
    if ('top' in k && (el.scrollTop !== k.top || el.scrollLeft !== k.left)) { el.scrollTop = k.top; el.scrollLeft = k.left; }
  }
  if (f && !f.el.isConnected) {
    const e = idx.get(f.id), el = e && e.el;
    if (el && el.isConnected && el.tagName === f.el.tagName) {
      el.focus({ preventScroll: true });
      if (f.sel && f.sel[0] !== null) try { el.setSelectionRange(f.sel[0], f.sel[1], f.sel[2]); } catch (_) { /* not a text field */ }
    }
  }
};
// Called by build(): the user's value or switch state on a new element.
const reapply = (el, id) => {
  const k = kept.get(id);
  if (!k) return;
  if (el.type === 'checkbox') { if ('checked' in k) el.checked = k.checked; } else if ('value' in k && 'value' in el) el.value = k.value;
};

// ---- rendering: Lumora IR types and React-Native-style props as HTML
// Lookup tables without a prototype: a type or prop named `constructor`
// or `__proto__` is just an unknown name.
const KIND = Object.create(null);
const kinds = {
  v: 'view container column box stack vstack card screen safeareaview keyboardavoidingview fragment section div form header footer main nav',
  r: 'row hstack',
  s: 'scrollview list flatlist sectionlist ul ol',
  t: 'text label paragraph heading title span p h1 h2 h3 li',
  b: 'button',
  p: 'touchableopacity touchablehighlight touchablewithoutfeedback pressable link a',
  i: 'image img icon avatar',
  in: 'textinput input textfield textarea',
  sw: 'switch checkbox toggle',
  hr: 'divider separator hr',
  sp: 'spacer',
  ai: 'activityindicator spinner progress',
  c: 'badge chip tag pill',
};
for (const k in kinds) for (const t of kinds[k].split(' ')) KIND[t] = k;
const PX = new Set(('width height minWidth maxWidth minHeight maxHeight padding paddingTop paddingBottom paddingLeft paddingRight paddingStart paddingEnd margin marginTop marginBottom marginLeft marginRight marginStart marginEnd ' +
  'borderRadius borderWidth borderTopWidth borderBottomWidth borderLeftWidth borderRightWidth borderTopLeftRadius borderTopRightRadius borderBottomLeftRadius borderBottomRightRadius ' +
  'fontSize lineHeight letterSpacing top left right bottom gap rowGap columnGap flexBasis').split(' '));
const KEEP = new Set(('color backgroundColor borderColor borderTopColor borderBottomColor borderLeftColor borderRightColor borderStyle opacity flexDirection justifyContent alignItems alignSelf alignContent ' +
  'flexWrap flexGrow flexShrink position zIndex fontWeight fontStyle fontFamily textAlign textTransform overflow display aspectRatio').split(' '));
const PAIRS = Object.assign(Object.create(null), { paddingHorizontal: ['paddingLeft', 'paddingRight'], paddingVertical: ['paddingTop', 'paddingBottom'], marginHorizontal: ['marginLeft', 'marginRight'], marginVertical: ['marginTop', 'marginBottom'] });
const styleOf = (p) => {
  const out = Object.create(null);
  for (const k in p) if (PX.has(k) || KEEP.has(k) || k in PAIRS || k === 'flex' || k === 'textDecorationLine') out[k] = p[k];
  const add = (s) => {
    if (Array.isArray(s)) s.forEach(add);
    else if (s && typeof s === 'object') Object.assign(out, s);
  };
  add(p.style);
  return out;
};
const css = (el, st) => {
  for (const k in st) {
    let v = st[k];
    if (typeof v === 'number') { if (!isFinite(v)) continue; } else if (typeof v !== 'string' || /url\(|image|expression/i.test(v)) continue;
    const px = typeof v === 'number' && PX.has(k) ? v + 'px' : String(v);
    if (k in PAIRS) PAIRS[k].forEach((s) => { el.style[s] = typeof v === 'number' ? v + 'px' : v; });
    else if (k === 'flex') el.style.flex = String(v);
    else if (k === 'textDecorationLine') el.style.textDecoration = String(v);
    else if (k === 'paddingStart' || k === 'paddingEnd' || k === 'marginStart' || k === 'marginEnd') el.style[k.replace(/Start|End/, (m) => m === 'Start' ? 'InlineStart' : 'InlineEnd')] = px;
    else if (PX.has(k) || KEEP.has(k)) el.style[k] = px;
  }
};
const str = (v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : null);
const first = (p, keys) => { for (const k of keys) { const s = str(p[k]); if (s !== null) return s; } return null; };
const safeSrc = (s) => (typeof s === 'string' && /^(https?:\/\/|data:image\/)/i.test(s.trim()) ? s.trim() : null);

const build = (n) => {
  const p = n.props && typeof n.props === 'object' ? n.props : {};
  const type = String(n.type), k = KIND[type.toLowerCase()];
  let el, text = null;
  switch (k) {
    case 't': el = document.createElement('div'); text = first(p, ['text', 'children', 'content', 'value', 'title', 'label']); break;
    case 'b': el = document.createElement('button'); el.type = 'button'; el.disabled = p.disabled === true; text = first(p, ['title', 'text', 'label', 'children']); break;
    case 'p': el = document.createElement('div'); el.setAttribute('role', 'button'); text = first(p, ['title', 'text', 'label']); break;
    case 'i': {
      const src = safeSrc(p.src) || safeSrc(p.uri) || safeSrc(p.source) || safeSrc(p.source && p.source.uri);
      const alt = first(p, ['alt', 'accessibilityLabel', 'name']) || '';
      if (src) { el = document.createElement('img'); el.src = src; el.alt = alt; el.referrerPolicy = 'no-referrer'; } else { el = document.createElement('div'); text = 'image' + (alt ? ': ' + alt : ''); el.className = 'lm-ph'; }
      break;
    }
    case 'in': {
      const multi = p.multiline === true || type.toLowerCase() === 'textarea';
      el = document.createElement(multi ? 'textarea' : 'input');
      if (!multi && p.secureTextEntry === true) el.type = 'password';
      const ph = first(p, ['placeholder', 'label']), val = first(p, ['value', 'defaultValue', 'text']);
      if (ph !== null) el.placeholder = ph;
      if (val !== null) el.value = val;
      if (p.editable === false) el.readOnly = true;
      break;
    }
    case 'sw': el = document.createElement('input'); el.type = 'checkbox'; el.checked = p.value === true || p.checked === true; break;
    case 'c': el = document.createElement('div'); text = first(p, ['label', 'text', 'title', 'children', 'count']); if (p.selected === true) el.classList.add('lm-cs'); break;
    case 'hr': el = document.createElement('hr'); break;
    case 'ai': el = document.createElement('div'); text = '…'; break;
    case 'v': case 'r': case 's': case 'sp': el = document.createElement('div'); break;
    default: el = document.createElement('div'); el.className = 'lm-u'; el.dataset.label = type; text = first(p, ['text', 'title', 'label']);
  }
  el.classList.add('lm', 'lm-' + (k || 'x'));
  if (k === 's' && p.horizontal === true) el.classList.add('lm-r');
  if (k === 'sp' && p.flex === undefined) el.style.flex = '1';
  el.dataset.id = n.id;
  el.dataset.type = type;
  const st = styleOf(p);
  // A Button's `color` is its colour (RN); a Switch's is its accent.
  if (k === 'b' && typeof p.color === 'string') {
    if (p.variant === 'text') el.classList.add('lm-bt'); else { st.backgroundColor = p.color; delete st.color; }
  }
  if (k === 'sw' && typeof p.color === 'string') { el.style.accentColor = /url|image/i.test(p.color) ? '' : p.color; delete st.color; }
  css(el, st);
  if (text !== null) el.append(text);
  if (k === 'in' || k === 'sw') reapply(el, n.id);
  if (Array.isArray(n.children)) for (const c of n.children) if (c && typeof c === 'object') el.append(build(c));
  const e = idx.get(n.id);
  if (e && e.n === n) e.el = el;
  return el;
};

// ---- connection, updates, acks
let ws = null, state = 'connecting', tries = 0, timer = 0, pongTimer = 0, epoch = null;
let last = { kind: '-', ms: 0, ok: null }, stop = false, resumes = 0;
const devId = (() => {
  try {
    let d = localStorage.getItem('lumora-device-id');
    if (!d) { d = 'web-' + Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join(''); localStorage.setItem('lumora-device-id', d); }
    return d;
  } catch (_) { return 'web-' + Math.random().toString(16).slice(2); }
})();
const devName = (() => {
  const u = navigator.userAgent;
  const b = /Edg\//.test(u) ? 'Edge' : /HeadlessChrome/.test(u) ? 'HeadlessChrome' : /Chrome\//.test(u) ? 'Chrome' : /Firefox\//.test(u) ? 'Firefox' : /Safari\//.test(u) ? 'Safari' : 'Browser';
  const o = /iPhone/.test(u) ? 'iPhone' : /iPad/.test(u) ? 'iPad' : /Android/.test(u) ? 'Android' : /Mac OS X/.test(u) ? 'macOS' : /Windows/.test(u) ? 'Windows' : /CrOS/.test(u) ? 'ChromeOS' : /Linux/.test(u) ? 'Linux' : '';
  return b + (o ? ' on ' + o : '');
})();
const send = (type, payload) => {
  if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type, sessionId: sid, timestamp: Date.now(), version: V, payload }));
};

const received = (n, kind, expected, t0, apply, preserve) => {
  let err = null;
  const f = focused();
  if (preserve === false) kept.clear();
  try {
    apply();
    // UI state reset: the nodes the update left alone are rebuilt too.
    if (preserve === false && kind === 'incremental') show(schema.nodes);
    restore(preserve === false ? null : f);
    const got = checksum(schema);
    if (expected && got !== String(expected).toLowerCase()) err = 'checksum mismatch: expected ' + expected + ', computed ' + got;
    sum = got;
  } catch (e) { err = 'cannot apply the update: ' + e.message; }
  const ms = performance.now() - t0;
  seq = n;
  last = { kind, ms, ok: !err };
  if (!err) { clearError(); meta(); } else showError({ code: 'UPDATE_FAILED', message: err }, 'Cannot show update #' + n);
  return err;
};

const onMessage = (ev) => {
  const t0 = performance.now();
  let m;
  try { m = JSON.parse(ev.data); } catch (_) { return; }
  const p = m && m.payload || {};
  // Anything from the server shows the link is alive.
  clearTimeout(pongTimer);
  switch (m.type) {
    case 'connected': {
      state = 'connected'; tries = 0;
      if (p.serverEpoch !== undefined) epoch = p.serverEpoch;
      // Resumed: the schema held is still good; missed updates follow, each
      // one more than the number held.
      if (p.resumed === true && schema) { resumes++; break; }
      if (p.initialSchema) {
        // A whole schema that fails is not asked for again: it would fail
        // the same way (the overlay says why).
        received(p.sequenceNumber, 'full', p.checksum, t0, () => setFull(p.initialSchema));
      } else { seq = p.sequenceNumber; }
      break;
    }
    case 'update': {
      const n = p.sequenceNumber;
      let err;
      if (p.type === 'full') err = received(n, 'full', p.checksum, t0, () => setFull(p.schema), p.preserveState);
      else if (!schema || n !== seq + 1) { err = 'missed an update: holding #' + seq + ', received #' + n; seq = n; last = { kind: 'incremental', ms: 0, ok: false }; }
      else err = received(n, 'incremental', p.checksum, t0, () => applyDelta(p.delta || {}), p.preserveState);
      const applyTime = Math.round((performance.now() - t0) * 1000) / 1000;
      if (!err) last.ms = applyTime;
      send('ack', err ? { sequenceNumber: n, success: false, error: err, applyTime } : { sequenceNumber: n, success: true, applyTime });
      // A failed delta: the whole schema puts the page right. A failed
      // full update is not asked for again (it would fail the same way).
      if (err && p.type !== 'full') { sum = ''; send('reload', { reason: 'error', error: err }); }
      break;
    }
    case 'error':
      if (p.severity === 'warning') console.warn('lumora:', p.code, p.message);
      else showError(p);
      break;
    case 'reload': send('reload', { reason: 'manual' }); break;
  }
  bar();
};

const connect = () => {
  clearTimeout(timer);
  if (stop) return;
  state = tries ? 'reconnecting' : 'connecting';
  bar();
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?session=' + encodeURIComponent(sid);
  const s = ws = new WebSocket(url);
  s.onopen = () => {
    const payload = { deviceId: devId, platform: 'web', deviceName: devName, clientVersion: V };
    // Resume: only once the server has said which state lineage it keeps.
    if (epoch !== null && schema) payload.resume = { sequenceNumber: seq, checksum: sum, serverEpoch: epoch };
    send('connect', payload);
  };
  s.onmessage = onMessage;
  s.onclose = (ev) => dropped(s, ev.code, ev.reason);
};
// Why the page stops for good, and what to do about it.
const ENDS = {
  deleted: ['the session was closed on the server', 'This session was deleted on the server. Open the web device URL of another session: the server prints its startup session\'s, and GET /stats lists them.'],
  expired: ['the session expired', 'Sessions live 8 h (the server\'s --session-timeout) unless extended. Restart the server, or create a session, and open the URL it gives.'],
  version: ['this page speaks another protocol version', 'The server and this page disagree on the protocol: reload the page to get the server\'s.'],
  nosession: ['no session in the URL', 'Open the web device URL the server printed (http://HOST:PORT/s/SESSION-ID).'],
  badurl: ['the session id in the URL is damaged', 'Open the web device URL the server printed (http://HOST:PORT/s/SESSION-ID), or scan its QR code again.'],
};
const end = (why) => {
  const [what, hint] = ENDS[why];
  state = 'closed: ' + what;
  stop = true;
  bar();
  showError({ code: 'CLOSED', message: 'Stopped: ' + what, severity: 'fatal' }, 'Disconnected', hint);
};
// The connection `s` is gone (closed with `code` and `reason`): stop, or
// reconnect. 1000 is also the server's idle timeout ("Connection timeout":
// a phone that slept), after which the page resumes.
const dropped = (s, code, reason) => {
  if (s !== ws) return;
  ws = null;
  clearTimeout(pongTimer);
  const fatal = code === 1000 ? (reason === 'Connection timeout' ? null : 'deleted') : { 4410: 'expired', 4426: 'version', 4400: 'nosession' }[code];
  if (fatal) { end(fatal); return; }
  tries++;
  // 200 ms doubling to 10 s, each a random 50-100 %.
  const delay = Math.min(10000, 200 * 2 ** Math.min(tries - 1, 6)) * (0.5 + Math.random() / 2);
  state = (code === 4404 ? 'session not found (is the server running with it?); ' : '') + 'reconnecting in ' + (delay / 1000).toFixed(1) + ' s';
  bar();
  timer = setTimeout(connect, delay);
};
// A protocol ping; nothing back within 10 s means a dead link (a phone
// that slept, a network that changed): the socket is dropped at once, not
// closed (a close handshake on a dead link waits a minute), and the page
// reconnects.
const probe = () => {
  const s = ws;
  if (!s || s.readyState !== 1) return;
  send('ping', { status: 'idle' });
  clearTimeout(pongTimer);
  pongTimer = setTimeout(() => {
    s.onclose = null;
    s.onmessage = null;
    try { s.close(); } catch (_) { /* already closing */ }
    dropped(s, 1006);
  }, 10000);
};
setInterval(probe, 30000);
// Back in front (a phone unlocked, a tab shown) or back online: find out now
// whether the link survived.
document.addEventListener('visibilitychange', () => { if (!document.hidden) probe(); });
window.addEventListener('online', probe);

// ---- status bar, error overlay, inspector
const bar = () => {
  $('lm-st').textContent = state;
  $('lm-bar').dataset.state = state.split(/[ :]/)[0];
  $('lm-info').textContent = '#' + seq + (last.ok === null ? '' : ' · checksum ' + (last.ok ? 'ok' : 'mismatch') + ' · ' + last.kind + ' ' + last.ms.toFixed(2) + ' ms');
};
const meta = () => {
  const f = schema && schema.metadata && str(schema.metadata.sourceFile);
  $('lm-src').textContent = f || '';
  document.title = (f ? f + ' · ' : '') + 'Lumora device';
};
const showError = (p, title, hint) => {
  const fatal = p.severity === 'fatal' || p.recoverable === false;
  $('lm-err-t').textContent = (title || (fatal ? 'Error' : 'Update refused')) + ' (' + p.code + ')';
  $('lm-err-m').textContent = String(p.message);
  $('lm-err-h').textContent = hint || (fatal
    ? 'The server ended this connection; the status bar says what happens next.'
    : 'The last good UI stays underneath. Fix the schema and save: the next good update clears this.');
  $('lm-err').hidden = false;
};
const clearError = () => { $('lm-err').hidden = true; };
$('lm-err-x').onclick = clearError;
$('lm-bar-t').onclick = () => {
  const b = $('lm-bar'), c = b.classList.toggle('min');
  $('lm-bar-t').setAttribute('aria-expanded', String(!c));
};
let hl = null;
const inspect = (t, sticky) => {
  const el = t && t.closest && t.closest('.lm');
  if (hl) hl.classList.remove('lm-hl');
  hl = el;
  const ins = $('lm-ins');
  if (!el) { if (!sticky) ins.hidden = true; return; }
  el.classList.add('lm-hl');
  ins.textContent = el.dataset.type + ' #' + el.dataset.id;
  ins.hidden = false;
};
root.addEventListener('pointerover', (e) => { if (e.pointerType === 'mouse') inspect(e.target, false); });
root.addEventListener('pointerleave', () => inspect(null, false));
root.addEventListener('click', (e) => inspect(e.target, true));

// For tests and curious developers: window.lumora.
window.lumora = { checksum, canonical, crc32, reconnect() { if (ws) ws.close(); }, ping: probe, get schema() { return schema; }, get sequence() { return seq; }, get last() { return last; }, get state() { return state; }, get resumes() { return resumes; } };
if (sid === null) end('badurl'); else if (!sid) end('nosession'); else connect();
})();
