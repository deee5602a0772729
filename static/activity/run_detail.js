// The live page of one run. It starts from the state the server rendered (computed from
// the stored events up to `last_seq`), then applies every later event exactly once, in
// seq order, from the websocket: live frames, or a replay from the database after a
// reconnect or a gap. The same rules as activity.selectors.run_live_state_get.

import { COLORS, lineChart, readJson } from "./charts.js";
import {
  ACTIVE_STATUSES,
  connectStream,
  el,
  formatDateTime,
  formatNumber,
  formatTime,
  showConnection,
  urlNode,
} from "./common.js";
import { formatDuration, formatRate, progressFigures } from "./progress.js";

const FEED_LIMIT = 200;
const COUNTED = ["fetching", "found", "rate_limited", "retrying", "error"];
const ERROR_ACTIONS = new Set(["retrying", "error"]);
const IDLE_RESYNC_MS = 10000;
const TOP_REFRESH_MS = 3000; // at most one top-sellers request per 3 s, on stored batches
const FINISHED_STATUSES = new Set(["completed", "failed", "cancelled"]);

const initial = JSON.parse(document.getElementById("run-state").textContent);
const runId = initial.run.id;
const estimatedTasks = initial.estimated_tasks || {};
const topUrl = readJson("run-top-url"); // null: the user may not view sellers
let summary = initial.run;
let lastSeq = initial.last_seq;
let rateLimited = initial.rate_limited;
let resyncPending = false;
let lastMessageAt = Date.now();
const rateSamples = []; // [ms, requests]

const workers = new Map(); // worker id → {worker, counts, last, last_error, card, dirty}
for (const w of initial.workers) workers.set(w.worker, { ...w, card: null, dirty: true });
const errorsByType = new Map(Object.entries(initial.errors_by_type));
let feedPending = initial.feed.slice(); // oldest first; rendered newest first
let errorsDirty = true;
let renderScheduled = false;

// ---- applying events -----------------------------------------------------------------

function worker(id) {
  let w = workers.get(id);
  if (!w) {
    w = { worker: id, counts: Object.fromEntries(COUNTED.map((a) => [a, 0])), last: null,
          last_error: null, card: null, dirty: true };
    workers.set(id, w);
  }
  return w;
}

function apply(event) {
  if (event.worker > 0) {
    const w = worker(event.worker);
    if (COUNTED.includes(event.action)) w.counts[event.action] = (w.counts[event.action] || 0) + 1;
    w.last = event;
    if (ERROR_ACTIONS.has(event.action)) w.last_error = event;
    w.dirty = true;
  }
  if (ERROR_ACTIONS.has(event.action)) {
    const kind = (event.data && event.data.error_type) || "unknown";
    const entry = errorsByType.get(kind) || { retrying: 0, error: 0 };
    entry[event.action] += 1;
    errorsByType.set(kind, entry);
    errorsDirty = true;
  }
  if (event.action === "rate_limited") rateLimited += 1;
  if (event.action === "fetching") countRequest(event.ts);
  if (event.action === "stored" || event.action === "completed") scheduleTopRefresh();
  feedPending.push(event);
  if (feedPending.length > FEED_LIMIT) feedPending = feedPending.slice(-FEED_LIMIT);
}

function receiveEvents(events) {
  for (const event of events) {
    if (event.seq <= lastSeq) continue; // already applied (replay overlaps live)
    if (event.seq !== lastSeq + 1) {
      // A gap: ask for everything after what we have; the answer covers this event too.
      requestResync();
      break;
    }
    apply(event);
    lastSeq = event.seq;
  }
  scheduleRender();
}

function requestResync() {
  if (resyncPending) return;
  if (stream.send({ type: "resync", after: lastSeq })) resyncPending = true;
}

function receiveStatus(run) {
  if (run.id !== runId) return;
  if ((run.event_seq || 0) < (summary.event_seq || 0)) return; // a late, older summary
  const wasActive = !FINISHED_STATUSES.has(summary.status);
  summary = { ...summary, ...run };
  if (wasActive && FINISHED_STATUSES.has(summary.status)) foldHistory();
  const now = Date.now();
  rateSamples.push([now, summary.requests]);
  while (rateSamples.length > 2 && now - rateSamples[0][0] > 10000) rateSamples.shift();
  if (summary.event_seq > lastSeq) {
    // Frames are usually right behind; if not (a lost last frame), fetch the tail.
    const expected = summary.event_seq;
    setTimeout(() => { if (lastSeq < expected) requestResync(); }, 1500);
  }
  scheduleRender();
}

