// Draws the supervisor dashboard's charts from the JSON the page carries (#chart-data) with the
// vendored Chart.js; no data is fetched, so the page needs no API token.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#2457d6", "#12b76a", "#f79009", "#d92d20", "#7a5af8", "#0ba5ec"];

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new Chart(canvas, config); }
  }

  function stackedPerDay(id, volume) {
    draw(id, {
      type: "bar",
      data: {labels: volume.labels, datasets: volume.series.map(function (s, i) {
        return {label: s.label, data: s.data, backgroundColor: palette[i % palette.length]};
      })},
      options: {animation: false, scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}}
    });
  }

  stackedPerDay("chart-volume", data.volume);
  stackedPerDay("chart-volume-departments", data.volume_by_department);
  draw("chart-departments", {
    type: "doughnut",
    data: {labels: data.departments.labels,
           datasets: [{data: data.departments.data, backgroundColor: palette}]},
    options: {animation: false}
  });
  draw("chart-compliance", {
    type: "bar",
    data: {labels: data.compliance.labels,
           datasets: [{label: "%", data: data.compliance.data, backgroundColor: palette[1]}]},
    options: {animation: false, indexAxis: "y", scales: {x: {min: 0, max: 100}}}
  });
  if (data.funnel) {
    draw("chart-funnel", {
      type: "bar",
      data: {labels: data.funnel.labels, datasets: data.funnel.series.map(function (s, i) {
        return {label: s.label, data: s.data, backgroundColor: palette[i % palette.length]};
      })},
      options: {animation: false, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
    });
  }
  if (data.csat) {
    draw("chart-csat", {
      type: "bar",
      data: {labels: data.csat.labels,
             // 1-2 red, 3 amber, 4-5 green: the share of green is the CSAT figure
             datasets: [{label: "#", data: data.csat.data,
                         backgroundColor: [palette[3], palette[3], palette[2], palette[1], palette[1]]}]},
      options: {animation: false, plugins: {legend: {display: false}},
                scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
    });
  }
}());
