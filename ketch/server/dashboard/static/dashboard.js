// The dashboard's live parts. A page whose <main> has data-events opens one EventSource on it:
// on "changed", every element whose data-on names a kind that changed is fetched again (the
// URL it shows now: a pager may have moved it); on an app's page, "log" events add lines to
// #logs. Charts are drawn from the JSON beside their canvas, again after each swap. Choosing an
// environment in the header shows it.
(function () {
  "use strict";
  const main = document.querySelector("main");

  function refresh(kinds) {
    const stale = [];
    document.querySelectorAll("[data-on]").forEach(function (el) {
      if (!el.dataset.on.split(",").some(function (k) { return kinds.indexOf(k) >= 0; })) return;
      if (el.dataset.logs) return loadLogs();
      if (el.getAttribute("hx-select")) return htmx.trigger(el, "refresh");
      const url = el.dataset.src || el.getAttribute("hx-get");
      if (url) stale.push([el, url]);
    });
    if (stale.length) load(stale);
  }

  // The tables that changed, fetched again in one request (each request is costly to a
  // browser: a tab left open should cost the machine little), and swapped in where they differ.
  function load(stale) {
    const query = stale.map(function (part) { return "src=" + encodeURIComponent(part[1]); });
    fetch("/parts?" + query.join("&"))
      .then(function (answer) { return answer.ok ? answer.json() : []; })
      .then(function (parts) {
        parts.forEach(function (html, i) {
          const el = stale[i][0];
          if (!html || html === el.shownHtml) return;
          el.innerHTML = html;
          el.shownHtml = html;
          htmx.process(el);
        });
      });
  }

  // a pager moved a live table: keep the page it shows when it is fetched again
  document.body.addEventListener("htmx:afterRequest", function (event) {
    const target = event.detail.target;
    if (target && target.dataset && target.dataset.on && event.detail.pathInfo) {
      target.dataset.src = event.detail.pathInfo.requestPath;
    }
  });

  function drawCharts() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      const data = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
      const old = Chart.getChart(canvas);
      if (old) old.destroy();
      new Chart(canvas, {
        type: "bar",
        data: { labels: data.labels, datasets: [{ label: data.label, data: data.values,
                                                   backgroundColor: "#4c7bd9" }] },
        options: { animation: false, maintainAspectRatio: false,
                   plugins: { legend: { display: true } }, scales: { y: { beginAtZero: true } } },
      });
    });
  }
  document.body.addEventListener("htmx:afterSettle", drawCharts);
  drawCharts();

  // -- an app's logs ---------------------------------------------------------------------------
  const logs = document.getElementById("logs");
  const filters = document.getElementById("log-filters");
  const status = document.getElementById("logs-status");
  let source = null;

  function query() {
    if (!filters) return "";
    const params = new URLSearchParams(new FormData(filters));
    for (const [key, value] of Array.from(params.entries())) if (!value) params.delete(key);
    const text = params.toString();
    return text ? "?" + text : "";
  }

  function loadLogs() {  // the logbook's lines: for a call, a stopped app, or older lines
    if (!logs || !logs.dataset.logs) return htmx.trigger(logs, "refresh");
    htmx.ajax("GET", logs.dataset.logs + query(), { target: logs, swap: "innerHTML" })
      .then(function () { logs.scrollTop = logs.scrollHeight; });
  }

  function addLines(lines) {  // the lines the stream read together, in one update
    const rows = document.createDocumentFragment();
    lines.forEach(function (line) {
      const row = document.createElement("div");
      row.className = "line " + line.stream;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = line.function + (line.container ? " " + line.container : "") + "  ";
      row.appendChild(who);
      row.appendChild(document.createTextNode(line.text.replace(/\n$/, "")));
      rows.appendChild(row);
    });
    const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    logs.appendChild(rows);
    if (atEnd) logs.scrollTop = logs.scrollHeight;
  }

  function connect() {
    if (source) source.close();
    if (!main || !main.dataset.events) return;
    let url = main.dataset.events;
    if (filters) {
      logs.textContent = "";
      url += query();
      if (filters.elements.call.value) loadLogs();
    }
    source = new EventSource(url);
    source.addEventListener("log", function (event) { addLines(JSON.parse(event.data)); });
    source.addEventListener("changed", function (event) { refresh(JSON.parse(event.data).what); });
    source.addEventListener("end", function (event) {
      if (status) status.textContent = JSON.parse(event.data).reason;
      source.close();
      if (filters) loadLogs();
    });
    source.onopen = function () { if (status) status.textContent = "live"; };
  }

  if (filters) {
    let timer = null;
    filters.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(connect, 300);
    });
    filters.addEventListener("submit", function (event) { event.preventDefault(); connect(); });
    document.body.addEventListener("click", function (event) {
      const link = event.target.closest && event.target.closest("a.log-link");
      if (!link) return;
      event.preventDefault();
      filters.elements.container.value = link.dataset.container;
      connect();
    });
  }
  connect();

  // the environment chosen in the header: shown at once, without its button
  const environment = document.getElementById("env");
  if (environment) {
    document.getElementById("env-go").hidden = true;
    environment.addEventListener("change", function () { environment.form.submit(); });
  }
})();
