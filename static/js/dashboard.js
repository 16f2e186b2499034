/* Affitrack dashboard: copy to clipboard, period presets, collapsed filters on a phone. Served by us; no other scripts. */
(function () {
  "use strict";
  function announce(button, text) {
    var status = document.querySelector("[data-copy-status]");
    if (status) { status.textContent = text; }
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    button.textContent = text;
    window.setTimeout(function () { button.textContent = original; }, 2000);
  }
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { announce(button, "Copied"); },
        function () { announce(button, fallbackCopy(text) ? "Copied" : "Press Ctrl+C to copy"); }
      );
    } else {
      announce(button, fallbackCopy(text) ? "Copied" : "Press Ctrl+C to copy");
    }
  });
})();

/* A period preset fills the date inputs with its days; a date typed by hand makes the period custom.
   The server does the same on Apply; this only shows it before. */
(function () {
  "use strict";
  var days = document.getElementById("preset-days");
  var fieldset = document.querySelector("[data-period]");
  if (!days || !fieldset) { return; }
  days = JSON.parse(days.textContent);
  var preset = fieldset.querySelector("select[name=preset]");
  var start = fieldset.querySelector("input[name=start]");
  var end = fieldset.querySelector("input[name=end]");
  if (!preset || !start || !end) { return; }
  preset.addEventListener("change", function () {
    var chosen = days[preset.value];
    if (chosen) { start.value = chosen[0]; end.value = chosen[1]; }
  });
  function custom() { preset.value = "custom"; }
  start.addEventListener("input", custom);
  end.addEventListener("input", custom);
})();

/* The report's filters start closed on a phone, so the first rows are on the first screen; open when they
   hold an error to read. */
(function () {
  "use strict";
  var filters = document.querySelector("details.report-filters");
  if (filters && !filters.hasAttribute("data-keep-open") && window.matchMedia("(max-width: 640px)").matches) {
    filters.open = false;
  }
})();
