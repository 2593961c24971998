// labelloop box editor: draw, select, move, resize and delete boxes on a canvas.
// Boxes are kept in pixels of the original image ({x, y, w, h, label}); suggested boxes
// (pre-labels) are drawn dashed and become ordinary boxes once touched.
(function () {
  "use strict";
  const COLORS = ["#4dabf7", "#ff6b6b", "#51cf66", "#fcc419", "#cc5de8", "#ff922b", "#22b8cf",
    "#f06595", "#94d82d"];
  const HANDLE = 7;   // handle half-size in screen pixels
  const MIN = 3;      // smallest box side in image pixels

  function editor(canvas, opts) {
    const ctx = canvas.getContext("2d");
    const classes = opts.classes;
    let boxes = (opts.boxes || []).map(function (b) { return Object.assign({}, b, { pre: false }); });
    const suggested = (opts.suggested || []).map(function (b) { return Object.assign({}, b, { pre: true }); });
    let showSuggested = opts.showSuggested !== false;
    if (showSuggested) boxes = boxes.concat(suggested);
    let label = classes[0];
    let sel = -1, drag = null, scale = 1, W = opts.width || 0, H = opts.height || 0;
    const img = new Image();

    function fit() {
      const maxW = canvas.parentElement.clientWidth || 800;
      scale = Math.min(maxW / W, 700 / H, 4);
      canvas.width = Math.round(W * scale);
      canvas.height = Math.round(H * scale);
      draw();
    }
    img.onload = function () { W = img.naturalWidth; H = img.naturalHeight; fit(); canvas.dataset.ready = "1"; };
    img.src = opts.imageUrl;
    window.addEventListener("resize", function () { if (W) fit(); });

    function color(name) { const i = classes.indexOf(name); return COLORS[(i < 0 ? 0 : i) % COLORS.length]; }
    function draw() {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      if (img.complete && W) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      boxes.forEach(function (b, i) {
        const c = color(b.label);
        ctx.save();
        ctx.lineWidth = i === sel ? 3 : 2;
        ctx.strokeStyle = c;
        if (b.pre) ctx.setLineDash([6, 4]);
        ctx.strokeRect(b.x * scale, b.y * scale, b.w * scale, b.h * scale);
        ctx.setLineDash([]);
        ctx.font = "12px system-ui, sans-serif";
        const text = b.label + (b.pre ? " (suggested)" : "");
        const tw = ctx.measureText(text).width + 8;
        ctx.fillStyle = c;
        ctx.fillRect(b.x * scale, Math.max(0, b.y * scale - 16), tw, 16);
        ctx.fillStyle = "#111";
        ctx.fillText(text, b.x * scale + 4, Math.max(12, b.y * scale - 4));
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
    }
    function corners(b) {
      const x1 = b.x * scale, y1 = b.y * scale, x2 = (b.x + b.w) * scale, y2 = (b.y + b.h) * scale;
      return [[x1, y1], [x2, y1], [x1, y2], [x2, y2]];
    }
    function point(e) {
      const r = canvas.getBoundingClientRect();
      const sx = (e.clientX - r.left) * (canvas.width / r.width);
      const sy = (e.clientY - r.top) * (canvas.height / r.height);
      return { sx: sx, sy: sy, x: clamp(sx / scale, 0, W), y: clamp(sy / scale, 0, H) };
    }
    function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }
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
        if (p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h) return i;
      }
      return -1;
    }
    function touch(i) { boxes[i].pre = false; }

    canvas.addEventListener("mousedown", function (e) {
      canvas.focus();
      const p = point(e);
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
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      const p = point(e);
      if (drag.mode === "move") {
        const b = boxes[sel];
        b.x = clamp(p.x - drag.ox, 0, W - b.w);
        b.y = clamp(p.y - drag.oy, 0, H - b.h);
      } else {
        if (drag.mode === "draw" && !drag.made) {
          if (Math.abs(p.x - drag.fx) < MIN && Math.abs(p.y - drag.fy) < MIN) return;
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
      // a new box keeps the class it was drawn in: it is not left selected, so the next
      // class key chooses the class of the next box instead of relabelling this one
      if (drag && drag.mode === "draw") sel = -1;
      drag = null;
      draw();
    });
    document.addEventListener("keydown", function (e) {
      const tag = (e.target && e.target.tagName) || "";
      if (/INPUT|SELECT|TEXTAREA/.test(tag)) return;
      if ((e.key === "Delete" || e.key === "Backspace") && sel >= 0) {
        boxes.splice(sel, 1);
        sel = -1;
        draw();
        e.preventDefault();
      } else if (e.key === "Escape") { sel = -1; draw(); }
    });

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
    };
  }

  window.LabelloopBoxes = editor;
})();
