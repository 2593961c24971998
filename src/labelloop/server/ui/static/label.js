// labelloop labeling page: keyboard shortcuts, suggestion toggle, timing, durable submit.
// Answers are kept as drafts in localStorage until the server acknowledges them, and
// re-sent with backoff when the connection drops.
(function () {
  "use strict";

  function start() {
    const holder = document.getElementById("labelloop-task");
    if (!holder) return;
    const data = JSON.parse(holder.textContent);
    const project = data.project, task = data.task, pid = project.id, itemId = task.item.id;
    const api = "/api/v1/projects/" + pid;
    const names = project.classes.map(function (c) { return c.name; });
    const multi = project.multi_label;
    const detection = project.has_boxes;
    const spanMode = project.has_spans;
    const statusEl = document.getElementById("status");
    const buttons = Array.prototype.slice.call(document.querySelectorAll(".class-btn"));
    const draftKey = "labelloop-draft:" + pid + ":" + itemId;
    let selected = new Set();
    let current = 0;   // box label index
    let editor = null;
    let busy = false;

    function status(text, kind) {
      statusEl.textContent = text;
      statusEl.className = "status" + (kind ? " " + kind : "");
    }
    // the session ended: the unsent answer stays on this device and is sent after log-in
    function loggedOut() {
      status("Your session has expired; your answer is kept on this device and will be " +
        "sent when you are back. ", "bad");
      const link = document.createElement("a");
      link.href = "/login?error=expired&next=" + encodeURIComponent("/p/" + pid + "/label");
      link.textContent = "Log in again";
      link.id = "login-again";
      statusEl.appendChild(link);
    }
    class LoggedOut extends Error {}

    // -- blind mode: hide suggestions ----------------------------------------------
    const hide = document.getElementById("hide-suggestion");
    const blind = localStorage.getItem("labelloop-blind") === "1";
    hide.checked = blind;
    document.body.classList.toggle("blind", blind);
    hide.addEventListener("change", function () {
      localStorage.setItem("labelloop-blind", hide.checked ? "1" : "0");
      document.body.classList.toggle("blind", hide.checked);
      if (editor) editor.showSuggested(!hide.checked);
      hide.blur();
    });
    const sug = task.suggestion;
    if (sug) {
      const marked = sug.labels || (sug.label ? [sug.label] : []);
      buttons.forEach(function (b) {
        if (marked.indexOf(b.dataset.name) >= 0) b.classList.add("suggested");
      });
    }

    // -- active time on the item -----------------------------------------------------
    const timerEl = document.getElementById("timer");
    let seconds = 0;   // active seconds: time while the tab is visible
    let since = document.hidden ? null : performance.now();
    const saved = JSON.parse(localStorage.getItem(draftKey) || "null");
    if (saved && typeof saved.seconds === "number") seconds = saved.seconds;
    function activeSeconds() {
      return seconds + (since === null ? 0 : (performance.now() - since) / 1000);
    }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { seconds = activeSeconds(); since = null; }
      else since = performance.now();
    });
    setInterval(function () { timerEl.textContent = String(Math.floor(activeSeconds())); }, 1000);

    // -- choosing classes ----------------------------------------------------------
    function render() {
      buttons.forEach(function (b) {
        const i = Number(b.dataset.index);
        const on = detection ? i === current : selected.has(i);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
    }
    function choose(i) {
      if (i < 0 || i >= names.length) return;
      if (spanMode) {
        if (editor && !editor.setLabel(names[i])) status("Select words first: drag over them, or use the arrow keys (shift extends).", "warn");
        else status("");
        return;
      }
      if (detection) { current = i; if (editor) editor.setLabel(names[i]); }
      else if (multi) { if (selected.has(i)) selected.delete(i); else selected.add(i); }
      else { selected = new Set([i]); }
      render();
    }
    // a click lets go of the focus, so Enter then submits; a key press (detail 0) keeps it
    buttons.forEach(function (b) {
      b.addEventListener("click", function (e) {
        choose(Number(b.dataset.index));
        if (e.detail > 0) b.blur();
      });
    });
    const prev = (saved && saved.answer) || task.previous;
    if (prev && !detection && !spanMode) {
      (prev.labels || (prev.label ? [prev.label] : [])).forEach(function (n) {
        const i = names.indexOf(n);
        if (i >= 0) selected.add(i);
      });
    }
    if (detection && window.LabelloopBoxes) {
      const initial = prev ? prev.boxes || [] : [];
      editor = window.LabelloopBoxes(document.getElementById("box-canvas"), {
        imageUrl: task.item.image_url, classes: names, boxes: initial,
        suggested: prev ? [] : (sug && sug.boxes) || [], showSuggested: !blind,
        width: task.item.width, height: task.item.height,
      });
      editor.setLabel(names[0]);
    }
    if (spanMode && window.LabelloopSpans) {
      editor = window.LabelloopSpans(document.getElementById("span-text"), {
        text: String(task.item.data.text || ""), classes: names,
        spans: prev ? prev.spans || [] : [], suggested: prev ? [] : (sug && sug.spans) || [],
        showSuggested: !blind, allowOverlap: !!project.settings.allow_overlap,
      });
    }
    render();

    // -- durable submit with retry ----------------------------------------------------
    function answer() {
      if (detection) return { boxes: editor ? editor.getBoxes() : [] };
      if (spanMode) return { spans: editor ? editor.getSpans() : [] };
      const picked = Array.from(selected).sort().map(function (i) { return names[i]; });
      return multi ? { labels: picked } : { label: picked[0] };
    }
    function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

    async function send(draft) {
      let wait = 1000;
      for (;;) {
        let resp = null;
        try {
          resp = await fetch(api + "/items/" + draft.item + "/annotation", {
            method: "PUT", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrf },
            body: JSON.stringify(Object.assign({ seconds: draft.seconds }, draft.answer)),
          });
        } catch (err) { resp = null; }
        if (resp && resp.ok) {
          localStorage.removeItem("labelloop-draft:" + pid + ":" + draft.item);
          return resp.json();
        }
        if (resp && resp.status === 401) throw new LoggedOut("logged out");
        if (resp && resp.status < 500 && resp.status !== 429) {
          let msg = "the server refused the answer (" + resp.status + ")";
          try { msg = (await resp.json()).error.message; } catch (e) { /* not JSON */ }
          localStorage.removeItem("labelloop-draft:" + pid + ":" + draft.item);
          throw new Error(msg);
        }
        status("Connection lost: your answer is kept here and will be sent again…", "warn");
        await sleep(wait);
        wait = Math.min(wait * 2, 15000);
      }
    }

    // spans as "LABEL: words; …" (offsets count code points, as the server does)
    function spanText(list) {
      const chars = Array.from(String(task.item.data.text || ""));
      return list.map(function (s) {
        return s.label + ": " + chars.slice(s.start, s.end).join("");
      }).join("; ") || "no spans";
    }

    function next() { window.location.assign("/p/" + pid + "/label"); }

    async function submit() {
      if (busy) return;
      const a = answer();
      if (!detection && !spanMode && !multi && !a.label) { status("Choose a class first (1-9).", "bad"); return; }
      const draft = { item: itemId, answer: a, seconds: Math.round(activeSeconds() * 100) / 100 };
      localStorage.setItem(draftKey, JSON.stringify(draft));
      busy = true;
      status("Saving…");
      try {
        const res = await send(draft);
        if (res.feedback) {
          const fb = res.feedback;
          if (fb.correct) status("✓ Correct: this was a check item.", "good");
          else {
            const exp = fb.expected.label || (fb.expected.labels || []).join(", ") ||
              (fb.expected.spans ? spanText(fb.expected.spans) :
                (fb.expected.boxes || []).length + " box(es)");
            status("✗ Check item: the reference answer is " + exp + ".", "bad");
          }
          setTimeout(next, fb.correct ? 1200 : 3000);
        } else {
          status("Saved.", "good");
          next();
        }
      } catch (err) {
        busy = false;
        if (err instanceof LoggedOut) loggedOut();
        else status(err.message, "bad");
      }
    }

    async function skip() {
      if (busy) return;
      busy = true;
      try {
        const resp = await fetch(api + "/items/" + itemId + "/skip", {
          method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": data.csrf },
        });
        if (!resp.ok) throw new Error("skip failed (" + resp.status + ")");
        localStorage.removeItem(draftKey);
        next();
      } catch (err) { busy = false; status(err.message, "bad"); }
    }

    async function undo() {
      const q = data.edit ? "?before=" + itemId : "";
      try {
        const resp = await fetch(api + "/undo" + q, { credentials: "same-origin" });
        const body = await resp.json();
        if (body.item_id) window.location.assign("/p/" + pid + "/label?item=" + body.item_id);
        else status("Nothing to undo.", "warn");
      } catch (err) { status("Undo needs a connection; try again.", "warn"); }
    }

    document.getElementById("submit-btn").addEventListener("click", submit);
    document.getElementById("skip-btn").addEventListener("click", skip);
    document.getElementById("undo-btn").addEventListener("click", undo);
    document.addEventListener("keydown", function (e) {
      const tag = (e.target && e.target.tagName) || "";
      if (e.ctrlKey || e.metaKey || e.altKey || /INPUT|SELECT|TEXTAREA/.test(tag)) return;
      if (e.key >= "1" && e.key <= "9") { choose(Number(e.key) - 1); e.preventDefault(); }
      else if (e.key === "Enter" && /^(BUTTON|A|SUMMARY)$/.test(tag)) return;  // presses it
      else if (e.key === "Enter") { submit(); e.preventDefault(); }
      else if (e.key === "s" || e.key === "S") { skip(); e.preventDefault(); }
      else if (e.key === "u" || e.key === "U") { undo(); e.preventDefault(); }
    });

    // Answers of earlier items that never reached the server are sent first.
    Object.keys(localStorage).forEach(function (k) {
      const prefix = "labelloop-draft:" + pid + ":";
      if (k.indexOf(prefix) !== 0 || k === draftKey) return;
      const d = JSON.parse(localStorage.getItem(k) || "null");
      if (d) send(d).then(function () { status("An earlier answer was delivered.", "good"); },
        function (err) {
          if (err instanceof LoggedOut) loggedOut();
          else status("An earlier answer was refused: " + err.message, "bad");
        });
    });
    if (saved && saved.answer) { status("Restored your unsent answer; sending…", "warn"); submit(); }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
