/* Affitrack dashboard: copy to clipboard. Served by us; no other scripts. */
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
