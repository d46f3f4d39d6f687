/* pilotfish mesh UI: plain JS, no dependencies. Views are chosen by the URL hash
   (#graph, #dashboards/mesh, #traces, #controlplane, #explain/POD); every view refreshes
   itself every few seconds without reloading the page. */
"use strict";
const $ = (sel) => document.querySelector(sel);
const REFRESH_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
const state = { view: "graph", dash: "mesh", dashPick: "", selected: null, graph: null, timer: null };

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }
function win() { return $("#window").value; }
async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}
function fmtRate(v) { return v == null ? "–" : v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2); }
function fmtPct(v) { return v == null ? "–" : (v * 100).toFixed(v >= 0.1 || v === 0 ? 0 : 1) + "%"; }
function fmtMs(v) { return v == null ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(v >= 10 ? 0 : 1) + " ms"; }
function label(id) { if (id === "unknown") return "unknown"; const [, rest] = id.split(":"); return rest.split("/")[1]; }
function setLive(ok, text) { const l = $("#live"); l.textContent = text; l.classList.toggle("stale", !ok); }

/* ---------- graph ---------- */
function layout(nodes, edges) {
  const depth = Object.fromEntries(nodes.map((n) => [n.id, 0]));
  for (let i = 0; i < nodes.length; i++) {
    let moved = false;
    for (const e of edges) {
      if (e.source !== e.target && depth[e.target] < depth[e.source] + 1 && depth[e.source] + 1 < nodes.length) {
        depth[e.target] = depth[e.source] + 1; moved = true;
      }
    }
    if (!moved) break;
  }
  const cols = {};
  for (const n of nodes) (cols[depth[n.id]] ||= []).push(n);
  const pos = {};
  const colW = 270, rowH = 74;
  let maxRows = 1;
  for (const [d, list] of Object.entries(cols)) {
    list.sort((a, b) => a.name.localeCompare(b.name));
    maxRows = Math.max(maxRows, list.length);
    list.forEach((n, i) => { pos[n.id] = { x: 30 + d * colW, y: 30 + i * rowH, col: +d, row: i, n: list.length }; });
  }
  for (const p of Object.values(pos)) p.y += ((maxRows - p.n) * rowH) / 2;
  const width = 30 + (Object.keys(cols).length) * colW, height = 30 + maxRows * rowH;
  return { pos, width, height };
}

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function nodeHealth(id, edges) {
  const inbound = edges.filter((e) => e.target === id);
  const all = inbound.length ? inbound : edges.filter((e) => e.source === id);
  if (!all.length) return "idle";
  const rps = all.reduce((s, e) => s + e.rps, 0);
  const err = all.reduce((s, e) => s + e.rps * e.error_rate, 0);
  if (rps <= 0) return "idle";
  return err / rps >= 0.2 ? "failure" : err / rps >= 0.001 ? "degraded" : "healthy";
}

