// gauntlet serve: keeps a page current. Served by the binary; no library.
//
// A run page (#run with data-events) follows its run over Server-Sent
// Events: "report" replaces the report, "logs" the log tails, "state"
// reloads the page when the run's state changes (so its actions fit).
// The runs list (#runs with data-refresh) fetches its table again every
// few seconds while the tab is visible.
(function () {
  "use strict";
  var run = document.getElementById("run");
  if (run && run.dataset.events && window.EventSource) {
    var live = document.getElementById("live");
    var es = new EventSource(run.dataset.events);
    var updates = 0;
    es.addEventListener("open", function () { if (live) live.textContent = "live"; });
    es.addEventListener("error", function () { if (live) live.textContent = "reconnecting…"; });
    es.addEventListener("report", function (e) {
      var report = document.getElementById("report");
      if (report) report.innerHTML = e.data;
      updates += 1;
      run.dataset.updates = String(updates);
      if (live) live.textContent = "live · updated " + new Date().toLocaleTimeString();
    });
    es.addEventListener("logs", function (e) {
      var logs = document.getElementById("logs");
      if (logs) logs.innerHTML = e.data;
    });
    es.addEventListener("state", function (e) {
      var s;
      try { s = JSON.parse(e.data); } catch (_) { return; }
      if (s.state !== run.dataset.state) {
        es.close();
        // Keep a notice the page was loaded with out of the reload.
        window.location.replace(window.location.pathname);
      }
    });
    es.addEventListener("problem", function (e) {
      if (live) live.textContent = "store: " + e.data;
    });
    window.addEventListener("pagehide", function () { es.close(); });
  }
  var runs = document.getElementById("runs");
  if (runs && runs.dataset.refresh) {
    window.setInterval(function () {
      if (document.hidden) return;
      fetch(runs.dataset.refresh, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) runs.innerHTML = html; })
        .catch(function () {});
    }, 3000);
  }
})();
