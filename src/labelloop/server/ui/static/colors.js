// Class colours: elements with data-color="#rrggbb" get it as --class-color (set through
// the CSSOM: the Content-Security-Policy forbids inline style attributes).
(function () {
  "use strict";
  function paint(root) {
    root.querySelectorAll("[data-color]").forEach(function (el) {
      if (/^#[0-9a-fA-F]{6}$/.test(el.dataset.color)) {
        el.style.setProperty("--class-color", el.dataset.color);
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { paint(document); });
  document.addEventListener("htmx:afterSwap", function (e) { paint(e.target); });
})();
