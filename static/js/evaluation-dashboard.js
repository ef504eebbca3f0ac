/* Draws the dashboard's trend charts with Chart.js (vendored, static/js/chart.umd.min.js).
   The data comes from the page's <script type="application/json" id="trend-data">. */
(function () {
  "use strict";

  var COLOURS = ["#2456a6", "#1e7b34", "#a4262c", "#b26b00", "#6b3fa0", "#00838f", "#5b6570"];

  function percent(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }

  function chartFor(canvas, trend) {
    var names = Object.keys(trend.series);
    var datasets = [
      // The headline's 95% interval: an invisible lower edge, and the upper edge filled down to it.
      { label: "95% low", data: trend.low, borderWidth: 0, pointRadius: 0, fill: false, band: true,
        borderColor: "rgba(0,0,0,0)", spanGaps: true },
      { label: "95% interval (" + trend.headline + ")", data: trend.high, borderWidth: 0, pointRadius: 0,
        fill: "-1", band: true, backgroundColor: "rgba(36, 86, 166, 0.12)", borderColor: "rgba(0,0,0,0)",
        spanGaps: true }
    ];
    names.forEach(function (name, i) {
      var colour = COLOURS[i % COLOURS.length];
      datasets.push({ label: name, data: trend.series[name], borderColor: colour, backgroundColor: colour,
        borderWidth: name === trend.headline ? 3 : 1.5, pointRadius: 3, tension: 0, spanGaps: true,
        borderDash: name.indexOf("Compile") === 0 ? [5, 4] : [] });
    });
    return new window.Chart(canvas, {
      type: "line",
      data: { labels: trend.checkpoints, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { min: 0, max: 1, ticks: { callback: function (v) { return percent(v); } } } },
        plugins: {
          legend: { labels: { filter: function (item, data) {
            return !(data.datasets[item.datasetIndex].band && item.text === "95% low");
          } } },
          tooltip: { callbacks: { label: function (ctx) {
            return ctx.dataset.label + ": " + percent(ctx.parsed.y);
          } } }
        },
        onClick: function (event, elements) {
          if (!elements.length) { return; }
          var run = trend.runs[elements[0].index];
          if (run) { window.location.href = "runs/" + run + "/"; }
        }
      }
    });
  }

  function draw() {
    var source = document.getElementById("trend-data");
    if (!source || !window.Chart) { return; }
    var trends = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-trend-index]").forEach(function (canvas) {
      var trend = trends[Number(canvas.getAttribute("data-trend-index"))];
      if (trend) { canvas.chart = chartFor(canvas, trend); }
    });
    document.body.setAttribute("data-charts-drawn", String(trends.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
}());
