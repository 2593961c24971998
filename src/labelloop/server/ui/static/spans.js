// labelloop span editor: label spans of a text with the mouse or the keyboard.
// The text is shown as one element per token (the server's tokenizer: words and single
// punctuation marks), built once with textContent; a change repaints only the tokens it
// touches. Spans travel in characters (Unicode code points, as the server counts them),
// end exclusive: {start, end, label}; inside the editor they are token ranges [a, b).
// Suggested spans (pre-labels) are dashed, with their confidence, and count only once
// accepted ("a" accepts them all; relabelling one accepts it).
(function () {
  "use strict";
  const TOKEN = /[\p{L}\p{N}_]+|[^\p{L}\p{N}_\s]/gu;   // core/spans.py TOKEN_PATTERN
  const N_COLORS = 9;

  // tokens as code-point offsets [start, end), with the UTF-16 ranges to slice the text
  function tokenize(text) {
    const cp = new Int32Array(text.length + 1);   // UTF-16 index -> code point index
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      cp[i] = n;
      const c = text.charCodeAt(i);
      if (c < 0xd800 || c > 0xdbff || i + 1 >= text.length) n++;   // a high surrogate pairs
    }
    cp[text.length] = n;
    const out = [];
    let m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text)) !== null) {
      const u = m.index, v = m.index + m[0].length;
      out.push({ s: cp[u], e: cp[v], u: u, v: v });
    }
    return out;
  }

  function editor(root, opts) {
    const text = opts.text || "";
    const classes = opts.classes;
    const allowOverlap = !!opts.allowOverlap;
    const onChange = opts.onChange || function () {};
    const toks = tokenize(text);
    const els = [];
    const gaps = [];         // gaps[i]: the whitespace element before token i, or null
    let spans = [];          // {a, b, label, pre, score, tag}
    let owner = [];          // per token: the span drawn on it (the last one covering it)
    let anchor = -1, cursor = -1;
    let drag = null;
    let showSuggested = opts.showSuggested !== false;
    const history = [];

    // -- building the text once ---------------------------------------------------------
    const frag = document.createDocumentFragment();
    let last = 0;
    toks.forEach(function (t, i) {
      gaps.push(null);
      if (t.u > last && i === 0) frag.appendChild(document.createTextNode(text.slice(last, t.u)));
      else if (t.u > last) {   // whitespace inside a span is drawn with it
        const gap = document.createElement("span");
        gap.className = "gap";
        gap.textContent = text.slice(last, t.u);
        frag.appendChild(gap);
        gaps[i] = gap;
      }
      const el = document.createElement("span");
      el.className = "tok";
      el.dataset.i = String(i);
      el.textContent = text.slice(t.u, t.v);
      frag.appendChild(el);
      els.push(el);
      last = t.v;
    });
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    root.textContent = "";
    root.appendChild(frag);
    owner = new Array(toks.length).fill(null);

    // character span -> token range (a span covering no token is dropped)
    function toRange(s) {
      let a = 0;
      while (a < toks.length && toks[a].e <= s.start) a++;
      let b = a;
      while (b < toks.length && toks[b].s < s.end) b++;
      return a < b ? [a, b] : null;
    }
    function classIndex(label) {
      const i = classes.indexOf(label);
      return i < 0 ? 0 : i;
    }
    function make(list, pre) {
      const out = [];
      (list || []).forEach(function (s) {
        const r = toRange(s);
        if (r) out.push({ a: r[0], b: r[1], label: s.label, pre: pre,
                          score: typeof s.score === "number" ? s.score : null, tag: null });
      });
      return out;
    }
    const suggested = make(opts.suggested, true);

    // -- painting ---------------------------------------------------------------------
    function lo() { return Math.min(anchor, cursor); }
    function hi() { return Math.max(anchor, cursor); }
    function picked() {   // the span a collapsed cursor sits in: keys relabel or delete it
      return anchor === cursor && cursor >= 0 ? owner[cursor] : null;
    }
    function paintToken(i, pick) {
      const sp = owner[i];
      let cls = "tok";
      if (sp) {
        cls += " sp c" + (classIndex(sp.label) % N_COLORS) + (sp.pre ? " pre" : "");
        if (i === sp.a) cls += " sb";
        if (i === sp.b - 1) cls += " se";
        if (sp === pick) cls += " pick";
      }
      if (cursor >= 0 && i >= lo() && i <= hi()) cls += " sel";
      if (i === cursor) cls += " cur";
      if (els[i].className !== cls) els[i].className = cls;
    }
    function paintGap(i) {   // the gap before token i: drawn when both sides are
      const sp = owner[i];
      let cls = "gap";
      if (sp && owner[i - 1] === sp) cls += " sp c" + (classIndex(sp.label) % N_COLORS) + (sp.pre ? " pre" : "");
      if (cursor >= 0 && i - 1 >= lo() && i <= hi()) cls += " sel";
      if (gaps[i].className !== cls) gaps[i].className = cls;
    }
    function paint(a, b) {   // repaint tokens [a, b) and the gaps around them
      const pick = picked();
      for (let i = Math.max(0, a); i < Math.min(b, toks.length); i++) paintToken(i, pick);
      for (let i = Math.max(1, a); i <= Math.min(b, toks.length - 1); i++) {
        if (gaps[i]) paintGap(i);
      }
    }
    function reown(a, b) {   // recompute the top span of tokens [a, b), then repaint them
      for (let i = a; i < b; i++) owner[i] = null;
      spans.forEach(function (sp) {
        for (let i = Math.max(a, sp.a); i < Math.min(b, sp.b); i++) owner[i] = sp;
      });
      paint(a, b);
    }
    function tagFor(sp) {
      if (!sp.tag) {
        sp.tag = document.createElement("span");
        sp.tag.setAttribute("aria-hidden", "true");
      }
      sp.tag.className = "span-tag c" + (classIndex(sp.label) % N_COLORS) + (sp.pre ? " pre" : "");
      sp.tag.textContent = sp.label + (sp.pre && sp.score !== null
        ? " " + Math.round(100 * sp.score) + "%" : "");
      els[sp.b - 1].after(sp.tag);
    }
    function dropTag(sp) { if (sp.tag) { sp.tag.remove(); sp.tag = null; } }
    function counts() {
      root.dataset.spans = String(spans.filter(function (s) { return !s.pre; }).length);
      root.dataset.suggested = String(spans.filter(function (s) { return s.pre; }).length);
    }
    function add(sp) { spans.push(sp); tagFor(sp); reown(sp.a, sp.b); }
    function remove(sp) {
      const k = spans.indexOf(sp);
      if (k < 0) return;
      spans.splice(k, 1);
      dropTag(sp);
      reown(sp.a, sp.b);
    }
    // what the keys did, for screen readers (the colours and tags are not read out)
    const said = document.createElement("p");
    said.className = "sr-only";
    said.setAttribute("aria-live", "polite");
    if (root.id) said.id = root.id + "-said";
    root.after(said);
    function announce() {
      const pick = picked();
      if (pick) {
        said.textContent = text.slice(toks[pick.a].u, toks[pick.b - 1].v) + ": " + pick.label +
          (pick.pre ? " (suggested)" : "");
      } else if (cursor >= 0) said.textContent = "Selected: " + text.slice(toks[lo()].u, toks[hi()].v);
      else said.textContent = "";
    }
    function moveSelection(newAnchor, newCursor) {
      const oldLo = cursor >= 0 ? lo() : 0, oldHi = cursor >= 0 ? hi() : -1;
      const oldPick = picked();
      anchor = newAnchor; cursor = newCursor;
      const pick = picked();
      paint(oldLo, oldHi + 1);
      if (cursor >= 0) paint(lo(), hi() + 1);
      if (oldPick && oldPick !== pick) paint(oldPick.a, oldPick.b);
      if (pick && pick !== oldPick) paint(pick.a, pick.b);
      if (cursor >= 0) {
        root.dataset.selection = toks[lo()].s + "-" + toks[hi()].e;
        els[cursor].scrollIntoView({ block: "nearest" });
      } else delete root.dataset.selection;
      announce();
    }
    function remember() {
      history.push(spans.map(function (s) {
        return { a: s.a, b: s.b, label: s.label, pre: s.pre, score: s.score };
      }));
      if (history.length > 100) history.shift();
    }
    function changed() { counts(); announce(); onChange(); }

    // -- editing ------------------------------------------------------------------------
    function applyLabel(label) {
      if (cursor < 0) return false;
      remember();
      const pick = picked();
      if (pick) {   // relabel (and so accept) the span under the cursor
        pick.label = label; pick.pre = false;
        tagFor(pick);
        paint(pick.a, pick.b);
        changed();
        return true;
      }
      const a = lo(), b = hi() + 1;
      spans.filter(function (s) {
        return s.a === a && s.b === b || (!allowOverlap && s.a < b && a < s.b);
      }).forEach(remove);
      const sp = { a: a, b: b, label: label, pre: false, score: null, tag: null };
      add(sp);
      moveSelection(b - 1, b - 1);   // the new span stays picked: a class key relabels it
      changed();
      return true;
    }
    function deletePicked() {
      const pick = picked();
      if (!pick) return false;
      remember();
      remove(pick);
      paint(cursor, cursor + 1);
      changed();
      return true;
    }
    function acceptAll() {
      const pres = spans.filter(function (s) { return s.pre; });
      if (!pres.length) return 0;
      remember();
      pres.forEach(function (s) { s.pre = false; tagFor(s); paint(s.a, s.b); });
      changed();
      return pres.length;
    }
    function undoEdit() {
      const prev = history.pop();
      if (!prev) return false;
      spans.slice().forEach(remove);
      prev.forEach(function (s) { add(Object.assign({ tag: null }, s)); });
      moveSelection(-1, -1);
      changed();
      return true;
    }

    // -- mouse: press on a token, drag across tokens; a click picks the span under it ----
    function tokenAt(target) {
      const el = target && target.closest ? target.closest(".tok") : null;
      return el && root.contains(el) ? Number(el.dataset.i) : -1;
    }
    root.addEventListener("mousedown", function (e) {
      if (e.button !== 0) return;
      const i = tokenAt(e.target);
      root.focus({ preventScroll: true });
      e.preventDefault();   // no native text selection: tokens are the selection
      if (i < 0) { moveSelection(-1, -1); return; }
      drag = { from: i };
      moveSelection(e.shiftKey && anchor >= 0 ? anchor : i, i);
    });
    root.addEventListener("mouseover", function (e) {
      if (!drag) return;
      const i = tokenAt(e.target);
      if (i >= 0 && i !== cursor) moveSelection(anchor, i);
    });
    window.addEventListener("mouseup", function () { drag = null; });

    // -- keyboard -----------------------------------------------------------------------
    document.addEventListener("keydown", function (e) {
      const tag = (e.target && e.target.tagName) || "";
      if (/INPUT|SELECT|TEXTAREA/.test(tag) || e.altKey || !toks.length) return;
      if ((e.ctrlKey || e.metaKey) && (e.key === "z" || e.key === "Z")) {
        if (undoEdit()) e.preventDefault();
        return;
      }
      if (e.ctrlKey || e.metaKey) return;
      let handled = true;
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        const step = e.key === "ArrowRight" ? 1 : -1;
        const to = cursor < 0 ? (step > 0 ? 0 : toks.length - 1)
          : Math.max(0, Math.min(toks.length - 1, cursor + step));
        moveSelection(e.shiftKey && anchor >= 0 ? anchor : to, to);
      } else if (e.key === "Home" || e.key === "End") {
        const to = e.key === "Home" ? 0 : toks.length - 1;
        moveSelection(e.shiftKey && anchor >= 0 ? anchor : to, to);
      } else if (e.key === "Delete" || e.key === "Backspace") {
        handled = deletePicked();
      } else if (e.key === "Escape") {
        moveSelection(-1, -1);
      } else if ((e.key === "a" || e.key === "A") && !e.shiftKey) {
        handled = acceptAll() > 0;
      } else handled = false;
      if (handled) e.preventDefault();
    });

    // -- start --------------------------------------------------------------------------
    make(opts.spans, false).forEach(add);
    if (showSuggested) suggested.forEach(add);
    counts();
    root.dataset.ready = "1";

    return {
      // apply a class to the selection, or relabel the picked span; false: nothing selected
      setLabel: function (name) { return applyLabel(name); },
      acceptSuggested: acceptAll,
      showSuggested: function (on) {
        showSuggested = on;
        spans.filter(function (s) { return s.pre; }).forEach(remove);
        if (on) {
          suggested.filter(function (s) {
            return s.pre && !spans.some(function (t) {
              return t.a === s.a && t.b === s.b && t.label === s.label;
            });
          }).forEach(add);
        }
        counts();
      },
      hasSelection: function () { return cursor >= 0; },
      // the accepted spans in characters, sorted; suggestions not accepted are left out
      getSpans: function () {
        return spans.filter(function (s) { return !s.pre; })
          .map(function (s) { return { start: toks[s.a].s, end: toks[s.b - 1].e, label: s.label }; })
          .sort(function (x, y) { return x.start - y.start || x.end - y.end; });
      },
    };
  }

  window.LabelloopSpans = editor;
  window.LabelloopSpans.tokenize = tokenize;
})();
