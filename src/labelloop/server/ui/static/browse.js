// The data browser: columns the user hides (kept in localStorage), "check every row".
(function () {
  "use strict";
  const KEY = "labelloop.browse.hidden";
  const table = document.getElementById("browse-table");
  if (!table) return;

  function hidden() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }

  function apply() {
    const off = hidden();
    document.querySelectorAll("#columns input[data-col]").forEach(function (box) {
      const col = box.dataset.col;
      box.checked = off.indexOf(col) < 0;
      table.querySelectorAll(".col-" + col).forEach(function (cell) { cell.hidden = !box.checked; });
    });
  }

  document.querySelectorAll("#columns input[data-col]").forEach(function (box) {
    box.addEventListener("change", function () {
      const off = hidden().filter(function (c) { return c !== box.dataset.col; });
      if (!box.checked) off.push(box.dataset.col);
      localStorage.setItem(KEY, JSON.stringify(off));
      apply();
    });
  });

  const all = document.getElementById("check-page");
  if (all) {
    all.addEventListener("change", function () {
      table.querySelectorAll(".row-check").forEach(function (b) { b.checked = all.checked; });
    });
  }
  apply();
})();