const stream = connectStream({
  url: () => `/ws/runs/${runId}/?after=${lastSeq}`,
  onStatus: showConnection,
  onOpen: () => { resyncPending = true; }, // the connect itself replays after lastSeq
  onMessage(message) {
    lastMessageAt = Date.now();
    if (message.type === "events") receiveEvents(message.events);
    else if (message.type === "status") receiveStatus(message.run);
    else if (message.type === "synced") resyncPending = false;
  },
});

setInterval(() => {
  if (ACTIVE_STATUSES.has(summary.status) && Date.now() - lastMessageAt > IDLE_RESYNC_MS) {
    lastMessageAt = Date.now();
    requestResync();
  }
}, 2000);

// ---- rendering -----------------------------------------------------------------------

function scheduleRender() {
  if (renderScheduled) return;
  renderScheduled = true;
  requestAnimationFrame(() => {
    renderScheduled = false;
    render();
  });
}

function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

function renderHeader() {
  const badge = document.getElementById("run-status");
  badge.dataset.status = summary.status;
  setText(badge, summary.status_label || summary.status);
  setText(document.getElementById("run-phase"), summary.phase);
  setText(document.getElementById("run-message"), summary.status_message || "");
  setText(document.getElementById("run-started"), formatDateTime(summary.started_at));
  setText(document.getElementById("run-finished"), formatDateTime(summary.finished_at));
  const allowed = {
    pause: ["queued", "running"].includes(summary.status),
    resume: ["paused", "failed"].includes(summary.status),
    cancel: ["queued", "running", "paused"].includes(summary.status),
  };
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.disabled = !allowed[button.dataset.action];
  }
  document.body.dataset.runStatus = summary.status;
}

function renderFigures(figures) {
  const box = document.getElementById("figures");
  const text = {
    percent: `${Math.floor(figures.percent)} %`,
    elapsed: formatDuration(figures.elapsed_s),
    eta: figures.eta_s === null ? "–" : `~${formatDuration(figures.eta_s)}`,
    tasks_per_s: formatRate(figures.tasks_per_s),
  };
  for (const node of box.querySelectorAll("[data-figure]")) setText(node, text[node.dataset.figure]);
}

function renderProgress() {
  const progress = summary.progress || {};
  const figures = progressFigures(summary, estimatedTasks);
  renderFigures(figures);
  for (const phase of ["amazon", "ebay"]) {
    const box = document.getElementById(`phase-${phase}`);
    const p = progress[phase] || { total: 0, finished: 0, failed: 0 };
    const total = phase === "ebay" ? figures.ebay_total : Math.max(p.total, figures.amazon_total);
    const bar = box.querySelector("progress");
    const max = Math.max(total, 1);
    if (bar.max !== max) bar.max = max;
    if (bar.value !== p.finished) bar.value = p.finished;
    const approx = phase === "ebay" && figures.ebay_estimated ? "~" : "";
    let text = `${formatNumber(p.finished)} / ${approx}${formatNumber(total)} tasks`;
    if (approx) text += " (estimated until the Amazon phase ends)";
    if (p.failed) text += ` · ${formatNumber(p.failed)} failed`;
    setText(box.querySelector("[data-field=count]"), text);
    const current = summary.phase === phase && ACTIVE_STATUSES.has(summary.status);
    box.classList.toggle("current", current);
    box.classList.toggle("complete", p.total > 0 && p.finished >= p.total);
  }
}

function requestRate() {
  if (rateSamples.length >= 2 && ACTIVE_STATUSES.has(summary.status)) {
    const [t0, r0] = rateSamples[0];
    const [t1, r1] = rateSamples[rateSamples.length - 1];
    if (t1 > t0) return ((r1 - r0) * 1000) / (t1 - t0);
  }
  if (!summary.started_at) return null;
  const start = Date.parse(summary.started_at);
  const end = summary.finished_at ? Date.parse(summary.finished_at) : Date.now();
  return end > start ? (summary.requests * 1000) / (end - start) : null;
}

function renderMetrics() {
  const metrics = document.getElementById("metrics");
  for (const node of metrics.querySelectorAll("[data-metric]")) {
    const name = node.dataset.metric;
    let text;
    if (name === "rate") {
      const rate = requestRate();
      text = rate === null ? "—" : `${rate.toFixed(1)} req/s`;
    } else if (name === "rate_limited") {
      text = formatNumber(rateLimited);
    } else {
      text = formatNumber(summary[name]);
    }
    setText(node, text);
  }
  if (!errorsDirty) return;
  errorsDirty = false;
  const body = document.querySelector("#errors tbody");
  body.replaceChildren();
  const kinds = [...errorsByType.keys()].sort();
  if (!kinds.length) {
    const row = el("tr", "empty");
    const cell = el("td", null, "No errors.");
    cell.colSpan = 3;
    row.append(cell);
    body.append(row);
    return;
  }
  for (const kind of kinds) {
    const counts = errorsByType.get(kind);
    const row = el("tr");
    row.dataset.errorType = kind;
    row.append(el("td", null, kind), el("td", "num", formatNumber(counts.retrying)),
               el("td", "num", formatNumber(counts.error)));
    body.append(row);
  }
}

