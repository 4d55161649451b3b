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
      // A data point may carry the page it stands for (the dashboard's links into /stream).
      chart.on("click", function (params) {
        var url = params && params.data && params.data.url;
        if (typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/") { window.location.assign(url); }
      });
      el.setAttribute("data-echarts-drawn", "1");
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  // The wall screen (舆情大屏): a button asks the browser for full screen.
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest && event.target.closest("[data-fullscreen]");
    if (!button) { return; }
    if (document.fullscreenElement) { document.exitFullscreen(); }
    else if (document.documentElement.requestFullscreen) { document.documentElement.requestFullscreen(); }
  });
  // Select the text of a field when it is focused (a signed link to copy).
  document.addEventListener("focusin", function (event) {
    if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-select-all")) { event.target.select(); }
  });
  document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });
})();
