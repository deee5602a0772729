// Progress figures of a run summary: the same rules as
// activity.selectors.run_progress_figures (the server renders the first picture with it).
//
// eBay tasks are created as the Amazon phase finds products: until that phase is done the
// eBay denominator is the estimate's task count (or the tasks already there, if more), so
// the bar does not run ahead and jump back. The ETA divides the tasks left by the run's
// actual rate (tasks finished per second since it started).

const FINISHED = new Set(["completed", "failed", "cancelled"]);

export function progressFigures(summary, estimatedTasks, nowMs = Date.now()) {
  const progress = summary.progress || {};
  const amazon = progress.amazon || { total: 0, finished: 0 };
  const ebay = progress.ebay || { total: 0, finished: 0 };
  const estimated = estimatedTasks || {};
  const amazonDone = summary.phase !== "amazon" || (amazon.total > 0 && amazon.finished >= amazon.total);
  const finished = FINISHED.has(summary.status);
  const amazonTotal = amazon.total || estimated.amazon || 0;
  let ebayTotal = ebay.total;
  if (!amazonDone && !finished) ebayTotal = Math.max(ebayTotal, estimated.ebay || 0);
  const total = amazonTotal + ebayTotal;
  const done = amazon.finished + ebay.finished;

  const started = summary.started_at ? Date.parse(summary.started_at) : NaN;
  const ended = finished && summary.finished_at ? Date.parse(summary.finished_at) : nowMs;
  const elapsed = Number.isNaN(started) ? null : Math.max((ended - started) / 1000, 0);
  const rate = elapsed && done ? done / elapsed : null;
  const eta = !finished && rate && total > done ? (total - done) / rate : null;
  let percent = total ? (100 * done) / total : 0;
  if (finished && total === done) percent = 100;
  return {
    amazon_total: amazonTotal,
    ebay_total: ebayTotal,
    ebay_estimated: !amazonDone && !finished && ebayTotal > ebay.total,
    percent,
    elapsed_s: elapsed,
    eta_s: eta,
    tasks_per_s: rate,
  };
}

// "1 h 04 min", "3 min 20 s", "12 s" (the `duration` template filter).
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (hours) return `${hours} h ${pad(minutes)} min`;
  if (minutes) return `${minutes} min ${pad(secs)} s`;
  return `${secs} s`;
}

export function durationSeconds(summary, nowMs = Date.now()) {
  if (!summary.started_at) return null;
  const start = Date.parse(summary.started_at);
  const end = summary.finished_at ? Date.parse(summary.finished_at) : nowMs;
  return Number.isNaN(start) ? null : Math.max((end - start) / 1000, 0);
}

// activity.selectors.run_result_text
export function resultText(summary) {
  const n = (v) => new Intl.NumberFormat("en-US").format(v || 0);
  const message = (summary.status_message || "").trim();
  switch (summary.status) {
    case "completed": {
      const failed = summary.failed_tasks || 0;
      return `${n(summary.sellers_new)} new of ${n(summary.sellers_found)} sellers` +
        (failed ? `, ${n(failed)} tasks failed` : "");
    }
    case "failed":
    case "paused": {
      const label = summary.status === "failed" ? "Failed" : "Paused";
      return message ? `${label}: ${message.slice(0, 120)}` : label;
    }
    case "cancelled":
      return "Cancelled";
    default:
      return "–";
  }
}

// The `rate` template filter.
export function formatRate(perSecond) {
  if (!perSecond) return "–";
  return perSecond >= 1 ? `${perSecond.toFixed(1)} tasks/s` : `${(perSecond * 60).toFixed(1)} tasks/min`;
}
