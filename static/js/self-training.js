// Pass rate by self-training round: reads the points the polled rounds fragment carries.
(function () {
  let chart = null;
  const SERIES = [
    { key: "pass_at_1", label: "pass@1", color: "#2456a6" },
    { key: "pass_at_k", label: "pass@k (any of k)", color: "#3a8f4b" },
  ];
  function points() {
    const node = document.getElementById("pass-rate-points");
    return node ? JSON.parse(node.textContent) : [];
  }
  function draw() {
    const canvas = document.getElementById("pass-rate-chart");
    if (!canvas || typeof Chart === "undefined") return;
    const data = points();
    const labels = data.map((p) => "round " + p.round);
    // The fragment is swapped whole, so a new canvas means a new chart.
    if (chart && chart.canvas !== canvas) {
      chart.destroy();
      chart = null;
    }
    if (chart) {
      chart.data.labels = labels;
      SERIES.forEach((s, i) => { chart.data.datasets[i].data = data.map((p) => p[s.key]); });
      chart.update("none");
      return;
    }
    chart = new Chart(canvas, {
      type: "line",
      data: {
        labels: labels,
        datasets: SERIES.map((s) => ({ label: s.label, data: data.map((p) => p[s.key]), borderColor: s.color, tension: 0 })),
      },
      options: {
        animation: false,
        aspectRatio: 3,
        scales: { y: { min: 0, max: 1, title: { display: true, text: "pass rate on train tasks" } } },
      },
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", draw);
})();
