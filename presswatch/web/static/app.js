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
    });
  }
  // One resize handler for every chart on the page (a wall screen redraws its charts every minute:
  // a listener per chart would pile up).
  window.addEventListener("resize", function () {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-echarts-drawn]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) { chart.resize(); }
    });
  });
  // Free the charts htmx is about to replace, so a page refreshing itself all day keeps its memory.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!window.echarts || !event.target || !event.target.querySelectorAll) { return; }
    if (event.detail && event.detail.shouldSwap === false) { return; }  // an error answer keeps the old charts
    event.target.querySelectorAll("[data-echarts-drawn]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) { chart.dispose(); }
    });
  });
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
  // Keyboard triage on /stream: j / k move, x selects, e marks read, o (or Enter) opens the piece.
  function streamRows() { return Array.prototype.slice.call(document.querySelectorAll("[data-stream] li.stream-item")); }
  function currentRow() { return document.querySelector("[data-stream] li.stream-item.current"); }
  function moveTo(row) {
    var old = currentRow();
    if (old) { old.classList.remove("current"); }
    if (!row) { return; }
    row.classList.add("current");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }
  function markRead(row) {
    var form = row.closest("form[data-stream]");
    var data = new FormData();
    data.append("action", "read");
    data.append("ids", row.getAttribute("data-id"));
    data.append("js", "1");
    fetch(form.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { if (response.ok) { row.classList.remove("unread"); } });
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) { return; }
    var rows = streamRows();
    if (!rows.length) { return; }
    var row = currentRow();
    var index = row ? rows.indexOf(row) : -1;
    if (event.key === "j") { moveTo(rows[Math.min(rows.length - 1, index + 1)]); }
    else if (event.key === "k") { moveTo(rows[Math.max(0, index - 1)]); }
    else if (event.key === "x" && row) {
      var box = row.querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; }
    }
    else if (event.key === "e" && row) { markRead(row); }
    else if ((event.key === "o" || event.key === "Enter") && row && target === row) {
      var link = row.querySelector("a.title");
      if (link) { window.location.href = link.getAttribute("href"); }
    }
    else { return; }
    event.preventDefault();
  });
})();