function drawGraph(g) {
  const svg = $("#graph");
  svg.textContent = "";
  const { pos, width, height } = layout(g.nodes, g.edges);
  svg.setAttribute("viewBox", `0 0 ${Math.max(width, 400)} ${Math.max(height, 160)}`);
  const defs = el("defs", {}, svg);
  for (const h of ["healthy", "degraded", "failure", "idle"]) {
    const m = el("marker", { id: "arrow-" + h, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead " + h, fill: `var(--${{healthy:"ok",degraded:"warn",failure:"bad",idle:"idle"}[h]})` }, m);
  }
  const W = 150, H = 40;
  const edgeLayer = el("g", {}, svg), nodeLayer = el("g", {}, svg), labelLayer = el("g", {}, svg);
  for (const e of g.edges) {
    const a = pos[e.source], b = pos[e.target];
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    const mx = (x1 + x2) / 2;
    const d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
    const grp = el("g", { class: `edge ${e.health}`, "data-id": e.id, "data-source": e.source, "data-target": e.target,
      "data-rps": e.rps, "data-error-rate": e.error_rate, "data-health": e.health, "data-mtls": e.mtls }, edgeLayer);
    el("path", { d, class: "hit" }, grp);
    el("path", { d, class: `line ${e.health}`, "marker-end": `url(#arrow-${e.health})` }, grp);
    const lx = mx, ly = (y1 + y2) / 2 - 6;
    const lbl = el("g", { class: `edge-label ${e.health}`, "data-id": e.id }, labelLayer);
    const t = el("text", { x: lx, y: ly, "text-anchor": "middle", class: "lbl" }, lbl);
    t.textContent = `${fmtRate(e.rps)}/s` + (e.error_rate > 0 ? ` · ${fmtPct(e.error_rate)} err` : "") + (e.p99_ms != null ? ` · p99 ${fmtMs(e.p99_ms)}` : "");
    if (e.mtls) {
      const lock = el("g", { class: "lock", transform: `translate(${lx - 5},${ly + 4})` }, lbl);
      el("title", {}, lock).textContent = "mutual TLS";
      el("rect", { x: 0, y: 5, width: 10, height: 8, rx: 1.5, fill: "#3e8635" }, lock);
      el("path", { d: "M2,5 V3 a3,3 0 0 1 6,0 V5", fill: "none", stroke: "#3e8635", "stroke-width": 1.6 }, lock);
    }
    grp.addEventListener("click", () => selectEdge(e));
  }
  for (const n of g.nodes) {
    const p = pos[n.id];
    const h = nodeHealth(n.id, g.edges);
    const grp = el("g", { class: `node ${n.type}${state.selected === n.id ? " selected" : ""}`, "data-id": n.id, "data-type": n.type, "data-health": h, transform: `translate(${p.x},${p.y})` }, nodeLayer);
    el("title", {}, grp).textContent = `${n.type} ${n.namespace}/${n.name}`;
    if (n.type === "service") {
      el("polygon", { points: `14,0 ${W - 14},0 ${W},${H / 2} ${W - 14},${H} 14,${H} 0,${H / 2}`, class: h }, grp);
    } else {
      el("rect", { width: W, height: H, rx: n.gateway ? 12 : 4, class: h, "stroke-dasharray": n.type === "unknown" ? "4 3" : null }, grp);
    }
    const name = el("text", { x: W / 2, y: 17, "text-anchor": "middle" }, grp);
    name.textContent = n.name.length > 22 ? n.name.slice(0, 21) + "…" : n.name;
    const sub = el("text", { x: W / 2, y: 32, "text-anchor": "middle", class: "sub" }, grp);
    sub.textContent = n.type === "unknown" ? "outside the mesh" : `${n.gateway ? "gateway" : n.type} · ${n.namespace}`;
    grp.addEventListener("click", () => selectNode(n.id));
  }
  const rows = g.edges.map((e) => `<tr class="${e.health}" data-id="${esc(e.id)}"><td>${esc(label(e.source))}</td><td>${esc(label(e.target))}</td>` +
    `<td class="num">${fmtRate(e.rps)}</td><td class="num">${fmtPct(e.error_rate)}</td><td class="num">${fmtMs(e.p99_ms)}</td><td>${e.mtls ? "yes" : "–"}</td></tr>`);
  $("#edges tbody").innerHTML = rows.join("");
  const empty = $("#graph-empty");
  if (!g.edges.length) {
    empty.hidden = false;
    const wait = g.scrapes !== null && g.scrapes < 2 ? `<p>Collecting: the first rates appear after the second scrape (every ${g.interval} s).</p>` : "";
    empty.innerHTML = `<b>No traffic in the ${esc($("#window").selectedOptions[0].text)} yet.</b> ${wait}` +
      `<p>Send some requests, for example <code>${esc(g.hint || "curl http://INGRESS:8080/productpage")}</code>, and the graph fills in by itself.</p>`;
  } else empty.hidden = true;
}

async function refreshGraph() {
  const g = await getJSON(`/ui/api/graph?window=${win()}`);
  state.graph = g;
  $("#live").title = `updates every few seconds; metrics from ${g.source}`;
  drawGraph(g);
  if (state.selected) await showNode(state.selected, false);
}

function edgeTable(edges, dir) {
  if (!edges.length) return `<p class="hint">no ${dir} traffic in this window</p>`;
  return `<table class="grid"><tr><th>${dir === "inbound" ? "from" : "to"}</th><th class="num">req/s</th><th class="num">errors</th><th class="num">p99</th><th>codes</th></tr>` +
    edges.map((e) => `<tr class="${e.health}"><td>${esc(label(dir === "inbound" ? e.source : e.target))}${e.mtls ? " 🔒" : ""}</td><td class="num">${fmtRate(e.rps)}</td>` +
      `<td class="num">${fmtPct(e.error_rate)}</td><td class="num">${fmtMs(e.p99_ms)}</td><td>${Object.entries(e.codes).map(([c, v]) => `<span class="tag">${esc(c)}: ${fmtRate(v)}</span>`).join("")}${Object.keys(e.flags).map((f) => `<span class="tag">${esc(f)}</span>`).join("")}</td></tr>`).join("") + "</table>";
}

function configList(config) {
  if (!config.length) return `<p class="hint">no VirtualService, DestinationRule or policy applies</p>`;
  return config.map((c) => `<details class="config" data-kind="${esc(c.kind)}" data-name="${esc(c.namespace)}/${esc(c.name)}"><summary><b>${esc(c.kind)}</b> ${esc(c.namespace)}/${esc(c.name)}</summary><pre>${esc(JSON.stringify(c.spec, null, 2))}</pre></details>`).join("");
}

async function showNode(id, scroll) {
  const n = await getJSON(`/ui/api/node?id=${encodeURIComponent(id)}&window=${win()}`);
  const side = $("#side");
  side.hidden = false;
  const sync = Object.entries(n.sync).map(([inst, types]) => `<tr><td>${esc(inst)}</td><td>${Object.entries(types).map(([t, s]) => `<span class="tag ${esc(s)}" title="${esc(t)}">${esc(t.replace("ClusterLoadAssignment", "Endpoints").replace("RouteConfiguration", "Route"))} ${esc(s)}</span>`).join("")}</td></tr>`).join("");
  const kind = id.startsWith("svc:") ? "service" : "workload";
  side.innerHTML = `<h2>${esc(label(id))}</h2><div class="hint">${kind} · ${esc(id.split(":")[1].split("/")[0])}` +
    (n.services.length ? ` · ${n.services.map(esc).join(", ")}` : "") + `</div>` +
    `<h3>Inbound</h3>${edgeTable(n.inbound, "inbound")}<h3>Outbound</h3>${edgeTable(n.outbound, "outbound")}` +
    `<h3>Config that applies</h3>${configList(n.config)}` +
    `<h3>Proxy sync</h3>${sync ? `<table class="grid">${sync}</table>` : `<p class="hint">no proxy of this ${kind} is connected</p>`}` +
    (kind === "workload" ? `<p><a href="#dashboards/workload/${esc(id.slice(3))}">workload dashboard</a> · <a href="#explain/${esc(label(id))}">explain failed requests</a></p>` : `<p><a href="#dashboards/service/${esc(n.services[0] || "")}">service dashboard</a></p>`);
  if (scroll && window.innerWidth < 760) side.scrollIntoView();
}

async function selectNode(id) {
  state.selected = id;
  document.querySelectorAll(".node").forEach((g) => g.classList.toggle("selected", g.dataset.id === id));
  await showNode(id, true).catch(showError);
}

async function selectEdge(e) {
  state.selected = null;
  document.querySelectorAll(".edge").forEach((g) => g.classList.toggle("selected", g.dataset.id === e.id));
  const side = $("#side");
  side.hidden = false;
  side.innerHTML = `<h2>${esc(label(e.source))} → ${esc(label(e.target))}</h2>${edgeTable([e], "outbound")}<div id="edge-why"></div>`;
  if (e.error_rate > 0 || Object.keys(e.flags).length) {
    $("#edge-why").innerHTML = `<p class="hint">reading the access logs…</p>`;
    const why = await getJSON(`/ui/api/edge?id=${encodeURIComponent(e.id)}`).catch((err) => ({ findings: [], error: err.message }));
    $("#edge-why").innerHTML = `<h3>Why requests fail</h3>` + findingsHtml(why.findings, why.error, why.logged);
  }
}

/* ---------- explain ---------- */
function findingsHtml(findings, error, logged) {
  if (error) return `<p class="hint">${esc(error)}</p>`;
  if (logged === 0) return `<p class="hint">No access log lines to read: turn Istio's access logs on (mesh config <code>accessLogFile: /dev/stdout</code>, or a Telemetry <code>accessLogging</code> rule).</p>`;
  if (!findings.length) return `<p class="hint">no failed requests in the recent access log</p>`;
  return findings.map((f) => `<div class="finding" data-flags="${esc(f.flags)}" data-code="${f.code}"><b>${f.count} × ${esc(f.code)} ${esc(f.flags)}</b> ${esc(f.direction)} to <code>${esc(f.destination)}</code> <span class="hint">(${esc(f.pod)}, last ${esc(f.last_time)})</span>` +
    f.words.map((w) => `<div>${esc(w)}</div>`).join("") +
    (f.culprits.length ? f.culprits.map((c) => `<div class="culprit" data-kind="${esc(c.kind)}" data-name="${esc(c.namespace)}/${esc(c.name)}">caused by <b>${esc(c.kind)} ${esc(c.namespace)}/${esc(c.name)}</b> at <code>${esc(c.field)}</code>: ${esc(c.detail)}</div>`).join("")
      : `<div class="hint">no mesh config stands behind it (the app or the network did this)</div>`) +
    `<div class="hint">e.g. ${esc(f.example)}</div></div>`).join("");
}

async function runExplain(pod) {
  if (!pod) return;
  $("#explain-pod").value = pod;
  $("#explain-body").innerHTML = `<p class="hint">reading ${esc(pod)}'s access log…</p>`;
  const r = await getJSON(`/ui/api/explain?pod=${encodeURIComponent(pod)}`).catch((err) => ({ findings: [], error: err.message }));
  $("#explain-body").innerHTML = findingsHtml(r.findings, r.error, r.logged);
}

/* ---------- dashboards ---------- */
function cards(title, s) {
  if (!s) return `<div class="panel"><b>${esc(title)}</b><p class="hint">no requests in this window</p></div>`;
  return `<div class="panel"><b>${esc(title)}</b><div class="cards">` +
    [["request volume", `${fmtRate(s.rps)} ops/s`], ["success rate (non-5xx)", fmtPct(s.success_rate)], ["4xx", `${fmtRate(s.rate_4xx)} ops/s`], ["5xx", `${fmtRate(s.rate_5xx)} ops/s`],
     ["P50", fmtMs(s.p50)], ["P90", fmtMs(s.p90)], ["P99", fmtMs(s.p99)]]
      .map(([k, v]) => `<div class="card"><div class="v">${v}</div><div class="k">${k}</div></div>`).join("") + `</div></div>`;
}

function rowsTable(title, rows, cols) {
  if (!rows.length) return `<div class="panel"><b>${esc(title)}</b><p class="hint">no requests in this window</p></div>`;
  return `<div class="panel"><b>${esc(title)}</b><table class="grid"><tr>${cols.map(([, h]) => `<th>${esc(h)}</th>`).join("")}<th class="num">req/s</th><th class="num">success</th><th class="num">P50</th><th class="num">P90</th><th class="num">P99</th></tr>` +
    rows.map((r) => `<tr class="${r.success_rate != null && r.success_rate < 0.8 ? "failure" : ""}">${cols.map(([k]) => `<td>${esc(r[k])}</td>`).join("")}<td class="num">${fmtRate(r.rps)}</td><td class="num">${fmtPct(r.success_rate)}</td><td class="num">${fmtMs(r.p50)}</td><td class="num">${fmtMs(r.p90)}</td><td class="num">${fmtMs(r.p99)}</td></tr>`).join("") + `</table></div>`;
}

async function refreshDashboards() {
  const pick = $("#dash-pick");
  document.querySelectorAll("#dash-tabs button").forEach((b) => b.classList.toggle("on", b.dataset.dash === state.dash));
  const g = state.graph || await getJSON(`/ui/api/graph?window=${win()}`);
  if (state.dash !== "mesh") {
    const nodes = g.nodes.filter((n) => (state.dash === "service" ? n.type === "service" : n.type === "workload"));
    const opts = state.dash === "service" ? nodes.map((n) => `${n.name}.${n.namespace}.svc.cluster.local`) : nodes.map((n) => `${n.namespace}/${n.name}`);
    if (!opts.includes(state.dashPick)) state.dashPick = opts[0] || "";
    pick.innerHTML = opts.map((o) => `<option ${o === state.dashPick ? "selected" : ""}>${esc(o)}</option>`).join("");
    pick.hidden = false;
  } else pick.hidden = true;
  let url = `/ui/api/dashboard/${state.dash}?window=${win()}`;
  if (state.dash === "service") url += `&host=${encodeURIComponent(state.dashPick)}`;
  if (state.dash === "workload") { const [ns, name] = state.dashPick.split("/"); url += `&namespace=${encodeURIComponent(ns || "")}&name=${encodeURIComponent(name || "")}`; }
  const d = await getJSON(url);
  const body = $("#dash-body");
  if (d.empty) { body.innerHTML = `<div class="empty">Collecting metrics: the panels fill in after the second scrape (every ${d.interval} s). No traffic yet? Send some, e.g. <code>${esc(g.hint || "")}</code>.</div>`; return; }
  const from = `<p class="hint" id="metrics-source">metrics from ${esc(d.source)}</p>`;
  if (state.dash === "mesh") {
    body.innerHTML = `<h2>Istio Mesh Dashboard</h2>${from}` + cards("Global (reporter=source)", d.summary) +
      rowsTable("HTTP/gRPC workloads", d.workloads, [["destination_service", "service"], ["destination_workload", "workload"], ["destination_workload_namespace", "namespace"]]);
  } else if (state.dash === "service") {
    body.innerHTML = `<h2>Istio Service Dashboard: ${esc(state.dashPick)}</h2>${from}` + cards("Client view (reporter=source)", d.client) + cards("Server view (reporter=destination)", d.server) +
      rowsTable("Incoming requests by source workload", d.by_source, [["source_workload", "source"], ["source_workload_namespace", "namespace"]]) +
      rowsTable("Incoming requests by destination workload", d.by_destination_workload, [["destination_workload", "workload"], ["destination_workload_namespace", "namespace"]]);
  } else {
    body.innerHTML = `<h2>Istio Workload Dashboard: ${esc(state.dashPick)}</h2>${from}` + cards("Inbound (reporter=destination)", d.inbound) + cards("Outbound (reporter=source)", d.outbound) +
      rowsTable("Inbound by source workload", d.by_source, [["source_workload", "source"], ["source_workload_namespace", "namespace"]]) +
      rowsTable("Outbound by destination", d.by_destination, [["destination_service", "service"], ["destination_workload", "workload"]]);
  }
}

/* ---------- control plane ---------- */
async function refreshControlPlane() {
  const d = await getJSON("/ui/api/controlplane");
  const rows = d.metrics.map((m) => {
    const value = m.type === "histogram" ? `${m.count} observed · mean ${m.mean == null ? "–" : (m.mean * 1000).toFixed(1) + " ms"} · p99 ${m.p99 == null ? "–" : (m.p99 * 1000).toFixed(1) + " ms"}` : String(+m.value.toFixed(3));
    const by = m.by ? Object.entries(m.by).filter(([k]) => k).map(([k, v]) => `<span class="tag">${esc(k)}: ${+v.toFixed(3)}</span>`).join("") : "";
    return `<tr data-metric="${esc(m.name)}"><td><b>${esc(m.name)}</b><div class="hint">${esc(m.help)}</div></td><td class="num">${esc(value)}</td><td>${by}</td></tr>`;
  });
  $("#cp-body").innerHTML = `<div class="panel"><b>Control plane (pilot_* metrics from :15014/metrics)</b>` +
    (rows.length ? `<table class="grid"><tr><th>metric</th><th class="num">value</th><th>by label</th></tr>${rows.join("")}</table>` : `<p class="hint">the control plane exposes no pilot_* metric yet</p>`) + `</div>`;
}

/* ---------- traces ---------- */
async function loadServices() {
  const sel = $("#trace-service");
  try {
    const services = await getJSON("/ui/api/traces/services");
    const entry = services.find((s) => s.includes("ingressgateway")) || services.find((s) => s.includes("productpage")) || services[0];
    sel.innerHTML = services.map((s) => `<option ${s === entry ? "selected" : ""}>${esc(s)}</option>`).join("");
    if (!services.length) $("#trace-list").innerHTML = `<div class="empty">No traces yet. Send requests through the mesh (e.g. <code>${esc((state.graph && state.graph.hint) || "curl http://INGRESS:8080/productpage")}</code>); sidecars report spans to the collector.</div>`;
  } catch (err) {
    $("#trace-list").innerHTML = `<div class="empty">${esc(err.message)}.</div>`;
  }
}

async function findTraces(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ serviceName: $("#trace-service").value, lookback: $("#trace-lookback").value, endTs: Date.now(), limit: $("#trace-limit").value });
  const traces = await getJSON(`/ui/api/traces/traces?${q}`).catch((err) => { $("#trace-list").innerHTML = `<div class="empty">${esc(err.message)}</div>`; return null; });
  if (!traces) return;
  if (!traces.length) { $("#trace-list").innerHTML = `<div class="empty">No traces for this service in this lookback.</div>`; return; }
  $("#trace-list").innerHTML = `<table class="grid" id="traces"><tr><th>trace</th><th>root</th><th class="num">spans</th><th class="num">duration</th><th>started</th></tr>` +
    traces.map((spans) => {
      const root = spans.find((s) => !s.parentId) || spans[0];
      const err = spans.some((s) => s.tags && (s.tags.error || (s.tags["http.status_code"] || "").startsWith("5")));
      return `<tr class="${err ? "failure" : ""}" data-trace="${esc(root.traceId)}"><td><a href="#traces/${esc(root.traceId)}">${esc(root.traceId.slice(0, 12))}</a></td><td>${esc((root.localEndpoint || {}).serviceName)}: ${esc(root.name)}</td><td class="num">${spans.length}</td><td class="num">${fmtMs((root.duration || 0) / 1000)}</td><td>${new Date(root.timestamp / 1000).toLocaleTimeString()}</td></tr>`;
    }).join("") + `</table>`;
}