// What an event says, as DOM nodes built from text (never markup).
function describe(event) {
  const d = event.data || {};
  const parts = [];
  const text = (value) => parts.push(el("span", null, value));
  switch (event.action) {
    case "fetching":
      text(`page ${d.page ?? "?"}` + (d.attempt > 1 ? ` · attempt ${d.attempt}` : ""));
      if (d.category) parts.push(el("span", "subject", d.category));
      if (d.product) parts.push(el("span", "subject", d.product));
      if (d.url) parts.push(urlNode(d.url));
      break;
    case "found":
      text(`${d.count ?? 0} found` + (d.skipped ? `, ${d.skipped} skipped` : "") +
           (d.has_next ? ", more pages" : "") +
           (d.duration_ms !== undefined ? ` · ${d.duration_ms} ms` : ""));
      break;
    case "rate_limited":
      text(`${d.provider || "provider"} asked to wait ${d.retry_after_s ?? "?"} s`);
      break;
    case "retrying":
      text(`${d.error_type || "error"}: retry ${d.attempt ?? "?"} in ${d.delay_s ?? "?"} s`);
      break;
    case "error":
      text(`${d.error_type || "error"}: ${d.message || ""}`);
      if (d.task) parts.push(el("span", "subject", d.task));
      break;
    case "stored":
      text(`${d.tasks ?? 0} tasks, ${d.products ?? 0} products, ${d.sightings ?? 0} sightings`);
      break;
    case "deduped":
      text(`${d.sellers ?? 0} known sellers`);
      break;
    case "inserted": {
      text(`${d.sellers ?? 0} new sellers`);
      const names = Array.isArray(d.names) ? d.names : [];
      for (const name of names) parts.push(el("span", "seller", name));
      break;
    }
    case "phase_started":
    case "phase_finished":
      text(`phase ${d.phase || event.phase}`);
      break;
    case "paused":
      text(`${d.reason || ""} ${d.message || ""}`.trim());
      break;
    case "failed":
      text(d.message || "");
      break;
    case "completed":
      text(d.summary && typeof d.summary === "object"
        ? Object.entries(d.summary).map(([k, v]) => `${k} ${v}`).join(", ")
        : "run completed");
      break;
    default: {
      const entries = Object.entries(d);
      if (entries.length) text(entries.map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", "));
    }
  }
  return parts;
}

function renderWorkers() {
  const box = document.getElementById("workers");
  const ids = [...workers.keys()].sort((a, b) => a - b);
  if (ids.length) box.querySelector(".empty")?.remove();
  for (const id of ids) {
    const w = workers.get(id);
    if (!w.dirty) continue;
    w.dirty = false;
    if (!w.card) {
      w.card = el("article", "worker");
      w.card.dataset.worker = String(id);
      const after = ids.filter((other) => other > id).map((other) => workers.get(other).card)
        .find((card) => card && card.isConnected);
      box.insertBefore(w.card, after || null);
    }
    const card = w.card;
    const head = el("header");
    head.append(el("strong", null, `Worker ${id}`));
    if (w.last) head.append(el("span", "phase-tag", w.last.phase || ""));
    const now = el("div", "now");
    if (w.last) {
      const action = el("span", "action", w.last.action);
      action.dataset.action = w.last.action;
      now.append(action, ...describe(w.last));
    } else {
      now.textContent = "idle";
    }
    const counts = el("div", "counts");
    const labels = [["fetching", "requests"], ["found", "pages"], ["retrying", "retries"],
                    ["rate_limited", "429s"], ["error", "failed"]];
    for (const [key, label] of labels) {
      const item = el("span", "count");
      item.dataset.count = key;
      item.append(el("b", null, formatNumber(w.counts[key] || 0)), document.createTextNode(` ${label}`));
      counts.append(item);
    }
    const lastError = el("div", "last-error");
    if (w.last_error) {
      const e = w.last_error.data || {};
      lastError.append(el("span", "error-type", e.error_type || w.last_error.action),
                       el("span", null, e.message || (w.last_error.action === "retrying" ? `retry ${e.attempt ?? ""}` : "")),
                       el("time", "muted", formatTime(w.last_error.ts)));
    } else {
      lastError.append(el("span", "muted", "no errors"));
    }
    card.classList.toggle("has-error", w.last !== null && w.last.action === "error");
    card.replaceChildren(head, now, counts, lastError);
  }
}

