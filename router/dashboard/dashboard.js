// The built-in dashboard: polls GET /admin/dashboard every two seconds with the admin token
// (kept in this tab's sessionStorage only) and draws it; a recent request opens to its decision
// and the waterfall of its stages and attempts (GET /admin/dashboard/requests/{id}).
"use strict";
(() => {
  const TOKEN_KEY = "edge-router-admin-token";
  const SOURCES = ["cloud", "edge", "cache", "none"];
  const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#8b98a5", "#a371f7", "#f85149", "#79c0ff", "#ffa657"];
  const $ = (selector) => document.querySelector(selector);
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let timer = null;
  const charts = {};

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else if (name.startsWith("data-")) node.setAttribute(name, value);
      else node[name] = value;
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child));
    return node;
  }

  async function get(path) {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function setStatus(text, kind) {
    const status = $("#status");
    status.textContent = text;
    status.className = kind || "";
  }

  function fmt(value, digits = 1) {
    return value === null || value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);
  }

  function chart(id, names, yLabel) {
    const target = $(`#${id}`);
    const series = [{}].concat(names.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true })));
    const options = {
      width: target.clientWidth || 500,
      height: 180,
      series,
      axes: [{ stroke: "#8b98a5", grid: { stroke: "#222b33" } }, { stroke: "#8b98a5", grid: { stroke: "#222b33" }, label: yLabel }],
      legend: { live: false },
    };
    const data = [[]].concat(names.map(() => []));
    return { plot: new uPlot(options, data, target), names };
  }

  function ensureChart(id, names, yLabel) {
    const existing = charts[id];
    if (existing && existing.names.join() === names.join()) return existing;
    if (existing) existing.plot.destroy();
    charts[id] = chart(id, names, yLabel);
    return charts[id];
  }

  function lastSeconds(seconds, n) {
    return seconds.slice(Math.max(0, seconds.length - n - 1), seconds.length - 1);
  }

  function renderTiles(data) {
    const recent = lastSeconds(data.seconds, 10);
    const total = recent.reduce((sum, s) => sum + SOURCES.reduce((a, k) => a + s.served_by[k], 0), 0);
    const errors = recent.reduce((sum, s) => sum + s.errors, 0);
    $("#tile-rate").textContent = fmt(total / Math.max(1, recent.length));
    $("#tile-errors").textContent = total ? `${fmt((100 * errors) / total)} %` : "–";
    const last = [...recent].reverse().find((s) => s.added_p50_ms !== null);
    $("#tile-added").textContent = last ? `${fmt(last.added_p50_ms, 2)} / ${fmt(last.added_p99_ms, 2)} ms` : "–";
    const cache = data.cache;
    $("#tile-cache").textContent = cache.lookups ? `${fmt((100 * cache.hits) / cache.lookups)} %` : "–";
    const spend = data.tenants.reduce((a, t) => a + t.spend_usd, 0);
    const saved = data.tenants.reduce((a, t) => a + t.saved_usd, 0);
    $("#tile-spend").textContent = `$${spend.toFixed(4)} / $${saved.toFixed(4)}`;
  }

  function renderCharts(data) {
    const seconds = data.seconds;
    const xs = seconds.map((s) => s.t);
    const requests = ensureChart("chart-requests", SOURCES, "req/s");
    requests.plot.setData([xs, ...SOURCES.map((k) => seconds.map((s) => s.served_by[k]))]);
    const added = ensureChart("chart-added", ["p50", "p99"], "ms");
    added.plot.setData([xs, seconds.map((s) => s.added_p50_ms), seconds.map((s) => s.added_p99_ms)]);
    const where = [...new Set(seconds.flatMap((s) => Object.keys(s.ttft_p50_ms)))].sort();
    const ttft = ensureChart("chart-ttft", where.length ? where : ["(no streams yet)"], "ms");
    ttft.plot.setData([xs, ...ttft.names.map((w) => seconds.map((s) => (w in s.ttft_p50_ms ? s.ttft_p50_ms[w] : null)))]);
    const errors = ensureChart("chart-errors", ["errors"], "per s");
    errors.plot.setData([xs, seconds.map((s) => s.errors)]);
  }

  function renderEndpoints(endpoints) {
    const cards = endpoints.map((e) => {
      const ttft = Object.entries(e.ttft_ms).map(([m, v]) => `${m} ${fmt(v)} ms`).join(", ") || "no TTFT yet";
      // With serve --workers N, one card per endpoint and worker: each keeps its own estimates.
      const worker = e.worker == null ? "" : ` · worker ${e.worker}`;
      return el(
        "div",
        { class: "endpoint", "data-endpoint": e.name, "data-state": e.state, "data-worker": e.worker ?? "" },
        el("div", { class: "name" }, `${e.name}${worker} `, el("span", { class: "state" }, e.state)),
        el("div", { class: "meta" }, `${e.region} · ${e.locality} · RTT ${fmt(e.rtt_ms)} ms`),
        el("div", { class: "meta" }, `in flight ${e.in_flight}/${e.max_concurrency} · ejected ${e.ejections}×`),
        el("div", { class: "meta" }, `TTFT ${ttft}`),
      );
    });
    $("#endpoints").replaceChildren(...cards);
  }

  function renderTenants(tenants) {
    $("#tenants tbody").replaceChildren(
      ...tenants.map((t) =>
        el("tr", {}, el("td", {}, t.tenant), el("td", {}, t.requests), el("td", {}, `${t.input_tokens} / ${t.output_tokens}`),
          el("td", {}, `$${t.spend_usd.toFixed(6)}`),
          el("td", { class: t.budget_used >= 0.9 ? "status-error" : "" }, t.budget_used === null || t.budget_used === undefined ? "–" : `${fmt(100 * t.budget_used)} %`),
          el("td", {}, t.cache_hits), el("td", {}, `$${t.saved_usd.toFixed(6)}`)),
      ),
    );
  }

  function renderRecent(recent) {
    $("#recent tbody").replaceChildren(
      ...recent.map((r) => {
        const row = el("tr", { "data-id": r.id },
          el("td", {}, new Date(r.at * 1000).toLocaleTimeString()), el("td", {}, r.tenant), el("td", {}, r.model),
          el("td", {}, r.endpoint ? `${r.served_by} (${r.endpoint})` : r.served_by),
          el("td", { class: r.status >= 400 || r.error_type ? "status-error" : "" }, r.error_type ? `${r.status} ${r.error_type}` : r.status),
          el("td", {}, fmt(r.duration_ms, 2)));
        row.addEventListener("click", () => openRequest(r.id));
        return row;
      }),
    );
  }

  function bar(kind, startMs, durationMs, totalMs) {
    const left = (100 * startMs) / totalMs;
    const width = Math.max(0.3, (100 * durationMs) / totalMs);
    const node = el("div", { class: `bar ${kind}` });
    node.style.left = `${left}%`;
    node.style.width = `${Math.min(width, 100 - left)}%`;
    return node;
  }

  function waterfallRow(label, kind, startMs, durationMs, totalMs) {
    return el("div", { class: "row" }, el("span", {}, label), el("div", { class: "track" }, bar(kind, startMs, durationMs, totalMs)), el("span", {}, `${fmt(durationMs, 2)} ms`));
  }

  async function openRequest(id) {
    let detail;
    try {
      detail = await get(`/admin/dashboard/requests/${encodeURIComponent(id)}`);
    } catch (error) {
      setStatus(String(error), "bad");
      return;
    }
    $("#detail").hidden = false;
    $("#detail-id").textContent = `${detail.id} · ${detail.tenant} · ${detail.model} · ${detail.status}`;
    $("#detail-reason").textContent = detail.reason || "(refused before routing)";
    $("#detail-candidates tbody").replaceChildren(
      ...detail.candidates.map((c) => el("tr", {}, el("td", {}, c.endpoint), el("td", {}, c.region), el("td", {}, fmt(c.predicted_latency_ms)),
        el("td", {}, c.price_usd.toFixed(6)), el("td", {}, c.available ? "yes" : "no"))),
    );
    const total = Math.max(detail.duration_ms, 0.001);
    const rows = [waterfallRow("read and parse", "head", 0, detail.head_ms, total)];
    for (const stage of detail.stages) rows.push(waterfallRow(`stage ${stage.name}`, "stage", stage.start_ms, stage.duration_ms, total));
    for (const attempt of detail.attempts) {
      const kind = attempt.outcome === "ok" ? "attempt" : "attempt failed";
      const label = `${attempt.hedge ? "hedge" : "attempt"} ${attempt.endpoint} (${attempt.outcome})`;
      rows.push(waterfallRow(label, kind, attempt.start_ms, attempt.duration_ms, total));
    }
    rows.push(waterfallRow("whole request", "head", 0, detail.duration_ms, total));
    $("#waterfall").replaceChildren(...rows);
  }

  async function refresh() {
    try {
      const data = await get("/admin/dashboard");
      renderTiles(data);
      renderCharts(data);
      renderEndpoints(data.endpoints);
      renderTenants(data.tenants);
      renderRecent(data.recent);
      const workers = data.workers.configured > 1 ? ` · ${data.workers.answered}/${data.workers.configured} workers` : "";
      setStatus(`live · ${new Date().toLocaleTimeString()}${workers}`, "ok");
    } catch (error) {
      setStatus(String(error), "bad");
    }
  }

  function start() {
    if (timer) clearInterval(timer);
    refresh();
    timer = setInterval(refresh, 2000);
  }

  $("#login").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("#token").value;
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  });
  if (token) start();
})();
