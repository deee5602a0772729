// The seller page's chart: products matched and listings seen per run that saw the seller.

import { COLORS, epochSeconds, lineChart, readJson } from "./charts.js";

const points = readJson("runs-chart-data") || [];
lineChart(document.getElementById("runs-chart"), {
  series: [
    { label: "Best sellers matched", color: COLORS.blue, fill: true },
    { label: "Listings seen", color: COLORS.amber, scale: "right" },
  ],
  data: [
    points.map((p) => epochSeconds(p.at)),
    points.map((p) => p.products_matched),
    points.map((p) => p.sightings),
  ],
  yLabel: "matched",
  rightLabel: "listings",
});
