// Polls an upload's progress: rows imported, then its conversions processed. The bar reaches 100% only when
// both are; the page reloads when the import ends (to show what it created) and when all is done.
(function () {
  "use strict";
  var section = document.getElementById("upload-progress");
  if (!section) { return; }
  var url = section.getAttribute("data-progress-url");
  var shownPhase = section.getAttribute("data-phase");
  var bar = document.getElementById("upload-bar");
  function text(id, value) {
    var element = document.getElementById(id);
    if (element) { element.textContent = value; }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (data) {
        bar.value = data.percent;
        bar.textContent = data.percent + "%";
        text("upload-phase", data.label);
        text("upload-percent", data.percent);
        text("upload-rows-done", data.rows_done);
        text("upload-rows-total", data.rows_total);
        text("upload-conversions-processed", data.conversions_processed);
        text("upload-conversions-total", data.conversions_total);
        var processed = document.getElementById("upload-processed");
        if (processed) { processed.hidden = !data.conversions_total; }
        var waiting = document.getElementById("upload-waiting");
        waiting.textContent = data.waiting_for;
        waiting.hidden = !data.waiting_for;
        // Queued and importing are shown in place; the page itself shows what the import created.
        var imported = data.phase === "processing" || data.finished;
        if (imported && data.phase !== shownPhase) { window.location.reload(); return; }
        if (!data.finished) { window.setTimeout(poll, 700); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 300);
})();
