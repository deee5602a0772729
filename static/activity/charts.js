// Small line charts with the vendored uPlot (static/vendor/uplot, loaded as a classic
// script before the page's module, so `window.uPlot` is there). Data arrives in
// json_script blocks; nothing here touches markup.

const HEIGHT = 200;
export const COLORS = { blue: "#2f6fdb", green: "#1f8a4c", amber: "#b7791f", grey: "#8a93a6" };

function showEmpty(container) {
  container.replaceChildren();
  container.classList.add("chart-empty");
  container.textContent = container.dataset.empty || "No data yet.";
}

// A chart that appears once it has data. series: [{label, color, scale?, fill?}];
// data: [xs, ys1, ys2, …] with x in epoch seconds. A series on scale "right" gets its own
// axis on the right. Returns {update(data)} for live pages.
export function lineChart(container, { series, data, yLabel = "", rightLabel = "" }) {
  let plot = null;
  function update(next) {
    if (!container) return;
    if (typeof window.uPlot !== "function" || !next[0].length) {
      if (!plot) showEmpty(container);
      return;
    }
    if (plot) plot.setData(next);
    else plot = build(container, { series, yLabel, rightLabel }, next);
  }
  update(data);
  return { update };
}

function build(container, { series, yLabel, rightLabel }, data) {
  container.replaceChildren();
  container.classList.remove("chart-empty");
  const width = () => Math.max(container.clientWidth - 2, 220);
  const axes = [
    { stroke: "#6b7385", grid: { stroke: "#eef0f4" } },
    { stroke: "#6b7385", grid: { stroke: "#eef0f4" }, label: yLabel, size: 56 },
  ];
  const scales = { x: { time: true } };
  if (series.some((s) => s.scale === "right")) {
    scales.right = { range: (u, min, max) => [0, Math.max(max, 1)] };
    axes.push({ scale: "right", side: 1, stroke: "#6b7385", grid: { show: false },
                label: rightLabel, size: 56 });
  }
  const plot = new window.uPlot(
    {
      width: width(),
      height: HEIGHT,
      scales,
      axes,
      cursor: { drag: { x: false, y: false } },
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          scale: s.scale || "y",
          stroke: s.color,
          width: 2,
          fill: s.fill ? `${s.color}22` : undefined,
          points: { show: data[0].length < 60, size: 5 },
        })),
      ],
    },
    data,
    container,
  );
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(() => {
      if (Math.abs(plot.width - width()) > 4) plot.setSize({ width: width(), height: HEIGHT });
    }).observe(container);
  }
  return plot;
}

export function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

export const epochSeconds = (iso) => Date.parse(iso) / 1000;