async function showTrace(id) {
  const spans = await getJSON(`/ui/api/traces/trace/${encodeURIComponent(id)}`).catch((err) => { $("#trace-detail").innerHTML = `<div class="empty">${esc(err.message)}</div>`; return null; });
  if (!spans || !spans.length) return;
  const start = Math.min(...spans.map((s) => s.timestamp));
  const end = Math.max(...spans.map((s) => s.timestamp + (s.duration || 0)));
  const total = Math.max(end - start, 1);
  const byParent = {};
  for (const s of spans) (byParent[s.parentId || ""] ||= []).push(s);
  const ids = new Set(spans.map((s) => s.id));
  const order = [];
  const walk = (s, depth) => { order.push([s, depth]); for (const c of (byParent[s.id] || []).sort((a, b) => a.timestamp - b.timestamp)) walk(c, depth + 1); };
  spans.filter((s) => !s.parentId || !ids.has(s.parentId)).sort((a, b) => a.timestamp - b.timestamp).forEach((s) => walk(s, 0));
  $("#trace-detail").innerHTML = `<div class="panel"><b>Trace ${esc(id)}</b> · ${spans.length} spans · ${fmtMs(total / 1000)}<div class="waterfall" id="waterfall">` +
    order.map(([s, depth]) => {
      const left = ((s.timestamp - start) / total) * 100, width = Math.max(((s.duration || 0) / total) * 100, 0.3);
      const svc = (s.localEndpoint || {}).serviceName || "?";
      const err = s.tags && (s.tags.error || (s.tags["http.status_code"] || "").startsWith("5"));
      return `<div class="span-row" data-service="${esc(svc)}" data-span="${esc(s.name)}"><div class="span-name" style="padding-left:${depth * 14}px" title="${esc(svc)} ${esc(s.name)}"><b>${esc(svc)}</b> ${esc(s.name)}</div>` +
        `<div class="span-bar-track"><div class="span-bar${err ? " error" : ""}" style="left:${left}%;width:${width}%"></div>${left + width > 82 ? `<span class="span-dur inside" style="right:${Math.max(100 - left - width, 0) + 0.5}%">${fmtMs((s.duration || 0) / 1000)}</span>` : `<span class="span-dur" style="left:${left + width}%">&nbsp;${fmtMs((s.duration || 0) / 1000)}</span>`}</div></div>`;
    }).join("") + `</div></div>`;
}

