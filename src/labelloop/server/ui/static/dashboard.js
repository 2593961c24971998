// The dashboard refreshes its numbers every 15 s (htmx polling #stats). Not while the
// keyboard focus or an open matrix is inside them: the swap would take the focus away and
// close what the reader opened.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (e) {
    const stats = document.getElementById("stats");
    if (!stats || e.detail.elt !== stats) return;
    if (stats.contains(document.activeElement) || stats.querySelector("details[open]")) {
      e.preventDefault();
    }
  });
})();
