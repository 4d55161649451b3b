// presswatch web: progressive enhancement only (every form works without this file).
// Kept out of the pages so the Content-Security-Policy can forbid inline script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    var form = event.target && event.target.closest && event.target.closest("form[data-autosubmit]");
    if (form) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
  });
  document.addEventListener("submit", function (event) {
    var message = event.target && event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
  // Charts without inline script: <div class="chart" data-echarts='{{ option|tojson }}'></div> on a page
  // that also loads vendor/echarts.min.js. Re-run after htmx swaps in new content.
  function drawCharts(root) {
    if (!window.echarts) { return; }
    (root || document).querySelectorAll("[data-echarts]").forEach(function (el) {
      if (el.getAttribute("data-echarts-drawn")) { return; }
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(JSON.parse(el.getAttribute("data-echarts")));
      el.setAttribute("data-echarts-drawn", "1");
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });
})();