/* ---------- routing ---------- */
function showError(err) { setLive(false, "error: " + err.message); }

async function refresh() {
  try {
    if (state.view === "graph") await refreshGraph();
    else if (state.view === "dashboards") await refreshDashboards();
    else if (state.view === "controlplane") await refreshControlPlane();
    setLive(true, "live · " + new Date().toLocaleTimeString());
  } catch (err) { showError(err); }
}

async function route() {
  const [view, ...rest] = (location.hash.slice(1) || "graph").split("/");
  state.view = ["graph", "dashboards", "traces", "controlplane", "explain"].includes(view) ? view : "graph";
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== "view-" + state.view; });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("on", a.dataset.view === state.view));
  if (state.view === "dashboards" && rest.length) { state.dash = rest[0]; state.dashPick = rest.slice(1).join("/"); }
  await refresh();
  if (state.view === "traces") {
    await loadServices();
    if (rest.length) await showTrace(rest[0]);
    else if ($("#trace-service").value) await findTraces();
  }
  if (state.view === "explain") {
    const g = state.graph || await getJSON(`/ui/api/graph?window=${win()}`).catch(() => ({ nodes: [] }));
    $("#explain-pods").innerHTML = g.nodes.filter((n) => n.type === "workload").map((n) => `<option value="${esc(n.name)}">`).join("");
    if (rest.length) await runExplain(decodeURIComponent(rest[0]));
  }
}

window.addEventListener("hashchange", route);
$("#window").addEventListener("change", refresh);
$("#dash-tabs").addEventListener("click", (ev) => { const b = ev.target.closest("button"); if (b) { state.dash = b.dataset.dash; state.dashPick = ""; refresh(); } });
$("#dash-pick").addEventListener("change", (ev) => { state.dashPick = ev.target.value; refresh(); });
$("#trace-form").addEventListener("submit", findTraces);
$("#explain-form").addEventListener("submit", (ev) => { ev.preventDefault(); location.hash = "#explain/" + encodeURIComponent($("#explain-pod").value.trim()); });
$("#edges tbody").addEventListener("click", (ev) => { const tr = ev.target.closest("tr"); const e = state.graph && state.graph.edges.find((x) => x.id === tr.dataset.id); if (e) selectEdge(e); });
route();
state.timer = setInterval(refresh, REFRESH_MS);