function renderFeed() {
  if (!feedPending.length) return;
  const body = document.getElementById("feed");
  const fragment = document.createDocumentFragment();
  for (let i = feedPending.length - 1; i >= 0; i -= 1) {
    const event = feedPending[i];
    const row = el("tr");
    row.dataset.seq = String(event.seq);
    row.dataset.action = event.action;
    const action = el("span", "action", event.action);
    action.dataset.action = event.action;
    const actionCell = el("td");
    actionCell.append(action);
    const details = el("td");
    const parts = el("div", "details");
    parts.append(...describe(event));
    details.append(parts);
    row.append(el("td", "num muted", event.seq), el("td", "muted", formatTime(event.ts)),
               el("td", null, event.worker ? `#${event.worker}` : "system"),
               el("td", null, event.phase || ""), actionCell, details);
    fragment.append(row);
  }
  feedPending = [];
  body.prepend(fragment);
  while (body.rows.length > FEED_LIMIT) body.lastElementChild.remove();
}

function render() {
  renderHeader();
  renderProgress();
  renderMetrics();
  renderWorkers();
  renderFeed();
  document.body.dataset.lastSeq = String(lastSeq);
}

// ---- the run's sellers, the request-rate chart, folding a finished run -------------------

let topTimer = null;
let lastTopAt = 0;

function scheduleTopRefresh() {
  if (!topUrl || topTimer) return;
  const wait = Math.max(0, lastTopAt + TOP_REFRESH_MS - Date.now());
  topTimer = setTimeout(refreshTop, wait);
}

async function refreshTop() {
  lastTopAt = Date.now();
  try {
    const response = await fetch(topUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) {
      const data = await response.json();
      renderSellers("run-top", data.top, "No matched listing yet.");
      renderSellers("run-new", data.new, "No new seller with a match yet.");
    }
  } catch {
    // The next stored batch asks again.
  } finally {
    topTimer = null;
  }
}

function formatPercent(value) {
  return typeof value === "number" ? `${value >= 0 ? "+" : ""}${value.toFixed(0)} %` : "–";
}

function renderSellers(tableId, rows, emptyText) {
  const body = document.querySelector(`#${tableId} tbody`);
  if (!body || !Array.isArray(rows)) return;
  const fresh = rows.map((row) => {
    const tr = el("tr");
    tr.dataset.sellerId = String(row.id);
    const name = el("td");
    const link = el("a", "seller-link", row.name);
    link.href = `/sellers/${encodeURIComponent(row.id)}/`;
    name.append(link);
    if (row.new) name.append(" ", el("span", "tag new", "new"));
    tr.append(name, el("td", "num", formatNumber(row.products_in_run)),
              el("td", "num", formatPercent(row.median_markup_percent)),
              el("td", "num", typeof row.score === "number" ? row.score.toFixed(1) : "–"));
    return tr;
  });
  if (!fresh.length) {
    const tr = el("tr", "empty");
    const td = el("td", null, emptyText);
    td.colSpan = 4;
    tr.append(td);
    fresh.push(tr);
  }
  body.replaceChildren(...fresh);
  document.body.dataset.topRefreshedAt = String(Date.now());
}

const rate = initial.request_rate || { bucket_s: 5, points: [] };
const requestBuckets = new Map(rate.points.map(([t, perS]) => [t, Math.round(perS * rate.bucket_s)]));
let rateDirty = false;
const rateChart = lineChart(document.getElementById("rate-chart"), {
  series: [{ label: "Requests/s", color: COLORS.blue, fill: true }],
  data: rateSeries(),
  yLabel: "req/s",
});

function countRequest(ts) {
  const at = Date.parse(ts) / 1000;
  if (Number.isNaN(at)) return;
  const bucket = Math.floor(at / rate.bucket_s) * rate.bucket_s;
  requestBuckets.set(bucket, (requestBuckets.get(bucket) || 0) + 1);
  rateDirty = true;
}

function rateSeries() {
  if (!requestBuckets.size) return [[], []];
  const keys = [...requestBuckets.keys()];
  const first = Math.min(...keys);
  const last = Math.max(...keys);
  const xs = [];
  const ys = [];
  for (let t = first; t <= last; t += rate.bucket_s) {
    xs.push(t);
    ys.push((requestBuckets.get(t) || 0) / rate.bucket_s);
  }
  return [xs, ys];
}

function foldHistory() {
  for (const id of ["workers-panel", "feed-panel"]) {
    const panel = document.getElementById(id);
    if (panel) panel.open = false;
  }
}

render();
setInterval(() => {
  if (ACTIVE_STATUSES.has(summary.status)) {
    renderMetrics();
    renderFigures(progressFigures(summary, estimatedTasks));
  }
  if (rateDirty) {
    rateDirty = false;
    rateChart.update(rateSeries());
  }
}, 1000);
