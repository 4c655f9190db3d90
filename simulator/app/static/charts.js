// Two small SVG charts drawn from the library's numbers (simulator.analysis.plots.fan_bands and
// exceedance_points), so they follow a slider as fast as the cards. No external library.
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
const W = 540, H = 340, M = { left: 74, right: 14, top: 12, bottom: 50 };

function svgEl(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
function label(parent, x, y, s, attrs = {}) {
  const t = svgEl("text", { x, y, "font-size": 15, fill: "#1f2933", ...attrs }, parent);
  t.textContent = s;
  return t;
}
function niceTicks(lo, hi, count = 6) {
  const rough = (hi - lo) / count, mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= rough);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
  return { ticks, step };
}
function moneyTick(v, step) {
  const digits = step >= 1e6 ? 0 : step >= 1e5 ? 1 : 2;
  return (v < 0 ? "-" : "") + "$" + (Math.abs(v) / 1e6).toFixed(digits) + "M";
}
function frame(figure, caption) {
  figure.innerHTML = "";
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  figure.appendChild(cap);
  return svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": caption }, figure);
}
function axes(svg, x, y, xTicks, yTicks, xText, yText) {
  for (const t of yTicks) {
    svgEl("line", { x1: M.left, x2: W - M.right, y1: y(t.v), y2: y(t.v), stroke: "#e3e7ec" }, svg);
    label(svg, M.left - 6, y(t.v) + 4, t.s, { "text-anchor": "end", "font-size": 13 });
  }
  for (const t of xTicks) label(svg, x(t.v), H - M.bottom + 18, t.s, { "text-anchor": "middle", "font-size": 13 });
  svgEl("rect", { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom,
                  fill: "none", stroke: "#9aa5b1" }, svg);
  label(svg, (M.left + W - M.right) / 2, H - 8, xText, { "text-anchor": "middle" });
  label(svg, 14, (M.top + H - M.bottom) / 2, yText,
        { "text-anchor": "middle", transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})` });
}
function legend(svg, items, x0, y0) {
  items.forEach(([text, attrs], i) => {
    const y = y0 + 18 * i;
    svgEl(attrs.fill ? "rect" : "line", attrs.fill ? { x: x0, y: y - 9, width: 18, height: 10, ...attrs }
          : { x1: x0, x2: x0 + 18, y1: y - 4, y2: y - 4, ...attrs }, svg);
    label(svg, x0 + 24, y, text, { "font-size": 13 });
  });
}
function scale(lo, hi, a, b) { return (v) => a + (v - lo) / (hi - lo || 1) * (b - a); }

function drawFan(figure, fan, caption) {
  const svg = frame(figure, caption);
  const years = fan.years, n = years.length;
  const lo = Math.min(0, ...fan.p1), hi = Math.max(0, ...fan.p99);
  const pad = (hi - lo) * 0.05;
  const x = scale(0, Math.max(n - 1, 1), M.left + 20, W - M.right - 20);
  const y = scale(lo - pad, hi + pad, H - M.bottom, M.top);
  const { ticks, step } = niceTicks(lo - pad, hi + pad);
  axes(svg, x, y, years.map((v, i) => ({ v: i, s: String(v) })), ticks.map((v) => ({ v, s: moneyTick(v, step) })),
       "Performance year", "Cumulative gain (+) / loss (-)");
  const band = (a, b, opacity) => svgEl("polygon", { fill: "#1f5fa8", "fill-opacity": opacity, points:
    [...fan[a].map((v, i) => `${x(i)},${y(v)}`), ...fan[b].map((v, i) => `${x(i)},${y(v)}`).reverse()].join(" ") }, svg);
  band("p1", "p99", 0.12); band("p5", "p95", 0.22); band("p25", "p75", 0.35);
  svgEl("line", { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), stroke: "#5f6b7a" }, svg);
  const line = (key, attrs) => svgEl("polyline", { fill: "none", points: fan[key].map((v, i) => `${x(i)},${y(v)}`).join(" "), ...attrs }, svg);
  line("p50", { stroke: "#1f5fa8", "stroke-width": 2.5 });
  line("mean", { stroke: "#1f2933", "stroke-width": 1.5, "stroke-dasharray": "6 4" });
  legend(svg, [["1st-99th percentile", { fill: "#1f5fa8", "fill-opacity": 0.12 }],
               ["5th-95th", { fill: "#1f5fa8", "fill-opacity": 0.3 }],
               ["25th-75th", { fill: "#1f5fa8", "fill-opacity": 0.55 }],
               ["median", { stroke: "#1f5fa8", "stroke-width": 2.5 }],
               ["mean", { stroke: "#1f2933", "stroke-dasharray": "6 4" }]], M.left + 8, H - M.bottom - 80);
}

function drawExceedance(figure, curves, caption, xText) {
  const svg = frame(figure, caption);
  const all = Object.values(curves);
  const lo = Math.min(...all.map((c) => Math.min(...c.loss))), hi = Math.max(...all.map((c) => Math.max(...c.loss)));
  const pMin = Math.min(...all.map((c) => Math.min(...c.p)));
  const decades = Math.max(1, Math.ceil(-Math.log10(pMin)));
  const x = scale(lo, hi, M.left, W - M.right);
  const y = scale(-decades, 0, H - M.bottom, M.top);
  const { ticks, step } = niceTicks(lo, hi);
  const yTicks = [...Array(decades + 1).keys()].map((d) => ({ v: -d, s: (100 / 10 ** d) + "%" }));
  axes(svg, x, y, ticks.map((v) => ({ v, s: moneyTick(v, step) })), yTicks, xText, "Chance of losing at least");
  const colors = { base: "#8a94a6", current: "#1f5fa8" };
  const names = { base: "run's base contract", current: "these terms" };
  for (const [name, c] of Object.entries(curves))
    svgEl("polyline", { fill: "none", stroke: colors[name], "stroke-width": name === "current" ? 2.2 : 1.8,
      points: c.loss.map((v, i) => `${x(v)},${y(Math.log10(c.p[i]))}`).join(" ") }, svg);
  legend(svg, Object.keys(curves).map((k) => [names[k], { stroke: colors[k], "stroke-width": 2.2 }]),
         W - M.right - 180, M.top + 20);
}
