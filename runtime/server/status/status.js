// smartrouter status page. Reads the admin endpoints of the server that
// served it and draws everything with DOM calls: every string that comes
// from an upstream or the configuration (model ids, channel names) is set
// with textContent or as an attribute value, never parsed as HTML.
//
// Admin auth: on a 401 the page asks for the admin token, keeps it in this
// tab's sessionStorage and sends it as "Authorization: Bearer" on its own
// fetches only; it never goes into a URL.
"use strict";
(() => {
  const TOKEN_KEY = "smartrouter.adminToken";
  const FAST_MS = 5000;   // snapshot, channels, recent requests
  const SLOW_MS = 30000;  // usage charts
  const SVGNS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let fastTimer = 0, slowTimer = 0, running = false, epoch = 0;
  let readings = [];                  // request counters of the last minute: {t, requests, errors}
  let today = new Map();              // channel id -> {requests, cost}
  let lastChannels = null;
  let lastUsageTotals = null;         // totals of the last usage answer

  class AuthError extends Error {}

  // call fetches an admin path and returns {status, body}; a 401 throws
  // AuthError; a network failure throws.
  async function call(path) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
    if (r.status === 401) throw new AuthError("the admin token was refused");
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    return { status: r.status, body };
  }

  // api is call for endpoints whose only good answer is a 200.
  async function api(path) {
    const { status, body } = await call(path);
    if (status !== 200) {
      const msg = body && body.error && body.error.message ? body.error.message : "HTTP " + status;
      const e = new Error(msg);
      e.status = status;
      throw e;
    }
    return body;
  }

  // el builds an element; text children become text nodes.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }
  function td(text, cls) { return el("td", cls ? { class: cls } : null, text); }
  function fill(tbody, rows, empty, cols) {
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(el("tr", null, el("td", { colspan: String(cols), class: "muted" }, empty)));
  }
  function kv(dl, pairs) {
    const out = [];
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === "") continue;
      out.push(el("dt", null, k), el("dd", null, v));
    }
    dl.replaceChildren(...out);
  }

  const num = (n) => (typeof n === "number" ? n : 0);
  function usd(x) {
    x = num(x);
    if (x === 0) return "$0";
    return "$" + (x >= 1 ? x.toFixed(2) : x.toPrecision(3));
  }
  function ms(x) {
    x = num(x);
    return x < 1 ? x.toFixed(2) : x < 10 ? x.toFixed(1) : String(Math.round(x));
  }
  function clock(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false });
  }
  function ago(iso) {
    const t = Date.parse(iso);
    if (isNaN(t)) return "";
    let s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return (s / 3600).toFixed(1) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }
  function until(iso) {
    if (!iso) return "until a reload or a recovery";
    const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
    return "until " + clock(iso) + (s > 0 ? " (" + s + " s)" : "");
  }
  function setConn(text, cls) {
    const c = $("conn");
    c.textContent = text;
    c.className = cls || "";
  }

  // --- snapshot and traffic -------------------------------------------------

  function renderSnapshot(s) {
    const state = s.stale ? el("span", { class: "warn" }, "stale sources (served anyway)") : el("span", { class: "ok" }, "fresh");
    kv($("snap"), [
      ["Generation", String(s.generation) + " (publish #" + s.seq + ")"],
      ["Mode", s.mode + (s.fallback_reason ? " — " + s.fallback_reason : "")],
      ["Format", s.format_version],
      ["Built", s.built_at ? ago(s.built_at) + " (" + new Date(s.built_at).toLocaleString() + ")" : "unknown"],
      ["Loaded", s.loaded_at ? ago(s.loaded_at) : ""],
      ["Sources", state],
      ["Warning", s.warning ? el("span", { class: "warn" }, s.warning) : ""],
      ["Last reload error", s.last_reload_error ? el("span", { class: "bad" }, s.last_reload_error.reason + ": " + s.last_reload_error.message) : ""],
      ["Last refresh", s.tasks && s.tasks.last_refresh_success ? ago(s.tasks.last_refresh_success) : ""],
    ]);
    const src = s.sources || [];
    $("src-count").textContent = String(src.length);
    fill($("sources").tBodies[0], src.map((x) => el("tr", null,
      td(x.path, "id"),
      td(x.status, x.status === "fresh" ? "ok" : x.status === "stale" ? "warn" : "muted"),
      td(x.detail || ""))), "No sources recorded.", 3);
  }

  // renderTraffic shows the request and error rates over the readings of
  // the last minute (server clock); before a second reading, the average
  // since start once the server has run a minute.
  function renderTraffic(t, now, usageTotals) {
    let rate = "measuring…", errRate = "measuring…";
    if (readings.length && t.requests < readings[readings.length - 1].requests) readings = []; // a restart
    readings.push({ t: now, requests: num(t.requests), errors: num(t.errors) });
    while (readings.length > 2 && now - readings[1].t >= 60000) readings.shift();
    const first = readings[0];
    if (readings.length > 1 && now > first.t) {
      const dt = (now - first.t) / 60000;
      const dr = t.requests - first.requests, de = t.errors - first.errors;
      rate = (dr / dt).toFixed(1) + " req/min (last " + Math.round(dt * 60) + " s)";
      errRate = dr ? ((100 * de) / dr).toFixed(1) + " % of them" : "no requests";
    } else if (t.uptime_s >= 60) {
      rate = ((60 * t.requests) / t.uptime_s).toFixed(1) + " req/min (since start)";
      errRate = t.requests ? ((100 * t.errors) / t.requests).toFixed(1) + " % since start" : "no requests";
    }
    const pairs = [
      ["Request rate", rate],
      ["Error rate", errRate],
      ["Since start", t.requests + " requests, " + t.errors + " errors"],
      ["Uptime", formatUptime(t.uptime_s)],
    ];
    if (usageTotals) {
      pairs.push(["Last 24 h", usageTotals.requests + " requests, " + usageTotals.errors + " errors, " +
        usd(usageTotals.cost_usd) + ", " + usageTotals.input_tokens + " / " + usageTotals.output_tokens + " tokens in/out"]);
    }
    kv($("traffic"), pairs);
  }
  function formatUptime(s) {
    s = Math.floor(num(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min";
  }

  // --- channels ---------------------------------------------------------------

  function healthCell(h) {
    const cls = h >= 0.8 ? "ok" : h >= 0.3 ? "warn" : "bad";
    return td(h.toFixed(2), "num " + cls);
  }
  function cooldownCell(c) {
    const cell = el("td");
    if (c.cooling) {
      cell.append(el("span", { class: "cool bad" }, "channel: " + c.cooling.kind + " " + until(c.cooling.until) +
        (c.cooling.strikes > 1 ? ", strike " + c.cooling.strikes : "")));
    }
    for (const p of c.pairs || []) {
      if (!p.cooling) continue;
      cell.append(el("span", { class: "cool warn" }, p.model + ": " + p.kind + " " + until(p.until) +
        (p.strikes > 1 ? ", strike " + p.strikes : "")));
    }
    if (c.consecutive_failures > 0) cell.append(el("span", { class: "cool muted" }, c.consecutive_failures + (c.consecutive_failures === 1 ? " failure" : " failures") + " in a row"));
    if (!cell.childNodes.length) cell.append(el("span", { class: "muted" }, "none"));
    return cell;
  }
  function renderChannels(list) {
    const rows = list.map((c) => {
      const name = el("td", null, el("strong", null, c.name), " ", el("span", { class: "id muted" }, c.id));
      if (!c.enabled) name.append(" ", el("span", { class: "tag bad" }, "disabled"));
      if (c.tags && c.tags.length) name.append(el("br"), ...c.tags.map((t) => el("span", { class: "tag" }, t)));
      const u = today.get(c.id) || { requests: 0, cost: 0 };
      const req = td(u.requests + (c.daily_limit ? " / " + c.daily_limit : ""), "num");
      if (c.daily_limit && u.requests >= c.daily_limit) req.classList.add("bad");
      return el("tr", { "data-channel": c.id }, name,
        td(c.provider + (c.rate_limit ? " (" + c.rate_limit + "/min)" : "")),
        healthCell(num(c.health)),
        td(c.latency_ms ? ms(c.latency_ms) + " ms" : "—", "num"),
        cooldownCell(c), req, td(usd(u.cost), "num"));
    });
    fill($("channels").tBodies[0], rows, "No channels in this snapshot.", 7);
  }

  // --- usage charts -----------------------------------------------------------

  const HOUR = 3600000;
  function hourStart(t) { return Math.floor(t / HOUR) * HOUR; }

  // drawChart draws stacked hourly bars of the 24 hours up to the answer's
  // "to", one colour per series (the 7 largest, the rest as "other").
  function drawChart(fig, rows, key, to) {
    const end = hourStart(isNaN(to) ? Date.now() : to), start = end - 23 * HOUR;
    const totals = new Map();
    for (const r of rows) {
      const k = r[key] === "" || r[key] === undefined ? "(none)" : String(r[key]);
      const t = totals.get(k) || { requests: 0, cost: 0 };
      t.requests += num(r.requests);
      t.cost += num(r.cost_usd);
      totals.set(k, t);
    }
    const ranked = [...totals.entries()].sort((a, b) => b[1].requests - a[1].requests || (a[0] < b[0] ? -1 : 1));
    const series = ranked.slice(0, ranked.length > 8 ? 7 : 8).map((e) => e[0]);
    const idx = new Map(series.map((k, i) => [k, i]));
    const other = ranked.length > series.length;
    const names = other ? [...series, "other"] : series;
    const grid = Array.from({ length: 24 }, () => new Array(names.length).fill(0));
    for (const r of rows) {
      const t = Date.parse(r.hour);
      if (isNaN(t)) continue;
      const b = Math.round((hourStart(t) - start) / HOUR);
      if (b < 0 || b > 23) continue;
      const k = r[key] === "" || r[key] === undefined ? "(none)" : String(r[key]);
      const i = idx.has(k) ? idx.get(k) : names.length - 1;
      grid[b][i] += num(r.requests);
    }
    const max = Math.max(1, ...grid.map((g) => g.reduce((a, b) => a + b, 0)));
    const W = 480, H = 170, L = 34, B = 18, T = 6, bw = (W - L) / 24;
    const total = ranked.reduce((a, e) => a + e[1].requests, 0);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": fig.querySelector("figcaption").textContent + ": " + total + " requests in total" });
    const y = (v) => T + (H - T - B) * (1 - v / max);
    for (const v of [0, max / 2, max]) {
      s.append(svg("line", { class: "axis", x1: L, x2: W, y1: y(v), y2: y(v) }));
      const lab = svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" });
      lab.textContent = Number.isInteger(v) ? String(v) : v.toFixed(1);
      s.append(lab);
    }
    for (let b = 0; b < 24; b++) {
      const t0 = new Date(start + b * HOUR);
      if (b % 6 === 0) {
        const lab = svg("text", { x: L + b * bw + bw / 2, y: H - 4, "text-anchor": "middle" });
        lab.textContent = String(t0.getUTCHours()).padStart(2, "0") + ":00";
        s.append(lab);
      }
      let acc = 0;
      grid[b].forEach((v, i) => {
        if (!v) return;
        const r = svg("rect", { class: "bar s" + Math.min(i, 7), x: L + b * bw + 1, width: Math.max(1, bw - 2),
          y: y(acc + v), height: Math.max(0.5, y(acc) - y(acc + v)), "data-series": names[i] });
        const tip = svg("title");
        tip.textContent = t0.toISOString().slice(0, 13) + ":00 UTC · " + names[i] + ": " + v + " requests";
        r.append(tip);
        s.append(r);
        acc += v;
      });
    }
    fig.querySelector(".plot").replaceChildren(s);
    const legend = names.map((n, i) => {
      const t = n === "other" && other ? ranked.slice(series.length).reduce((a, e) => ({ requests: a.requests + e[1].requests, cost: a.cost + e[1].cost }), { requests: 0, cost: 0 }) : totals.get(n);
      return el("li", null, el("span", { class: "swatch s" + Math.min(i, 7), "aria-hidden": "true" }), n,
        el("span", { class: "muted" }, " " + t.requests + " req, " + usd(t.cost)));
    });
    fig.querySelector(".legend").replaceChildren(...legend);
    if (!legend.length) fig.querySelector(".legend").append(el("li", { class: "muted" }, "No requests in the last 24 hours."));
  }

  async function refreshUsage() {
    // The server's defaults: to = now, from = to - 24 h (its clock decides).
    const q = (g) => "/v1/admin/usage?group_by=" + g;
    try {
      const [byChan, byModel] = await Promise.all([api(q("hour,channel")), api(q("hour,model"))]);
      drawChart($("chart-channel"), byChan.rows || [], "channel", Date.parse(byChan.to));
      drawChart($("chart-model"), byModel.rows || [], "model", Date.parse(byModel.to));
      const midnight = new Date(); midnight.setUTCHours(0, 0, 0, 0);
      today = new Map();
      for (const r of byChan.rows || []) {
        if (Date.parse(r.hour) < midnight.getTime()) continue;
        const t = today.get(r.channel) || { requests: 0, cost: 0 };
        t.requests += num(r.requests);
        t.cost += num(r.cost_usd);
        today.set(r.channel, t);
      }
      lastUsageTotals = byChan.totals || null;
      $("usage-note").textContent = "From the usage ledger, " + String(byChan.from).slice(0, 16).replace("T", " ") +
        " to " + String(byChan.to).slice(0, 16).replace("T", " ") + " UTC; updated every " + SLOW_MS / 1000 + " s.";
      if (lastChannels) renderChannels(lastChannels);
    } catch (e) {
      if (e instanceof AuthError) throw e;
      $("usage-note").textContent = "Usage data unavailable (" + e.message + "): the usage ledger may be off.";
    }
  }

  // --- live tail ----------------------------------------------------------------

  function renderTail(list) {
    const rows = list.map((r) => el("tr", null,
      el("td", { class: "num", title: r.time + " · " + r.request_id }, clock(r.time)),
      td(r.key || "—"), td(r.surface), td(r.model_requested, "id"), td(r.channel || "—", "id"), td(r.model_used || "—", "id"),
      td(String(r.status) + (r.error_code ? " " + r.error_code : ""), "num " + (r.status >= 400 ? "bad" : "ok")),
      td(String(r.attempts), "num"),
      td(num(r.input_tokens) + " / " + num(r.output_tokens), "num"),
      td(usd(r.cost_usd), "num"),
      td(ms(r.upstream_ms), "num")));
    fill($("tail").tBodies[0], rows, "No requests yet.", 11);
  }
  async function refreshTail() {
    try {
      const a = await api("/v1/admin/requests?limit=50");
      renderTail(a.data || []);
      $("tail-note").textContent = "Newest first, the last " + (a.data || []).length + "; updated every " + FAST_MS / 1000 + " s.";
    } catch (e) {
      if (e instanceof AuthError) throw e;
      $("tail-note").textContent = "Recent requests unavailable (" + e.message + ").";
    }
  }

  // --- route explorer -------------------------------------------------------

  async function explain(ev) {
    ev.preventDefault();
    const model = $("route-model").value.trim();
    if (!model) return;
    const p = new URLSearchParams({ model });
    const strat = $("route-strategy").value.trim();
    if (strat) p.set("strategy", strat);
    const out = $("route-outcome");
    out.className = "";
    out.textContent = "Routing…";
    try {
      const { status, body } = await call("/v1/admin/route?" + p.toString());
      if (!body || !body.outcome) {
        out.className = "bad";
        out.textContent = body && body.error ? body.error.message : "HTTP " + status;
        $("route-result").hidden = true;
        return;
      }
      const ex = body.explain || { candidates: [], filtered: [] };
      const strategy = ex.strategy && ex.strategy.name ? ", strategy " + ex.strategy.name : "";
      out.className = body.outcome === "routed" ? "ok" : "bad";
      out.textContent = body.outcome + (body.router_status ? " (" + body.router_status + ")" : "") + ": " +
        (ex.candidates || []).length + " candidates, " + (ex.filtered || []).length + " filtered, " +
        num(ex.matched) + " matched" + strategy + (ex.panic ? "; panic routing (all were cooling)" : "");
      fill($("route-candidates").tBodies[0], (ex.candidates || []).map((c, i) => el("tr", null,
        td(String(i + 1), "num"), td(c.channel, "id"), td(c.model, "id"), td(num(c.total).toFixed(4), "num"),
        td(usd(c.estimated_usd), "num"),
        td(Object.entries(c.scores || {}).map(([k, v]) => k + " " + num(v).toFixed(2)).join(" · "), "muted"))),
      "No candidate.", 6);
      fill($("route-filtered").tBodies[0], (ex.filtered || []).map((f) => el("tr", null,
        td(f.channel, "id"), td(f.model, "id"), td(f.reason), td(f.detail || ""))), "Nothing was filtered.", 4);
      $("route-result").hidden = false;
    } catch (e) {
      if (e instanceof AuthError) return needLogin();
      out.className = "bad";
      out.textContent = "Cannot reach the server: " + e.message;
    }
  }

  // --- polling and login ------------------------------------------------------

  async function refreshFast() {
    const [snap, chans] = await Promise.all([api("/v1/admin/snapshot"), api("/v1/admin/channels"), refreshTail()]);
    renderSnapshot(snap);
    lastChannels = chans.data || [];
    renderChannels(lastChannels);
    const now = Date.parse(chans.now);
    renderTraffic(chans.traffic || {}, isNaN(now) ? Date.now() : now, lastUsageTotals);
  }

  // tick runs fn now and then every ms until the polling stops or restarts
  // (a new epoch).
  async function tick(fn, ms, which, ep) {
    if (!running || ep !== epoch) return;
    if (!document.hidden) {
      try {
        await fn();
        if (ep === epoch) setConn("Updated " + new Date().toLocaleTimeString([], { hour12: false }), "");
      } catch (e) {
        if (ep !== epoch) return;
        if (e instanceof AuthError) return needLogin();
        setConn("Cannot read the server: " + e.message + "; retrying", "bad");
      }
    }
    if (!running || ep !== epoch) return;
    const t = setTimeout(() => tick(fn, ms, which, ep), ms);
    if (which === "fast") fastTimer = t; else slowTimer = t;
  }

  function startPolling() {
    running = true;
    epoch++;
    $("login").hidden = true;
    $("main").hidden = false;
    $("logout").hidden = !token;
    tick(refreshUsage, SLOW_MS, "slow", epoch);
    tick(refreshFast, FAST_MS, "fast", epoch);
  }
  function stopPolling() {
    running = false;
    epoch++;
    clearTimeout(fastTimer);
    clearTimeout(slowTimer);
  }
  function needLogin() {
    stopPolling();
    $("main").hidden = true;
    $("login").hidden = false;
    $("logout").hidden = true;
    setConn("Sign in with the admin token.", "warn");
    if (token) $("login-error").textContent = "The stored admin token was refused; enter it again.";
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    $("token").focus();
  }

  async function login(ev) {
    ev.preventDefault();
    const input = $("token");
    const v = input.value.trim();
    if (!v) return;
    token = v;
    try {
      await call("/v1/admin/snapshot");
    } catch (e) {
      token = "";
      $("login-error").textContent = e instanceof AuthError ? "That token was refused." : "Cannot reach the server: " + e.message;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, v);
    input.value = "";
    $("login-error").textContent = "";
    startPolling();
  }

  function init() {
    $("login-form").addEventListener("submit", login);
    $("route-form").addEventListener("submit", explain);
    $("logout").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      token = "";
      stopPolling();
      location.reload();
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && running) { stopPolling(); startPolling(); }
    });
    startPolling();
  }
  init();
})();
