// app.js: the Sukima dashboard: polls the gateway's JSON API and /metrics, draws tables and two canvas charts.
"use strict";

const POLL_MS = 2000;
const WINDOW_S = 300; // charts: last 5 minutes
const BUCKET_S = 10;  // one bar / point per 10 s

const state = {
  seen: new Map(),   // seq -> invocation record
  samples: [],       // {t: ms, v: seconds} throughput samples from /metrics
  lastDone: null,    // previous sukima_worker_invocations_total
  lastAt: 0,
};

const $ = (id) => document.getElementById(id);

// A gateway with tokens (issue 8): open /ui#token=TOKEN once; the token is
// kept for this tab only (sessionStorage) and taken out of the address bar.
const TOKEN = (() => {
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("sukima_token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("sukima_token");
})();

function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function get(path, text) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const headers = TOKEN ? { Authorization: "Bearer " + TOKEN } : {};
    const r = await fetch(path, { signal: ctl.signal, cache: "no-store", headers });
    if (r.status === 401 || r.status === 403)
      throw new Error(path + ": HTTP " + r.status + " (this gateway wants a token with the admin scope: open /ui#token=YOUR_TOKEN)");
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return text ? await r.text() : await r.json();
  } finally {
    clearTimeout(timer);
  }
}

// Prometheus text format -> {name: [{labels, value}]} (enough for our own output).
function parseProm(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const kv of m[3].matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    (out[m[1]] = out[m[1]] || []).push({ labels, value: parseFloat(m[4]) });
  }
  return out;
}

function one(prom, name, match) {
  let sum = 0;
  for (const s of prom[name] || []) {
    if (match && Object.keys(match).some((k) => s.labels[k] !== match[k])) continue;
    sum += s.value;
  }
  return sum;
}

