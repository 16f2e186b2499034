// Polls an upload's progress and updates the bar; reloads the page once the import has finished.
(function () {
  "use strict";
  var section = document.getElementById("upload-progress");
  if (!section) { return; }
  var url = section.getAttribute("data-progress-url");
  var bar = document.getElementById("upload-bar");
  function text(id, value) { document.getElementById(id).textContent = value; }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (data) {
        bar.value = data.percent;
        bar.textContent = data.percent + "%";
        text("upload-rows-done", data.rows_done);
        text("upload-rows-total", data.rows_total);
        text("upload-percent", data.percent);
        text("upload-status", data.status.charAt(0).toUpperCase() + data.status.slice(1));
        if (data.finished) { window.location.reload(); } else { window.setTimeout(poll, 700); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 300);
})();
