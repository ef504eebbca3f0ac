// The live loss curve of a training job: reads the points the polled fragment carries.
(function () {
  let chart = null;
  function points() {
    const node = document.getElementById("loss-points");
    return node ? JSON.parse(node.textContent) : [];
  }
  function draw() {
    const canvas = document.getElementById("loss-chart");
    if (!canvas || typeof Chart === "undefined") return;
    const data = points();
    if (chart) {
      chart.data.labels = data.map((p) => p.step);
      chart.data.datasets[0].data = data.map((p) => p.loss);
      chart.update("none");
      return;
    }
    chart = new Chart(canvas, {
      type: "line",
      data: { labels: data.map((p) => p.step), datasets: [{ label: "loss", data: data.map((p) => p.loss), borderColor: "#2456a6", pointRadius: 0, tension: 0.2 }] },
      options: { animation: false, scales: { x: { title: { display: true, text: "step" } }, y: { title: { display: true, text: "loss" } } } },
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", draw);
})();
