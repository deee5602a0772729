// The run list: rows rendered by the server, kept current by /ws/runs/ (coalesced status
// and counter updates of every run; a run the page has not seen yet gets a new row).

import { COLORS, epochSeconds, lineChart, readJson } from "./charts.js";
import { connectStream, el, formatDateTime, formatNumber, showConnection } from "./common.js";
import { durationSeconds, formatDuration, resultText } from "./progress.js";

const table = document.getElementById("runs");
const body = table.tBodies[0];
const detailBase = table.dataset.detailBase;
const MAX_ROWS = 50; // activity.selectors.RUN_LIST_LIMIT
const latest = new Map(); // run id → event_seq of the summary shown
const summaries = new Map(); // run id → the latest summary (durations tick while running)

const COUNTERS = ["products_found", "ebay_searches", "sellers_found", "sellers_new", "requests",
                  "failed_tasks"];

function cell(className, field) {
  const td = el("td", className);
  if (field) td.dataset.field = field;
  return td;
}

function newRow(run) {
  const row = el("tr");
  row.dataset.runId = String(run.id);
  const link = el("a", null, `Run ${run.id}`);
  link.href = `${detailBase}${encodeURIComponent(run.id)}/`;
  const first = cell("nowrap");
  first.append(link);
  const status = cell();
  const badge = el("span", "badge");
  badge.dataset.field = "status_label";
  status.append(badge);
  const progress = cell("progress-col");
  const bar = document.createElement("progress");
  bar.dataset.field = "progress";
  progress.append(bar);
  row.append(first, status, cell(null, "phase"), progress,
             ...COUNTERS.map((name) => cell("num", name)), cell("muted", "created_at"),
             cell("num nowrap", "duration"), cell("result", "result"));
  body.querySelector("tr.empty")?.remove();
  body.prepend(row);
  while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
  return row;
}

function update(run) {
  if (typeof run.id !== "number") return;
  if ((latest.get(run.id) ?? -1) > (run.event_seq ?? 0)) return; // older than what we show
  latest.set(run.id, run.event_seq ?? 0);
  const row = body.querySelector(`tr[data-run-id="${run.id}"]`) || newRow(run);
  const badge = row.querySelector("[data-field=status_label]");
  badge.dataset.status = run.status;
  badge.textContent = run.status_label || run.status;
  row.querySelector("[data-field=phase]").textContent = run.phase;
  for (const name of COUNTERS) {
    row.querySelector(`[data-field=${name}]`).textContent = formatNumber(run[name]);
  }
  const created = row.querySelector("[data-field=created_at]");
  created.textContent = formatDateTime(run.created_at);
  summaries.set(run.id, run);
  row.querySelector("[data-field=duration]").textContent = formatDuration(durationSeconds(run));
  row.querySelector("[data-field=result]").textContent = resultText(run);
  if (run.progress) {
    const bar = row.querySelector("[data-field=progress]");
    const phases = Object.values(run.progress);
    const total = phases.reduce((sum, p) => sum + p.total, 0);
    bar.max = Math.max(total, 1);
    bar.value = phases.reduce((sum, p) => sum + p.finished, 0);
  }
}

for (const node of body.querySelectorAll("[data-field=created_at]")) {
  node.textContent = formatDateTime(node.dataset.time);
}

setInterval(() => {
  for (const [id, run] of summaries) {
    if (run.finished_at || !run.started_at) continue;
    const node = body.querySelector(`tr[data-run-id="${id}"] [data-field=duration]`);
    if (node) node.textContent = formatDuration(durationSeconds(run));
  }
}, 1000);

connectStream({
  url: () => "/ws/runs/",
  onStatus: showConnection,
  onMessage(message) {
    if (message.type === "runs" && Array.isArray(message.runs)) message.runs.forEach(update);
  },
});

// Total and new sellers per completed run, from the snapshots.
const snapshots = readJson("snapshots-data") || [];
lineChart(document.getElementById("snapshots-chart"), {
  series: [
    { label: "Sellers in the list", color: COLORS.blue, fill: true },
    { label: "New in the run", color: COLORS.green, scale: "right" },
  ],
  data: [
    snapshots.map((s) => epochSeconds(s.created_at)),
    snapshots.map((s) => s.total_sellers),
    snapshots.map((s) => s.new_sellers),
  ],
  yLabel: "sellers",
  rightLabel: "new",
});
