// Drawing code of attn.interactive's kernel-free figures; every figure carries a copy,
// its id in place of __UID__. It reads the JSON next to it, lays the drawing out at the
// width the page gives it (a phone's column or a desktop's, 1 SVG unit = 1 CSS pixel,
// so text keeps its size), and redraws when a control or that width changes.
// No library, no network. Comment lines are left out of the copies.
(function () {
  var me = document.currentScript;
  var root = me && me.parentNode && me.parentNode.id === "__UID__" ? me.parentNode
                                                                    : document.getElementById("__UID__");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var spec = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  var svg = root.querySelector("svg"), NS = "http://www.w3.org/2000/svg";
  var range = root.querySelector('input[type="range"]'), out = root.querySelector("output");
  var select = {};
  Array.prototype.forEach.call(root.querySelectorAll("select[data-role]"), function (s) {
    select[s.getAttribute("data-role")] = s;
  });
  var COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
  var DASHES = ["", "7 4", "2 3", "9 3 2 3", "4 2", "1 5"];
  var W = spec.width, MIN_WIDTH = 260, measured = {};

  function el(name, attrs, text, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    (parent || svg).appendChild(e);
    return e;
  }
  // Width of a text in px: measured when the page lays the svg out, estimated otherwise.
  function textWidth(s, size, bold) {
    var key = size + (bold ? "b|" : "|") + s;
    if (measured[key]) return measured[key];
    var t = el("text", {x: 0, y: -50, "font-size": size, "font-weight": bold ? "bold" : "normal"}, s);
    var n = 0;
    try { n = t.getComputedTextLength(); } catch (e) { n = 0; }
    svg.removeChild(t);
    if (n > 0) measured[key] = n;
    return n > 0 ? n : s.length * size * 0.6;
  }
  function widest(texts, size) {
    return texts.reduce(function (m, s) { return Math.max(m, textWidth(s, size)); }, 0);
  }
  // The text, cut to at most `room` px with an ellipsis.
  function fit(s, size, room) {
    if (textWidth(s, size) <= room) return s;
    var n = s.length;
    while (n > 1 && textWidth(s.slice(0, n) + "\u2026", size) > room) n--;
    return s.slice(0, n) + "\u2026";
  }
  // Round tick values about `n` intervals apart: 1, 2 or 5 times a power of ten.
  function ticks(lo, hi, n) {
    var raw = (hi - lo) / Math.max(1, n) || 1;
    var step = Math.pow(10, Math.floor(Math.log10(raw))), err = raw / step;
    step *= err > 5 ? 10 : err > 2 ? 5 : err > 1 ? 2 : 1;
    var values = [];
    for (var t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
      values.push(Math.round(t / step) * step);
    return {values: values, step: step};
  }
  // A number shown to the precision that `step` (a tick step, a tenth of a range) calls
  // for: a value under step / 100 is 0, not 1.2e-33.
  function fmt(v, step) {
    if (Math.abs(v) < Math.abs(step) * 1e-2) return "0";
    var a = Math.abs(v);
    if (a >= 1e5 || a < 1e-4) return v.toExponential(1).replace("e+", "e");
    var decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(Math.abs(step)) + 1e-9)));
    return String(Number(v.toFixed(decimals)));
  }
  function fonts() {  // tick size, label size: never under 12 px
    return W < 480 ? [12, 13] : [13, 14];
  }
  // The y axis label: turned upright when long, level when short ("y"), so that no
  // text is drawn thinner than its size. Returns the width it takes.
  function yLabel(size, mid) {
    var w = textWidth(spec.ylabel, size), level = w < 2 * size;
    if (mid === undefined) return level ? w + 4 : size + 2;
    if (level) el("text", {x: 2, y: mid + size * 0.35, "font-size": size}, spec.ylabel);
    else el("text", {x: size, y: mid, "text-anchor": "middle", "font-size": size,
                     transform: "rotate(-90 " + size + " " + mid + ")"}, spec.ylabel);
  }

  // --- Curves over one x axis --------------------------------------------------------
  function curves(i) {
    var fs = fonts()[0], lf = fonts()[1], narrow = W < 480;
    var x0 = spec.xrange[0], x1 = spec.xrange[1];
    var pad = (spec.yrange[1] - spec.yrange[0]) * 0.05 || 0.5;
    var y0 = spec.yrange[0] - pad, y1 = spec.yrange[1] + pad;
    var series = [];
    Object.keys(spec.fixed).forEach(function (k) { series.push([k, spec.fixed[k]]); });
    Object.keys(spec.moving).forEach(function (k) { series.push([k, spec.moving[k][i]]); });
    // On a narrow screen the legend goes above the plot, in as many rows as it needs.
    var legend = [], T = 16, x = 8, row = 0;
    if (narrow) {
      series.forEach(function (s) {
        var w = 34 + textWidth(s[0], fs) + 14;
        if (x + w > W - 4 && x > 8) { x = 8; row++; }
        legend.push([x, 6 + fs / 2 + row * (fs + 8)]);
        x += w;
      });
      T = 14 + (row + 1) * (fs + 8);
    }
    var plotH = narrow ? Math.round(Math.max(170, Math.min(260, W * 0.6))) : spec.height - 60;
    var B = T + plotH;
    var yt = ticks(y0, y1, Math.max(2, Math.min(6, Math.floor(plotH / (fs * 2.6)))));
    var ylab = yt.values.map(function (t) { return fmt(t, yt.step); });
    var L = yLabel(lf) + 12 + widest(ylab, fs), R = W - 10;
    var xt = ticks(x0, x1, 6), xlab = xt.values.map(function (t) { return fmt(t, xt.step); });
    var room = (R - L) / (widest(xlab, fs) + 16);
    if (room < xt.values.length) {
      xt = ticks(x0, x1, Math.max(1, Math.floor(room) - 1));
      xlab = xt.values.map(function (t) { return fmt(t, xt.step); });
    }
    function sx(v) { return L + (v - x0) / (x1 - x0 || 1) * (R - L); }
    function sy(v) { return B - (v - y0) / (y1 - y0) * (B - T); }
    el("rect", {x: L, y: T, width: R - L, height: B - T, fill: "none", stroke: "#444"});
    xt.values.forEach(function (t, k) {
      el("line", {x1: sx(t), x2: sx(t), y1: B, y2: B + 5, stroke: "#444"});
      el("text", {x: sx(t), y: B + 7 + fs, "text-anchor": "middle", "font-size": fs}, xlab[k]);
    });
    yt.values.forEach(function (t, k) {
      if (t < y0 || t > y1) return;
      el("line", {x1: L - 5, x2: L, y1: sy(t), y2: sy(t), stroke: "#444"});
      el("text", {x: L - 8, y: sy(t) + fs * 0.35, "text-anchor": "end", "font-size": fs}, ylab[k]);
    });
    var H = B + fs + 14 + lf + 4;
    el("text", {x: (L + R) / 2, y: H - 5, "text-anchor": "middle", "font-size": lf}, spec.xlabel);
    yLabel(lf, (T + B) / 2);
    if (spec.points) spec.points[0].forEach(function (px, k) {
      var py = spec.points[1][k];
      if (px !== null && py !== null)
        el("circle", {cx: sx(px), cy: sy(py), r: 2.6, fill: "#888", "fill-opacity": 0.7});
    });
    series.forEach(function (s, n) {
      var d = "", pen = "M";
      s[1].forEach(function (v, k) {
        if (v === null) { pen = "M"; return; }
        d += pen + sx(spec.x[k]).toFixed(1) + "," + sy(v).toFixed(1) + " ";
        pen = "L";
      });
      el("path", {d: d, fill: "none", stroke: COLOURS[n % 6], "stroke-width": 2.2,
                  "stroke-dasharray": DASHES[n % 6]});
    });
    if (!narrow) {  // inside the plot, top right, on a white ground
      var lw = 40 + widest(series.map(function (s) { return s[0]; }), fs);
      el("rect", {x: R - lw - 8, y: T + 4, width: lw + 4, height: 18 * series.length + 6,
                  fill: "#fff", "fill-opacity": 0.85});
      series.forEach(function (s, n) { legend.push([R - lw - 4, T + 14 + 18 * n]); });
    }
    series.forEach(function (s, n) {
      var p = legend[n];
      el("line", {x1: p[0], x2: p[0] + 28, y1: p[1], y2: p[1], stroke: COLOURS[n % 6],
                  "stroke-width": 2.2, "stroke-dasharray": DASHES[n % 6]});
      el("text", {x: p[0] + 34, y: p[1] + fs * 0.35, "font-size": fs}, s[0]);
    });
    return H;
  }

  // --- Heatmaps on one shared colour scale ----------------------------------------------
  function colour(v) {
    var t = Math.max(0, Math.min(1, (v - spec.range[0]) / (spec.range[1] - spec.range[0])));
    var a = [247, 251, 255], b = [8, 48, 107];
    return "rgb(" + a.map(function (c, k) { return Math.round(c + (b[k] - c) * t); }).join(",") + ")";
  }
  function heatmaps(i) {
    var fs = fonts()[0], lf = fonts()[1], m = spec.frames[i], rows = m.length, cols = m[0].length;
    var xs = [], ys = [];
    spec.xticks.forEach(function (t) { xs = xs.concat(t); });
    spec.yticks.forEach(function (t) { ys = ys.concat(t); });
    var lo = spec.range[0], hi = spec.range[1], span = hi - lo;
    var ends = [fmt(hi, span / 10), fmt(lo, span / 10)];
    // the margin holds the widest colour-bar label: an end or a tick (bh <= 300 px: <= 12)
    var most = ticks(lo, hi, 12), marks = most.values.map(function (v) { return fmt(v, most.step); });
    var right = 16 + 14 + 6 + widest(ends.concat(marks), fs) + 4;
    var yroom = Math.round(W * 0.28), xroom = Math.round(Math.min(120, W * 0.3));
    var yw = ys.length ? Math.min(yroom, widest(ys, fs)) : 0;
    var xw = xs.length ? Math.min(xroom, widest(xs, fs)) : 0;
    var Lx = yLabel(lf) + 6 + (yw ? yw + 8 : 4), T = 8;
    // each frame gets the largest cells that fit (a short sentence is drawn large);
    // the drawing keeps the height of the tallest frame, so the slider stays in place
    function cellOf(f) { return Math.max(4, Math.min(36, (W - Lx - right) / f[0].length, 300 / f.length)); }
    var c = cellOf(m), tallest = 0;
    spec.frames.forEach(function (f) { tallest = Math.max(tallest, f.length * cellOf(f)); });
    var tf = fs, xevery = Math.ceil(tf * 1.25 / c), yevery = Math.ceil(tf * 1.15 / c);
    m.forEach(function (r, y) {
      r.forEach(function (v, k) {
        if (v !== null)
          el("rect", {x: Lx + k * c, y: T + y * c, width: c + 0.3, height: c + 0.3, fill: colour(v)});
      });
    });
    el("rect", {x: Lx, y: T, width: cols * c, height: rows * c, fill: "none", stroke: "#444"});
    spec.yticks[i].forEach(function (t, r) {
      if (r % yevery) return;
      el("text", {x: Lx - 6, y: T + (r + 0.5) * c + tf * 0.35, "text-anchor": "end",
                  "font-size": tf}, fit(t, tf, yroom));
    });
    spec.xticks[i].forEach(function (t, k) {
      if (k % xevery) return;
      var x = Lx + (k + 0.5) * c + tf * 0.3, y = T + rows * c + 8;
      el("text", {x: x, y: y, "text-anchor": "end", "font-size": tf,
                  transform: "rotate(-60 " + x + " " + y + ")"}, fit(t, tf, xroom));
    });
    // The drawing keeps the height of the largest frame (the slider stays under the
    // finger); a smaller frame's labels and colour bar stay next to its cells.
    var below = xw ? xw * 0.87 + 14 : 8, H = T + tallest + below + lf + 8;
    el("text", {x: Lx + cols * c / 2, y: T + rows * c + below + lf + 2, "text-anchor": "middle",
                "font-size": lf}, spec.xlabel);
    yLabel(lf, T + rows * c / 2);
    // Colour bar beside the cells: at least four lines of text high.
    var bx = Lx + cols * c + 16, bh = Math.max(rows * c, 4 * fs), steps = 32;
    for (var s = 0; s < steps; s++)
      el("rect", {x: bx, y: T + s * bh / steps, width: 14, height: bh / steps + 0.5,
                  fill: colour(hi - (s + 0.5) / steps * span)});
    el("rect", {x: bx, y: T, width: 14, height: bh, fill: "none", stroke: "#444"});
    function mark(v, text) {
      var y = T + (hi - v) / span * bh;
      el("line", {x1: bx + 14, x2: bx + 18, y1: y, y2: y, stroke: "#444"});
      el("text", {x: bx + 21, y: Math.max(T + fs * 0.8, Math.min(T + bh, y + fs * 0.35)),
                  "font-size": fs}, text);
    }
    mark(hi, ends[0]);
    mark(lo, ends[1]);
    var inner = ticks(lo, hi, Math.max(1, Math.floor(bh / (fs * 2.2))));
    inner.values.forEach(function (v) {
      var gap = Math.min(hi - v, v - lo) / span * bh;
      if (gap > fs * 1.7) mark(v, fmt(v, inner.step));
    });
    return Math.max(H, T + bh + 8);
  }

  // --- Head view: tokens on both sides, a line per weight --------------------------------
  var state = spec.kind !== "head_view" ? null
    : {kind: spec.initial[0], layer: spec.initial[1], head: spec.initial[2], focus: null};
  function options(s, count, chosen) {
    if (!s) return;
    while (s.firstChild) s.removeChild(s.firstChild);
    for (var n = 0; n < count; n++) {
      var o = document.createElement("option");
      o.value = String(n);
      o.textContent = String(n + 1);
      s.appendChild(o);
    }
    s.value = String(chosen);
    s.disabled = count < 2;
  }
  function headView() {
    var fs = 13, k = spec.kinds[state.kind], w = k.weights[state.layer][state.head];
    var rowH = W < 480 ? 22 : 24, top = fs + 16, q = k.queries, s = k.keys, f = state.focus;
    var room = Math.floor(W * 0.34);
    var qw = Math.min(room, widest(q, fs + 0.5) + 4), kw = Math.min(room, widest(s, fs + 0.5) + 4);
    // With a token chosen, its lines stop short of the other side: room for their weights.
    var xq = 8 + qw, xk = W - 8 - kw, a = xq + (f && f[0] === "k" ? 44 : 8);
    var b = xk - (f && f[0] === "q" ? 44 : 8), H = top + Math.max(q.length, s.length) * rowH + 4;
    function yOf(n) { return top + (n + 0.5) * rowH; }
    el("rect", {x: 0, y: 0, width: W, height: H, fill: "#fff", "data-background": "1"});
    el("text", {x: xq, y: fs + 2, "text-anchor": "end", "font-size": 12, fill: "#555"}, "queries");
    el("text", {x: xk, y: fs + 2, "font-size": 12, fill: "#555"}, "keys");
    var lines = el("g", {stroke: "#0072B2", "stroke-linecap": "round"});
    for (var i = 0; i < q.length; i++) for (var j = 0; j < s.length; j++) {
      var v = w[i][j] / spec.scale;
      if (v < 0.02) continue;
      if (f && !(f[0] === "q" ? f[1] === i : f[1] === j)) continue;
      // a chosen token's faint lines stay visible: their weights are printed beside them
      var alpha = f ? 0.15 + 0.85 * Math.min(1, v) : Math.min(1, v);
      el("line", {x1: a, y1: yOf(i), x2: b, y2: yOf(j), "stroke-opacity": alpha.toFixed(3),
                  "stroke-width": (1 + 2.5 * v).toFixed(2)}, undefined, lines);
    }
    function token(side, n, text) {
      var focused = f && f[0] === side && f[1] === n;
      var g = el("g", {"data-token": side + n, tabindex: 0, role: "button", cursor: "pointer",
                       "aria-pressed": focused ? "true" : "false",
                       "aria-label": (side === "q" ? "query " : "key ") + (n + 1) + ": " + text});
      var x = side === "q" ? 4 : xk - 4, y = yOf(n);
      el("rect", {x: x, y: y - rowH / 2 + 1, width: (side === "q" ? qw : kw) + 4, height: rowH - 2,
                  rx: 3, fill: focused ? "#dbe9f6" : "#fff", "fill-opacity": focused ? 1 : 0}, undefined, g);
      el("text", {x: side === "q" ? xq : xk, y: y + fs * 0.35, "text-anchor": side === "q" ? "end" : "start",
                  "font-size": fs, "font-weight": focused ? "bold" : "normal"},
         fit(text, fs, side === "q" ? qw : kw), g);
      el("title", {}, text, g);
    }
    q.forEach(function (t, n) { token("q", n, t); });
    s.forEach(function (t, n) { token("k", n, t); });
    if (f) {  // the weights of the focused token's lines, at their far ends
      var other = f[0] === "q" ? s : q;
      other.forEach(function (_, n) {
        var v = f[0] === "q" ? w[f[1]][n] : w[n][f[1]];
        if (v / spec.scale < 0.02) return;
        el("text", {x: f[0] === "q" ? b + 4 : a - 4, y: yOf(n) + 4.5, "font-size": 12,
                    "text-anchor": f[0] === "q" ? "start" : "end", fill: "#222"}, v.toFixed(2));
      });
    }
    return H;
  }
  function tap(event) {
    var target = event.target && event.target.closest ? event.target.closest("[data-token]") : null;
    var id = target ? target.getAttribute("data-token") : null;
    var f = state.focus;
    state.focus = id && !(f && f[0] + f[1] === id) ? [id[0], Number(id.slice(1))] : null;
    draw();
    if (id && event.type === "keydown") {
      var again = svg.querySelector('[data-token="' + id + '"]');
      if (again) again.focus();
    }
  }
  if (state) {
    svg.addEventListener("click", tap);
    svg.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); tap(e); }
    });
    if (select.kind) select.kind.addEventListener("change", function () {
      state.kind = Number(select.kind.value);
      state.focus = null;  // other tokens
      var k = spec.kinds[state.kind];
      state.layer = Math.min(state.layer, k.weights.length - 1);
      state.head = Math.min(state.head, k.weights[0].length - 1);
      options(select.layer, k.weights.length, state.layer);
      options(select.head, k.weights[0].length, state.head);
      draw();
    });
    ["layer", "head"].forEach(function (role) {
      if (select[role]) select[role].addEventListener("change", function () {
        state[role] = Number(select[role].value);
        draw();
      });
    });
  }

  function shown() {
    if (!state) return spec.labels[Number(range.value)];
    return spec.kinds[state.kind].name + ", layer " + (state.layer + 1) + ", head " + (state.head + 1);
  }
  var drawn = -1;
  function draw() {
    var avail = Math.floor(root.clientWidth) || spec.width;
    W = Math.max(MIN_WIDTH, Math.min(spec.width, avail));
    drawn = avail;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var i = range ? Number(range.value) : 0;
    var H = Math.ceil(spec.kind === "curves" ? curves(i) : spec.kind === "heatmaps" ? heatmaps(i)
                                                                                   : headView());
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.style.width = W + "px";
    svg.style.maxWidth = "100%";
    var label = shown();
    svg.setAttribute("aria-label", spec.name + ": " + label);
    if (out) out.textContent = label;
  }
  if (range) range.addEventListener("input", draw);
  function resized() {
    var avail = Math.floor(root.clientWidth);
    if (avail && avail !== drawn) draw();
  }
  if (window.ResizeObserver) new ResizeObserver(resized).observe(root);
  else window.addEventListener("resize", resized);
  draw();
})();
