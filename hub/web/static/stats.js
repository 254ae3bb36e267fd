// The trend chart: stacked bars of the five levels per period, and the satisfaction rate as a
// line on its own axis. Chart.js is served by the hub itself (no CDN on the extranet).
(() => {
  'use strict';
  const { trend, labels } = JSON.parse(document.getElementById('trend-data').textContent);
  const canvas = document.getElementById('trend-chart');
  if (!canvas || typeof Chart === 'undefined') return;
  const colours = ['#1a7f37', '#4caf50', '#f2b01e', '#f57c00', '#d1242f'];
  const chart = new Chart(canvas, {
    data: {
      labels: trend.map((p) => p.period),
      datasets: [
        ...labels.map((label, i) => ({
          type: 'bar',
          label,
          data: trend.map((p) => p.n[i]),
          backgroundColor: colours[i],
          stack: 'levels',
          yAxisID: 'y',
          order: 2,
        })),
        {
          type: 'line',
          label: '满意率',
          data: trend.map((p) => (p.satisfaction === null ? null : +(p.satisfaction * 100).toFixed(2))),
          borderColor: '#1f6feb',
          backgroundColor: '#1f6feb',
          yAxisID: 'rate',
          tension: 0.2,
          spanGaps: true,
          order: 1, // drawn over the bars
          pointRadius: 4,
        },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: '评价数' } },
        rate: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: '满意率 %' } },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
  document.body.dataset.chart = chart ? 'ready' : 'none';
})();
