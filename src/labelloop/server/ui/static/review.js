// labelloop review page for object detection: edit the boxes of a vote, save as correction.
(function () {
  "use strict";
  function start() {
    const holder = document.getElementById("labelloop-review");
    if (!holder || !window.LabelloopBoxes) return;
    const data = JSON.parse(holder.textContent);
    const names = data.project.classes.map(function (c) { return c.name; });
    const entry = data.entry;
    const first = entry.votes.find(function (v) { return v.answer.boxes; });
    const editor = window.LabelloopBoxes(document.getElementById("box-canvas"), {
      imageUrl: entry.item.image_url, classes: names, boxes: first ? first.answer.boxes : [],
      width: entry.item.width, height: entry.item.height,
    });
    const statusEl = document.getElementById("status");
    document.querySelectorAll(".class-btn").forEach(function (b) {
      b.addEventListener("click", function () { editor.setLabel(b.dataset.name); });
    });
    document.addEventListener("keydown", function (e) {
      if (e.key >= "1" && e.key <= "9" && Number(e.key) <= names.length) editor.setLabel(names[Number(e.key) - 1]);
    });
    document.getElementById("save-correction").addEventListener("click", async function () {
      const url = "/api/v1/projects/" + data.project.id + "/items/" + entry.item.id + "/review";
      const resp = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrf },
        body: JSON.stringify({ decision: "correct", boxes: editor.getBoxes() }),
      });
      if (resp.ok) window.location.assign("/p/" + data.project.id + "/review");
      else statusEl.textContent = "Not saved (" + resp.status + ")";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
