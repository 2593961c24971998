// labelloop box editor: draw, select, move, resize and delete boxes on a canvas; zoom with the
// wheel, pan with the middle button or space+drag, nudge with the arrow keys, and a list of
// the boxes (select, relabel, hide, delete).
// Boxes are kept in pixels of the original image ({x, y, w, h, label}); suggested boxes
// (pre-labels) are drawn dashed and become ordinary boxes once touched. Hidden boxes are only
// out of sight: they are still part of the answer.
(function () {
  "use strict";
  const COLORS = ["#4dabf7", "#ff6b6b", "#51cf66", "#fcc419", "#cc5de8", "#ff922b", "#22b8cf",
    "#f06595", "#94d82d"];
  const HANDLE = 7;   // handle half-size in screen pixels
  const MIN = 3;      // smallest box side in image pixels
  const MAX_ZOOM = 8; // times the fitted size, or more where that shows under 8 screen pixels
                    // per image pixel (large images)

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }
  // how far a wheel event asks to zoom: one notch (deltaY 100) is about 16%
  function wheelFactor(e) {
    const dy = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1);
    return Math.pow(1.0015, -clamp(dy, -300, 300));
  }

  // What part of a W×H image a viewport (vw×vh) shows: `base` viewport pixels per image
  // pixel when the image fits, `zoom` times that (1 to max()), and the image point (ox, oy)
  // at the viewport's top-left corner. `changed` runs after every change.
  function view(changed) {
    const v = { base: 1, zoom: 1, ox: 0, oy: 0, scale: 1, W: 0, H: 0, vw: 0, vh: 0 };
    v.max = function () { return Math.max(MAX_ZOOM, 8 / v.base); };
    v.set = function (z, x, y) {
      v.zoom = clamp(z, 1, v.max());
      v.scale = v.base * v.zoom;
      v.ox = clamp(x, 0, Math.max(0, v.W - v.vw / v.scale));
      v.oy = clamp(y, 0, Math.max(0, v.H - v.vh / v.scale));
      changed();
    };
    // zoom by `f`, keeping the image point under the viewport point (px, py) where it is
    v.zoomAt = function (f, px, py) {
      const x = v.ox + px / v.scale, y = v.oy + py / v.scale;
      const z = clamp(v.zoom * f, 1, v.max());
      v.set(z, x - px / (v.base * z), y - py / (v.base * z));
    };
    v.reset = function () { v.set(1, 0, 0); };
    return v;
  }
  function wheelZoom(target, v, at) {
    target.addEventListener("wheel", function (e) {
      const f = wheelFactor(e);
      if (!v.W || (v.zoom <= 1 && f < 1)) return;  // zoomed out already: the page scrolls
      const p = at(e);
      v.zoomAt(f, p[0], p[1]);
      e.preventDefault();
    }, { passive: false });
  }
  function isTyping(e) { return /INPUT|SELECT|TEXTAREA/.test((e.target && e.target.tagName) || ""); }

  // the zoom buttons (-, level, +, fit) put before `before`; `focus` gets the focus back
  function zoomBar(before, v, focus, hint) {
    const bar = el("div", "box-tools");
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Zoom");
    function button(text, title, act) {
      const b = el("button", "small", text);
      b.type = "button";
      b.title = title;
      b.setAttribute("aria-label", title);
      b.addEventListener("click", function () { act(); focus.focus({ preventScroll: true }); });
      bar.appendChild(b);
      return b;
    }
    button("−", "Zoom out (-)", function () { v.zoomAt(0.8, v.vw / 2, v.vh / 2); });
    const level = el("span", "box-zoom", "100%");
    level.setAttribute("aria-live", "polite");
    bar.appendChild(level);
    button("+", "Zoom in (+)", function () { v.zoomAt(1.25, v.vw / 2, v.vh / 2); });
    button("Fit", "Fit the image (0)", v.reset).classList.add("box-fit");
    bar.appendChild(el("span", "muted small", hint));
    before.parentElement.insertBefore(bar, before);
    return { level: level };
  }
  // keys shared by the editor and the viewer: 0 fits, + and - zoom around the middle
  function zoomKey(e, v) {
    if (e.ctrlKey || e.metaKey || e.altKey) return false;
    if (e.key === "0") v.reset();
    else if (e.key === "+" || e.key === "=") v.zoomAt(1.25, v.vw / 2, v.vh / 2);
    else if (e.key === "-") v.zoomAt(0.8, v.vw / 2, v.vh / 2);
    else return false;
    e.preventDefault();
    return true;
  }

  function editor(canvas, opts) {
    const ctx = canvas.getContext("2d");
    const classes = opts.classes;
    let boxes = (opts.boxes || []).map(function (b) { return Object.assign({}, b, { pre: false }); });
    const suggested = (opts.suggested || []).map(function (b) { return Object.assign({}, b, { pre: true }); });
    let showSuggested = opts.showSuggested !== false;
    if (showSuggested) boxes = boxes.concat(suggested);
    let label = classes[0];
    let sel = -1, drag = null, W = opts.width || 0, H = opts.height || 0;
    let scale = 1, ox = 0, oy = 0, spaceDown = false;
    const img = new Image();
    const list = regionList();
    const cam = view(function () {
      scale = cam.scale; ox = cam.ox; oy = cam.oy;
      canvas.dataset.zoom = String(Math.round(cam.zoom * 1000) / 1000);
      canvas.dataset.view = ox.toFixed(1) + "," + oy.toFixed(1);
      tools.level.textContent = Math.round(cam.zoom * 100) + "%";
      draw();
    });

    function fit() {
      const maxW = canvas.parentElement.clientWidth || 800;
      cam.base = Math.min(maxW / W, 700 / H, 4);
      canvas.width = Math.round(W * cam.base);
      canvas.height = Math.round(H * cam.base);
      Object.assign(cam, { W: W, H: H, vw: canvas.width, vh: canvas.height });
      cam.set(cam.zoom, cam.ox, cam.oy);
    }
    const tools = zoomBar(canvas.parentElement, cam, canvas,
      "wheel zooms · middle button or space+drag pans");
    img.onload = function () { W = img.naturalWidth; H = img.naturalHeight; fit(); canvas.dataset.ready = "1"; };
    img.src = opts.imageUrl;
    window.addEventListener("resize", function () { if (W) fit(); });

    function color(name) { const i = classes.indexOf(name); return COLORS[(i < 0 ? 0 : i) % COLORS.length]; }
    function sx(v) { return (v - ox) * scale; }
    function sy(v) { return (v - oy) * scale; }
    function draw() {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      // pixels stay sharp once one image pixel covers two screen pixels
      ctx.imageSmoothingEnabled = scale < 2;
      if (img.complete && W) ctx.drawImage(img, sx(0), sy(0), W * scale, H * scale);
      boxes.forEach(function (b, i) {
        if (b.hidden) return;
        const c = color(b.label);
        const x = sx(b.x), y = sy(b.y);
        ctx.save();
        ctx.lineWidth = i === sel ? 3 : 2;
        ctx.strokeStyle = c;
        if (b.pre) ctx.setLineDash([6, 4]);
        ctx.strokeRect(x, y, b.w * scale, b.h * scale);
        ctx.setLineDash([]);
        ctx.font = "12px system-ui, sans-serif";
        const text = b.label + (b.pre ? " (suggested)" : "");
        const tw = ctx.measureText(text).width + 8;
        ctx.fillStyle = c;
        ctx.fillRect(x, Math.max(0, y - 16), tw, 16);
        ctx.fillStyle = "#111";
        ctx.fillText(text, x + 4, Math.max(12, y - 4));
        if (i === sel) {
          ctx.fillStyle = "#fff";
          corners(b).forEach(function (p) {
            ctx.fillRect(p[0] - HANDLE / 2, p[1] - HANDLE / 2, HANDLE, HANDLE);
            ctx.strokeRect(p[0] - HANDLE / 2, p[1] - HANDLE / 2, HANDLE, HANDLE);
          });
        }
        ctx.restore();
      });
      canvas.dataset.boxes = String(boxes.length);
      list.update();
    }
    function corners(b) {
      const x1 = sx(b.x), y1 = sy(b.y), x2 = sx(b.x + b.w), y2 = sy(b.y + b.h);
      return [[x1, y1], [x2, y1], [x1, y2], [x2, y2]];
    }
    function point(e) {
      const r = canvas.getBoundingClientRect();
      const px = (e.clientX - r.left) * (canvas.width / r.width);
      const py = (e.clientY - r.top) * (canvas.height / r.height);
      return { sx: px, sy: py, x: clamp(ox + px / scale, 0, W), y: clamp(oy + py / scale, 0, H) };
    }
    function hitCorner(p) {
      if (sel < 0) return -1;
      const cs = corners(boxes[sel]);
      for (let k = 0; k < 4; k++) {
        if (Math.abs(cs[k][0] - p.sx) <= HANDLE && Math.abs(cs[k][1] - p.sy) <= HANDLE) return k;
      }
      return -1;
    }
    function hitBox(p) {
      for (let i = boxes.length - 1; i >= 0; i--) {
        const b = boxes[i];
        if (b.hidden) continue;
        if (p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h) return i;
      }
      return -1;
    }
    function touch(i) { boxes[i].pre = false; }
    function panning(e) { return e.button === 1 || (e.button === 0 && spaceDown); }
    function cursor() { canvas.style.cursor = drag && drag.mode === "pan" ? "grabbing" : spaceDown ? "grab" : ""; }

    canvas.addEventListener("mousedown", function (e) {
      canvas.focus({ preventScroll: true });
      const p = point(e);
      if (panning(e)) {
        drag = { mode: "pan", sx: p.sx, sy: p.sy, ox: ox, oy: oy };
        cursor();
        e.preventDefault();
        return;
      }
      if (e.button !== 0) return;
      const k = hitCorner(p);
      if (k >= 0) {
        const b = boxes[sel];
        // the corner opposite the grabbed one stays fixed
        const fx = k % 2 === 0 ? b.x + b.w : b.x, fy = k < 2 ? b.y + b.h : b.y;
        drag = { mode: "resize", fx: fx, fy: fy };
        touch(sel);
      } else {
        const i = hitBox(p);
        if (i >= 0) {
          sel = i;
          drag = { mode: "move", ox: p.x - boxes[i].x, oy: p.y - boxes[i].y };
          touch(i);
        } else {
          sel = -1;
          drag = { mode: "draw", fx: p.x, fy: p.y, made: false };
        }
      }
      draw();
      e.preventDefault();
    });
    // no autoscroll or paste from the middle button
    canvas.addEventListener("auxclick", function (e) { e.preventDefault(); });
    wheelZoom(canvas, cam, function (e) { const p = point(e); return [p.sx, p.sy]; });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      const p = point(e);
      if (drag.mode === "pan") {
        cam.set(cam.zoom, drag.ox - (p.sx - drag.sx) / scale, drag.oy - (p.sy - drag.sy) / scale);
        return;
      }
      if (drag.mode === "move") {
        const b = boxes[sel];
        b.x = clamp(p.x - drag.ox, 0, W - b.w);
        b.y = clamp(p.y - drag.oy, 0, H - b.h);
      } else {
        if (drag.mode === "draw" && !drag.made) {
          // a click that slips a little draws nothing (the threshold shrinks as one zooms in)
          const near = MIN / cam.zoom;
          if (Math.abs(p.x - drag.fx) < near && Math.abs(p.y - drag.fy) < near) return;
          boxes.push({ x: drag.fx, y: drag.fy, w: MIN, h: MIN, label: label, pre: false });
          sel = boxes.length - 1;
          drag.made = true;
        }
        const b = boxes[sel];
        b.x = Math.min(drag.fx, p.x); b.y = Math.min(drag.fy, p.y);
        b.w = Math.max(MIN, Math.abs(p.x - drag.fx)); b.h = Math.max(MIN, Math.abs(p.y - drag.fy));
      }
      draw();
    });
    window.addEventListener("mouseup", function () {
      if (!drag) return;
      // a new box keeps the class it was drawn in: it is not left selected, so the next
      // class key chooses the class of the next box instead of relabelling this one
      if (drag.mode === "draw") sel = -1;
      drag = null;
      cursor();
      draw();
    });

    // arrows move the selected box (shift: 10 px); with alt or ctrl they resize it
    function nudge(key, step, resize) {
      const b = boxes[sel];
      const dx = key === "ArrowRight" ? step : key === "ArrowLeft" ? -step : 0;
      const dy = key === "ArrowDown" ? step : key === "ArrowUp" ? -step : 0;
      if (resize) {
        b.w = clamp(b.w + dx, MIN, W - b.x);
        b.h = clamp(b.h + dy, MIN, H - b.y);
      } else {
        b.x = clamp(b.x + dx, 0, W - b.w);
        b.y = clamp(b.y + dy, 0, H - b.h);
      }
      touch(sel);
      draw();
    }
    // a box from the keyboard: half the visible width and height, in the middle of the
    // view, with the current class; it stays selected so the arrows move and resize it
    function addInView() {
      const vw = cam.vw / scale, vh = cam.vh / scale;
      const w = Math.max(MIN, Math.min(vw, W) / 2), h = Math.max(MIN, Math.min(vh, H) / 2);
      boxes.push({ x: ox + (Math.min(vw, W) - w) / 2, y: oy + (Math.min(vh, H) - h) / 2,
        w: w, h: h, label: label, pre: false });
      sel = boxes.length - 1;
      draw();
    }
    function remove(i) {
      boxes.splice(i, 1);
      if (sel === i) sel = -1;
      else if (sel > i) sel -= 1;
      draw();
    }
    document.addEventListener("keydown", function (e) {
      if (isTyping(e)) return;
      if (e.key === " " && e.target.tagName !== "BUTTON") {
        spaceDown = true;
        cursor();
        e.preventDefault();
      } else if ((e.key === "Delete" || e.key === "Backspace") && sel >= 0) {
        remove(sel);
        e.preventDefault();
      } else if (e.key === "Escape") { sel = -1; draw(); }
      else if ((e.key === "n" || e.key === "N") && W && !e.ctrlKey && !e.metaKey && !e.altKey) {
        addInView();
        e.preventDefault();
      } else if (/^Arrow/.test(e.key) && sel >= 0) {
        nudge(e.key, e.shiftKey ? 10 : 1, e.altKey || e.ctrlKey || e.metaKey);
        e.preventDefault();
      } else zoomKey(e, cam);
    });
    document.addEventListener("keyup", function (e) {
      if (e.key === " ") { spaceDown = false; cursor(); }
    });
    window.addEventListener("blur", function () { spaceDown = false; cursor(); });

    // -- the list of boxes -------------------------------------------------------------
    function regionList() {
      let holder = opts.listHolder || document.getElementById("box-regions");
      if (!holder) {
        holder = el("div", "box-regions");
        const wrap = canvas.parentElement;
        wrap.parentElement.insertBefore(holder, wrap.nextSibling);
      }
      holder.classList.add("box-regions");
      const title = el("h3", "", "Boxes");
      const ul = el("ul", "plain regions");
      ul.setAttribute("aria-label", "Boxes");
      const empty = el("p", "muted small", "No boxes yet: drag on the image (or press N) to draw one.");
      holder.replaceChildren(title, ul, empty);
      let shown = [];   // what each row shows, to redo only the rows that changed

      function act(fn) {
        return function () { fn(); canvas.focus({ preventScroll: true }); };
      }
      function row(b, i) {
        const li = el("li", "region" + (i === sel ? " selected" : "") + (b.hidden ? " hidden-box" : ""));
        li.dataset.index = String(i);
        const n = i + 1;
        const pick = el("button", "small region-pick");
        pick.type = "button";
        pick.setAttribute("aria-pressed", i === sel ? "true" : "false");
        pick.title = "Select box " + n + " at " + Math.round(b.x) + ", " + Math.round(b.y);
        const sw = el("span", "region-swatch");
        sw.style.background = color(b.label);
        // named by what it shows, with the words a screen reader needs around it
        pick.append(el("span", "sr-only", "Select box "), sw, el("span", "region-name", "#" + n),
          el("span", "region-size muted", Math.round(b.w) + "×" + Math.round(b.h)),
          el("span", "sr-only", ", " + b.label));
        pick.disabled = !!b.hidden;
        pick.addEventListener("click", act(function () { sel = i; draw(); }));
        const cls = el("select", "region-class");
        cls.setAttribute("aria-label", "Class of box " + n);
        classes.forEach(function (c) {
          const o = el("option", "", c);
          o.value = c;
          cls.appendChild(o);
        });
        cls.value = b.label;
        cls.addEventListener("change", act(function () {
          boxes[i].label = cls.value;
          touch(i);
          draw();
        }));
        const eye = el("button", "small region-eye", b.hidden ? "Show" : "Hide");
        eye.type = "button";
        eye.setAttribute("aria-pressed", b.hidden ? "true" : "false");
        eye.setAttribute("aria-label", (b.hidden ? "Show" : "Hide") + " box " + n);
        eye.addEventListener("click", act(function () {
          boxes[i].hidden = !boxes[i].hidden;
          if (boxes[i].hidden && sel === i) sel = -1;
          draw();
        }));
        const del = el("button", "small region-del", "✕");
        del.type = "button";
        del.setAttribute("aria-label", "Delete box " + n);
        del.title = "Delete box " + n;
        del.addEventListener("click", act(function () { remove(i); }));
        li.append(pick, cls, eye, del);
        if (b.pre) li.appendChild(el("span", "badge region-pre", "suggested"));
        return li;
      }
      return {
        // a row is rebuilt only when what it shows changed, so a drag does not churn the DOM
        update: function () {
          const sigs = boxes.map(function (b, i) {
            return JSON.stringify([b.label, !!b.pre, !!b.hidden, i === sel, Math.round(b.x),
              Math.round(b.y), Math.round(b.w), Math.round(b.h)]);
          });
          sigs.forEach(function (sig, i) {
            if (sig === shown[i]) return;
            const li = row(boxes[i], i);
            if (ul.children[i]) ul.replaceChild(li, ul.children[i]);
            else ul.appendChild(li);
          });
          while (ul.children.length > boxes.length) ul.lastChild.remove();
          shown = sigs;
          empty.hidden = boxes.length > 0;
        },
      };
    }

    return {
      setLabel: function (name) {
        label = name;
        if (sel >= 0) { boxes[sel].label = name; touch(sel); draw(); }
      },
      showSuggested: function (on) {
        showSuggested = on;
        boxes = boxes.filter(function (b) { return !b.pre; });
        if (on) boxes = boxes.concat(suggested.filter(function (b) { return b.pre; }));
        sel = -1;
        draw();
      },
      setBoxes: function (list) {
        boxes = list.map(function (b) { return Object.assign({}, b, { pre: false }); });
        sel = -1;
        draw();
      },
      getBoxes: function () {
        return boxes.map(function (b) {
          const r = function (v) { return Math.round(v * 10) / 10; };
          const x = r(clamp(b.x, 0, W)), y = r(clamp(b.y, 0, H));
          return { x: x, y: y, w: r(Math.min(b.w, W - x)), h: r(Math.min(b.h, H - y)), label: b.label };
        });
      },
      resetView: cam.reset,
    };
  }

  // zoom and pan on a plain <img> (image classification): the same view, shown with a CSS
  // transform inside a frame that clips it; any drag pans
  function viewer(image) {
    const frame = el("div", "zoom-frame");
    image.parentElement.insertBefore(frame, image);
    frame.appendChild(image);
    frame.tabIndex = 0;
    frame.setAttribute("aria-label", (image.alt || "image") + ": the wheel or + and - zoom, drag pans, 0 fits");
    let drag = null;
    const v = view(function () {
      image.style.transform = "translate(" + (-v.ox * v.scale) + "px, " + (-v.oy * v.scale) +
        "px) scale(" + v.zoom + ")";
      frame.dataset.zoom = String(Math.round(v.zoom * 1000) / 1000);
      frame.dataset.view = v.ox.toFixed(1) + "," + v.oy.toFixed(1);
      frame.classList.toggle("zoomed", v.zoom > 1);
      tools.level.textContent = Math.round(v.zoom * 100) + "%";
    });
    const tools = zoomBar(frame, v, frame, "wheel zooms · drag pans");
    function fit() {
      if (!image.naturalWidth) return;
      // the transform leaves clientWidth at the fitted size
      Object.assign(v, { W: image.naturalWidth, H: image.naturalHeight, vw: image.clientWidth,
        vh: image.clientHeight, base: image.clientWidth / image.naturalWidth });
      v.set(v.zoom, v.ox, v.oy);
      frame.dataset.ready = "1";
    }
    function at(e) { const r = frame.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
    if (image.complete) fit();
    image.addEventListener("load", fit);
    window.addEventListener("resize", fit);
    wheelZoom(frame, v, at);
    image.addEventListener("dragstart", function (e) { e.preventDefault(); });
    frame.addEventListener("mousedown", function (e) {
      if (e.button > 1) return;
      const p = at(e);
      drag = { x: p[0], y: p[1], ox: v.ox, oy: v.oy };
      frame.classList.add("panning");
      e.preventDefault();
    });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      const p = at(e);
      v.set(v.zoom, drag.ox - (p[0] - drag.x) / v.scale, drag.oy - (p[1] - drag.y) / v.scale);
    });
    window.addEventListener("mouseup", function () { drag = null; frame.classList.remove("panning"); });
    document.addEventListener("keydown", function (e) { if (!isTyping(e)) zoomKey(e, v); });
  }
  function viewers() { document.querySelectorAll("img.item-image").forEach(viewer); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", viewers);
  else viewers();

  window.LabelloopBoxes = editor;
})();
