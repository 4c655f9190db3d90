// vbcsim workbench: read the terms from the form, ask the server to settle them, show the answer.
"use strict";
const form = document.getElementById("terms");
const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 120;

// -- the form as the contract's nested dictionary (data-kind / data-key, see controls.py) --
function kids(node) {
  return [...node.querySelectorAll("[data-kind]")].filter((e) => e.parentElement.closest("[data-kind]") === node);
}
function switchOf(node) {
  return [...node.querySelectorAll("[data-role=on]")].find((e) => e.closest("[data-kind]") === node);
}
function isOn(node) { return switchOf(node).checked; }
function read(node) {
  const kind = node.dataset.kind;
  const value = () => node.querySelector("[data-role=value]").value;
  switch (kind) {
    case "obj": {
      const out = {};
      for (const child of kids(node)) {
        const v = read(child);
        if (v !== undefined) out[child.dataset.key] = v;
      }
      return out;
    }
    case "num": return value() === "" ? undefined : Number(value());
    case "int": return value() === "" ? undefined : Math.round(Number(value()));
    case "enum": case "text": return value();
    case "opt": return isOn(node) ? read(kids(node)[0]) : undefined;
    case "either": {
      const mode = node.querySelector("[data-role=mode]").value;
      return mode === "number" ? read(kids(node)[0]) : mode;
    }
    case "trend":
      if (node.querySelector("[data-role=by-year]").checked)
        return [...node.querySelectorAll("[data-role=year]")].map((e) => Number(e.value));
      return read(kids(node)[0]);
    case "list": return kids(node).filter(isOn).map((row) => read(kids(row)[0]));
    case "dict": {
      const out = {};
      for (const entry of kids(node).filter(isOn)) out[entry.dataset.name] = read(kids(entry)[0]);
      return out;
    }
  }
  return undefined;
}
function terms() { return read(form); }

// -- showing what is switched on --
function refresh(node) {
  if (node.dataset.kind === "opt" || node.dataset.kind === "row" || node.dataset.kind === "entry")
    node.classList.toggle("on", isOn(node));
  if (node.dataset.kind === "trend")
    node.classList.toggle("by-year", node.querySelector("[data-role=by-year]").checked);
  if (node.dataset.kind === "either")
    node.classList.toggle("word", node.querySelector("[data-role=mode]").value !== "number");
}
form.querySelectorAll("[data-kind]").forEach(refresh);

function showSegment(name) {
  form.querySelectorAll(".segment").forEach((s) => s.hidden = s.dataset.segment !== name);
  form.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.tab === name));
}
form.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => showSegment(t.dataset.tab)));
showSegment(form.querySelector(".tab").dataset.tab);

// -- talking to the server --
async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return r.json();
}
let seq = 0, timer = null;
function schedule() { clearTimeout(timer); timer = setTimeout(update, DEBOUNCE_MS); }
function setState(state, text) { document.body.dataset.state = state; $("status").textContent = text; }

async function update() {
  const mine = ++seq;
  const body = { terms: terms(), horizon: $("horizon").value, segment: $("segment").value };
  setState("busy", "settling…");
  const t0 = performance.now();
  const live = await post("/api/live", body);
  if (mine !== seq) return;
  if (!live.ok) {
    $("problems").innerHTML = live.problems;
    document.body.dataset.settledTerms = JSON.stringify(body.terms);
    setState("invalid", "these terms cannot be settled: see the problems above");
    return;
  }
  $("problems").innerHTML = "";
  $("cards").innerHTML = live.cards;
  $("diffs").innerHTML = live.diffs;
  $("bridge").innerHTML = live.bridge;
  drawFan($("fan"), live.charts.fan, live.charts.fan_caption);
  drawExceedance($("exceedance"), live.charts.exceedance, live.charts.exceedance_caption, live.charts.exceedance_axis);
  const liveMs = performance.now() - t0;
  document.body.dataset.liveMs = liveMs.toFixed(0);
  $("differences").classList.add("pending");
  setState("charts", `updated in ${(liveMs / 1000).toFixed(2)} s; bootstrapping the errors of the differences…`);
  const details = await post("/api/details", body);
  if (mine !== seq) return;
  if (details.ok) {
    $("differences").innerHTML = details.differences;
    $("differences").classList.remove("pending");
  }
  const allMs = performance.now() - t0;
  document.body.dataset.detailsMs = allMs.toFixed(0);
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
  document.body.dataset.settledTerms = JSON.stringify(body.terms);
  setState("ready", `updated in ${(liveMs / 1000).toFixed(2)} s, errors of the differences in ${(allMs / 1000).toFixed(2)} s`);
}

form.addEventListener("input", (event) => {
  const field = event.target.closest("[data-kind]");
  const el = event.target;
  if (el.dataset.role === "slider") field.querySelector("[data-role=value]").value = el.value;
  if (el.dataset.role === "value" && el.type === "number") {
    const slider = field.querySelector("[data-role=slider]");
    if (slider) slider.value = el.value;
  }
  schedule();
});
form.addEventListener("change", (event) => {
  refresh(event.target.closest("[data-kind]"));
  schedule();
});
$("horizon").addEventListener("change", update);
$("segment").addEventListener("change", update);
$("start").addEventListener("change", () => { location.href = "/?variant=" + encodeURIComponent($("start").value); });

// -- variants --
$("save").addEventListener("click", async () => {
  const r = await post("/api/save", { name: $("variant-name").value, terms: terms() });
  if (!r.ok) { $("problems").innerHTML = r.problems; return; }
  $("problems").innerHTML = "";
  $("saved").textContent = "saved: " + r.saved.join(", ");
  const start = $("start");
  for (const name of r.saved)
    if (![...start.options].some((o) => o.text === name)) start.add(new Option(name));
});
$("compare").addEventListener("click", async () => {
  $("comparison").textContent = "settling the saved variants…";
  const r = await post("/api/compare", { horizon: $("horizon").value, segment: $("segment").value });
  $("comparison").innerHTML = r.ok ? r.table + '<figure class="wide">' + r.chart + "</figure>" : r.problems;
});
$("export").addEventListener("click", async () => {
  const name = $("variant-name").value || "terms";
  const r = await post("/api/export", { terms: terms(), description: name });
  if (!r.ok) { $("problems").innerHTML = r.problems; return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([r.toml], { type: "application/toml" }));
  link.download = name + ".toml";
  link.click();
});

update();
