// labelloop review page for boxes and spans: edit the first vote's answer, save it as the
// correction.
(function () {
  "use strict";
  function start() {
    const holder = document.getElementById("labelloop-review");
    if (!holder) return;
    const data = JSON.parse(holder.textContent);
    const names = data.project.classes.map(function (c) { return c.name; });
    const entry = data.entry;
    let editor = null, answer = null;
    if (data.project.has_spans && window.LabelloopSpans) {
      const first = entry.votes.find(function (v) { return v.kind === "human" && v.answer.spans; }) ||
        entry.votes.find(function (v) { return v.answer.spans; });
      editor = window.LabelloopSpans(document.getElementById("span-text"), {
        text: String(entry.item.data.text || ""), classes: names,
        spans: first ? first.answer.spans : [],
        allowOverlap: !!data.project.settings.allow_overlap,
      });
      answer = function () { return { spans: editor.getSpans() }; };
    } else if (window.LabelloopBoxes) {
      const first = entry.votes.find(function (v) { return v.answer.boxes; });
      editor = window.LabelloopBoxes(document.getElementById("box-canvas"), {
        imageUrl: entry.item.image_url, classes: names, boxes: first ? first.answer.boxes : [],
        width: entry.item.width, height: entry.item.height,
      });
      answer = function () { return { boxes: editor.getBoxes() }; };
    } else return;
    const statusEl = document.getElementById("status");
    document.querySelectorAll(".class-btn").forEach(function (b) {
      b.addEventListener("click", function () { editor.setLabel(b.dataset.name); b.blur(); });
    });
    document.addEventListener("keydown", function (e) {
      const tag = (e.target && e.target.tagName) || "";
      if (e.ctrlKey || e.metaKey || e.altKey || /INPUT|SELECT|TEXTAREA/.test(tag)) return;
      if (e.key >= "1" && e.key <= "9" && Number(e.key) <= names.length) editor.setLabel(names[Number(e.key) - 1]);
    });
    document.getElementById("save-correction").addEventListener("click", async function () {
      const url = "/api/v1/projects/" + data.project.id + "/items/" + entry.item.id + "/review";
      const resp = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrf },
        body: JSON.stringify(Object.assign({ decision: "correct" }, answer())),
      });
      if (resp.ok) window.location.assign("/p/" + data.project.id + "/review");
      else statusEl.textContent = "Not saved (" + resp.status + ")";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
