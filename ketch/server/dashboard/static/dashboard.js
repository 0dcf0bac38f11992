// The app page's live parts: one EventSource on the app's event stream. Log lines are appended
// as they come; a "changed" event asks htmx to re-fetch the calls and containers tables.
(function () {
  "use strict";
  const page = document.getElementById("app-page");
  if (!page) return;
  const logs = document.getElementById("logs");
  const status = document.getElementById("logs-status");
  const filter = document.getElementById("log-function");
  let source = null;

  function connect() {
    if (source) source.close();
    logs.textContent = "";
    let url = page.dataset.events;
    if (filter && filter.value) url += "?function=" + encodeURIComponent(filter.value);
    source = new EventSource(url);
    source.addEventListener("log", function (event) {
      const line = JSON.parse(event.data);
      const row = document.createElement("div");
      row.className = "line " + line.stream;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = line.function + (line.container ? " " + line.container : "") + "  ";
      row.appendChild(who);
      row.appendChild(document.createTextNode(line.text.replace(/\n$/, "")));
      const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
      logs.appendChild(row);
      if (atEnd) logs.scrollTop = logs.scrollHeight;
    });
    source.addEventListener("changed", function () {
      htmx.trigger("#calls", "refresh");
      htmx.trigger("#containers", "refresh");
    });
    source.addEventListener("end", function (event) {
      status.textContent = JSON.parse(event.data).reason;
      source.close();
      htmx.trigger("#calls", "refresh");
      htmx.trigger("#containers", "refresh");
    });
    source.onopen = function () { status.textContent = "live"; };
  }
  if (filter) filter.addEventListener("change", connect);
  connect();
})();