function fmtDur(s) {
  if (s == null || isNaN(s)) return "–";
  if (s < 0.001) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : 1) + " ms";
  return s.toFixed(2) + " s";
}
function fmtBytes(n) {
  if (!n && n !== 0) return "–";
  const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function fmtTime(us) {
  if (!us) return "–";
  const d = new Date(us / 1000);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
function pill(s) { return `<span class="pill st-${esc(s)}">${esc(s)}</span>`; }

function fill(id, rows, cols, empty) {
  const tb = $(id).tBodies[0];
  tb.innerHTML = rows.length ? rows.join("")
    : `<tr><td colspan="${cols}" class="empty">${esc(empty)}</td></tr>`;
}

function renderWorkers(ws) {
  let slots = 0, busy = 0;
  const rows = ws.map((w) => {
    slots += w.slots || 0; busy += w.busy || 0;
    const pct = w.slots ? Math.round(100 * (w.busy || 0) / w.slots) : 0;
    return `<tr data-worker="${esc(w.id)}"><td><b>${esc(w.name || w.id)}</b></td><td>${esc(w.hostname)}</td>` +
      `<td>${esc(w.os)}</td><td>${esc(w.arch)}</td><td>${esc(w.flavour)}</td><td>${pill(w.state)}</td>` +
      `<td><span class="bar"><span style="width:${pct}%"></span></span>${w.busy || 0} / ${w.slots || 0}</td>` +
      `<td>${(w.load || 0).toFixed(2)}</td><td>${w.done || 0}</td><td class="mono">${esc(w.version)}</td></tr>`;
  });
  fill("workers", rows, 10, "no worker yet: start one with  sukima worker --nats URL");
  $("t-workers").textContent = ws.length;
  const st = {};
  ws.forEach((w) => { st[w.state] = (st[w.state] || 0) + 1; });
  $("t-workers-h").textContent = Object.entries(st).map(([k, v]) => v + " " + k).join(", ") || "none live";
  $("t-slots").textContent = busy + " / " + slots;
  $("t-slots-h").textContent = slots ? Math.round(100 * busy / slots) + "% in use" : "";
}

function renderFunctions(fs, counts) {
  const rows = fs.map((f) => `<tr><td><b>${esc(f.name)}</b></td><td>${f.version}</td><td>${f.mem_mib} MiB</td>` +
    `<td>${fmtDur((f.timeout_ms || 0) / 1000)}</td><td>${fmtBytes(f.size)}</td>` +
    `<td class="mono">${esc((f.digest || "").slice(0, 12))}</td><td>${counts[f.name] || 0}</td></tr>`);
  fill("functions", rows, 7, "no function deployed: sukima deploy NAME ELF");
  $("t-functions").textContent = fs.length;
}

function renderInvocations() {
  const recs = [...state.seen.values()].sort((a, b) => b.seq - a.seq).slice(0, 25);
  const rows = recs.map((r) => {
    const why = r.reason || (r.stderr && r.stderr.length ? r.stderr[r.stderr.length - 1] : "");
    return `<tr data-call="${esc(r.id)}"><td>${fmtTime(r.ended_at_us)}</td><td><b>${esc(r.function)}</b> <span class="muted">v${r.version}</span></td>` +
      `<td class="mono">${esc(r.id)}</td><td>${pill(r.status)}</td><td>${fmtDur(r.duration_seconds)}</td>` +
      `<td>${r.attempts || 1}</td><td class="mono">${esc((r.worker || "").slice(0, 12))}</td><td class="wrap">${esc(why)}</td></tr>`;
  });
  fill("invocations", rows, 8, "no invocation in the last hour");
}

// --- charts -------------------------------------------------------------------

function setupCanvas(c) {
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth || 640, h = c.clientHeight || 220;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  return { g, w, h };
}

function axes(g, w, h, maxY, fmt) {
  const L = 58, B = 22;
  g.strokeStyle = "#263039"; g.fillStyle = "#8a96a3"; g.font = "11px system-ui, sans-serif"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = 8 + (h - B - 8) * (1 - i / 4);
    g.beginPath(); g.moveTo(L, y); g.lineTo(w - 8, y); g.stroke();
    g.textAlign = "right"; g.fillText(fmt(maxY * i / 4), L - 6, y + 4);
  }
  g.textAlign = "center";
  for (let m = 0; m <= WINDOW_S / 60; m++) {
    const x = L + (w - 8 - L) * (1 - m * 60 / WINDOW_S);
    g.textAlign = m === 0 ? "right" : "center";
    g.fillText(m === 0 ? "now" : "-" + m + "m", m === 0 ? w - 8 : x, h - 6);
  }
  return { L, B, x: (ago) => L + (w - 8 - L) * (1 - ago / WINDOW_S), y: (v) => 8 + (h - B - 8) * (1 - v / maxY) };
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function drawLatency(now) {
  const { g, w, h } = setupCanvas($("c-latency"));
  const pts = [...state.seen.values()]
    .filter((r) => r.duration_seconds != null && now - r.ended_at_us / 1000 < WINDOW_S * 1000)
    .map((r) => ({ ago: (now - r.ended_at_us / 1000) / 1000, v: r.duration_seconds, ok: r.status === "succeeded" }));
  const n = WINDOW_S / BUCKET_S, med = [];
  for (let i = 0; i < n; i++) {
    const vs = pts.filter((p) => p.ago >= i * BUCKET_S && p.ago < (i + 1) * BUCKET_S).map((p) => p.v).sort((a, b) => a - b);
    if (vs.length) med.push({ ago: (i + 0.5) * BUCKET_S, v: vs[Math.floor(vs.length / 2)] });
  }
  const maxY = niceMax(Math.max(0.0001, ...pts.map((p) => p.v)) * 1.1);
  const ax = axes(g, w, h, maxY, (v) => fmtDur(v));
  for (const p of pts) {
    g.fillStyle = p.ok ? "rgba(79,179,255,.55)" : "rgba(255,92,108,.8)";
    g.beginPath(); g.arc(ax.x(p.ago), ax.y(p.v), 3, 0, 2 * Math.PI); g.fill();
  }
  if (med.length > 1) {
    g.strokeStyle = "#3ecf8e"; g.lineWidth = 2; g.beginPath();
    med.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, ax.x(p.ago), ax.y(p.v)));
    g.stroke();
  }
  if (!pts.length) { g.fillStyle = "#8a96a3"; g.textAlign = "center"; g.fillText("no invocation in the last 5 minutes", w / 2, h / 2); }
  const all = pts.map((p) => p.v).sort((a, b) => a - b);
  $("t-p50").textContent = all.length ? fmtDur(all[Math.floor(all.length / 2)]) : "–";
  $("t-p50-h").textContent = all.length ? "p99 " + fmtDur(all[Math.min(all.length - 1, Math.floor(all.length * 0.99))]) + " · " + all.length + " calls" : "";
}

function drawRate(now) {
  const { g, w, h } = setupCanvas($("c-rate"));
  const s = state.samples.filter((p) => now - p.t < WINDOW_S * 1000);
  const maxY = niceMax(Math.max(1, ...s.map((p) => p.v)) * 1.1);
  const ax = axes(g, w, h, maxY, (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1)));
  if (s.length > 1) {
    g.beginPath();
    s.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, ax.x((now - p.t) / 1000), ax.y(p.v)));
    g.strokeStyle = "#4fb3ff"; g.lineWidth = 2; g.stroke();
    g.lineTo(ax.x((now - s[s.length - 1].t) / 1000), ax.y(0));
    g.lineTo(ax.x((now - s[0].t) / 1000), ax.y(0));
    g.closePath(); g.fillStyle = "rgba(79,179,255,.15)"; g.fill();
  } else {
    g.fillStyle = "#8a96a3"; g.textAlign = "center"; g.fillText("collecting…", w / 2, h / 2);
  }
}

// --- polling --------------------------------------------------------------------

async function poll() {
  const now = Date.now();
  try {
    const [info, nodes, fns, logs, metrics] = await Promise.all([
      get("/system/info"), get("/system/nodes"), get("/system/functions"),
      get("/system/logs?limit=100"), get("/metrics", true),
    ]);
    $("status").className = "status ok";
    $("banner").hidden = true;
    $("gwinfo").textContent = `gateway ${info.gateway_id} · ${info.provider.version} · up ${info.uptime_s} s · ${info.nats}`;
    for (const r of logs.invocations) state.seen.set(r.seq, r);
    // Keep the newest 2000 records: enough for the charts, bounded memory.
    if (state.seen.size > 2000) {
      const keys = [...state.seen.keys()].sort((a, b) => a - b);
      keys.slice(0, keys.length - 2000).forEach((k) => state.seen.delete(k));
    }
    if (state.lastDone === null && logs.invocations.length < 100) {
      // First poll with the whole recent history in hand: backfill the
      // throughput chart from completion times, 10 s per point.
      for (let ago = WINDOW_S - BUCKET_S; ago >= 0; ago -= BUCKET_S) {
        const t = now - ago * 1000;
        const n = logs.invocations.filter((r) => r.ended_at_us / 1000 > t - BUCKET_S * 1000 && r.ended_at_us / 1000 <= t).length;
        state.samples.push({ t, v: n / BUCKET_S });
      }
    }
    const prom = parseProm(metrics);
    const done = one(prom, "sukima_worker_invocations_total");
    if (state.lastDone !== null && now > state.lastAt) {
      state.samples.push({ t: now, v: Math.max(0, done - state.lastDone) * 1000 / (now - state.lastAt) });
      state.samples = state.samples.filter((p) => now - p.t < WINDOW_S * 1000);
      $("t-rate").textContent = state.samples[state.samples.length - 1].v.toFixed(1);
    }
    state.lastDone = done; state.lastAt = now;
    $("t-queue").textContent = one(prom, "sukima_queue_depth");
    $("t-queue-h").textContent = one(prom, "sukima_queue_in_flight") + " in flight";
    const counts = {};
    for (const s of prom.gateway_function_invocation_total || []) counts[s.labels.function_name] = (counts[s.labels.function_name] || 0) + s.value;
    renderWorkers(nodes);
    renderFunctions(fns, counts);
    renderInvocations();
  } catch (e) {
    $("status").className = "status bad";
    $("banner").hidden = false;
    $("banner").textContent = "cannot read from the gateway: " + e.message;
  }
  drawLatency(now);
  drawRate(now);
  document.body.dataset.polls = String(+(document.body.dataset.polls || 0) + 1);
}

poll();
setInterval(poll, POLL_MS);
window.addEventListener("resize", () => { drawLatency(Date.now()); drawRate(Date.now()); });
