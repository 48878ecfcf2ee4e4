"""The dashboard's pages: plain HTML, a little CSS and JavaScript, served from the package
(no CDN, no build step). Values reach the DOM as text, never as HTML."""

from __future__ import annotations

UNAUTHORIZED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NetScript dashboard</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem">
<h1>401: open the dashboard with its URL</h1>
<p>The dashboard needs the token of this run. Open the URL <code>netscript up</code> printed
(<code>dashboard: http://127.0.0.1:18888/?t=...</code>), or print it again with
<code>netscript dashboard url</code> in the app's folder.</p>
</body></html>
"""

def main_page(
    panels: list[dict[str, object]], units: list[str], graph: list[dict[str, object]]
) -> str:
    """The page: the resources table and graph, one live table per plugin panel, the
    console."""
    import json

    config = json.dumps({"panels": panels, "units": units, "graph": graph})
    return RESOURCES_PAGE.replace("__CONFIG__", config.replace("</", "<\\/"))


RESOURCES_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NetScript dashboard</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; }
  th { font-weight: 600; background: #f6f6f6; }
  td[data-state="Running"] { color: #1a7f37; }
  td[data-state="Starting"], td[data-state="Waiting"] { color: #9a6700; }
  td[data-state="Exited"], td[data-state="FailedToStart"] { color: #cf222e; }
  td[data-health="Healthy"] { color: #1a7f37; }
  td[data-health="Unhealthy"] { color: #cf222e; }
  #connection { float: right; font-size: .85rem; color: #666; }
  button { margin-right: .25rem; font-size: .8rem; }
  td[data-status="completed"] { color: #1a7f37; }
  td[data-status="failed"], td[data-status="dlq"], td[data-status="timeout"] { color: #cf222e; }
  td[data-status="running"], td[data-status="in-flight"], td[data-status="compensating"] {
    color: #9a6700; }
  h2 { margin-top: 2rem; }
  #graph rect { fill: #f6f6f6; stroke: #999; rx: 6; }
  #graph g[data-state="Running"][data-health="Healthy"] rect,
  #graph g[data-state="Running"][data-health="Unknown"] rect { fill: #dafbe1; stroke: #1a7f37; }
  #graph g[data-state="Starting"] rect, #graph g[data-state="Waiting"] rect {
    fill: #fff8c5; stroke: #9a6700; }
  #graph g[data-state="Exited"] rect, #graph g[data-state="FailedToStart"] rect,
  #graph g[data-health="Unhealthy"] rect { fill: #ffebe9; stroke: #cf222e; }
  #graph line { stroke: #999; stroke-width: 1.5; marker-end: url(#arrow); }
  #graph text { font-size: 13px; dominant-baseline: middle; text-anchor: middle; }
  #console-lines { font-family: ui-monospace, monospace; font-size: .8rem; max-height: 24rem;
    overflow-y: auto; background: #111; color: #ddd; padding: .5rem; margin-top: .5rem; }
  #console-lines .prefix { display: inline-block; min-width: 7rem; font-weight: 600; }
  #console-lines .line[hidden] { display: none; }
  #tail-lines { font-family: ui-monospace, monospace; font-size: .75rem; max-height: 16rem;
    overflow-y: auto; background: #f6f6f6; padding: .5rem; white-space: pre-wrap; }
  #streams-list a { cursor: pointer; }
  td.opens { cursor: pointer; text-decoration: underline dotted; }
  pre.detail { background: #f6f6f6; padding: .5rem; max-height: 20rem; overflow: auto;
    font-size: .75rem; }
</style></head>
<body>
<h1>Resources <span id="connection">connecting…</span></h1>
<table>
  <thead><tr><th>name</th><th>plugin</th><th>state</th><th>health</th><th>restarts</th>
  <th>uptime</th><th>exit code</th><th>PID</th><th>URL</th><th>waiting for</th><th>message</th>
  <th>actions</th></tr></thead>
  <tbody id="resources"></tbody>
</table>
<p>Last action: <code id="command"></code></p>
<h2>Dependencies</h2>
<svg id="graph" xmlns="http://www.w3.org/2000/svg"></svg>
<div id="panels"></div>
<section id="streams">
  <h2>Streams <button id="streams-refresh">refresh</button></h2>
  <table>
    <thead><tr><th>path</th><th>bytes</th><th>content type</th><th>closed</th></tr></thead>
    <tbody id="streams-list"></tbody>
  </table>
  <p>Tail: <code id="tail-path">(click a path)</code></p>
  <div id="tail-lines"></div>
</section>
<section id="console">
  <h2>Console</h2>
  <select id="console-resource"><option value="">all</option></select>
  <input id="console-filter" placeholder="filter" size="30">
  <label><input type="checkbox" id="console-follow" checked> follow</label>
  <button id="console-older">older lines</button>
  <div id="console-lines"></div>
</section>
<script type="application/json" id="page-config">__CONFIG__</script>
<script>
const rows = new Map();
const body = document.getElementById("resources");
const connection = document.getElementById("connection");

function cell(text, attrs) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  for (const [k, v] of Object.entries(attrs || {})) td.setAttribute(k, v);
  return td;
}

function uptime(s) {
  if (s.state !== "Running" || !s.started_at) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(s.started_at)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor(seconds % 3600 / 60)}m`;
}
setInterval(() => render(), 5000);  // the uptimes move on between updates

function render() {
  const fresh = [];
  for (const [name, s] of rows) {
    const tr = document.createElement("tr");
    tr.dataset.resource = name;
    tr.append(cell(name), cell(s.plugin), cell(s.state, {"data-state": s.state}),
              cell(s.health, {"data-health": s.health}), cell(s.restarts),
              cell(uptime(s)), cell(s.exit_code), cell(s.pid));
    const url = document.createElement("td");
    if (s.url) {
      const a = document.createElement("a");
      a.href = s.url; a.textContent = s.url; url.append(a);
    }
    tr.append(url, cell((s.waiting_for || []).join(", ")), cell(s.message));
    const actions = document.createElement("td");
    for (const action of ["start", "stop", "restart"]) {
      const button = document.createElement("button");
      button.textContent = action[0].toUpperCase() + action.slice(1);
      button.dataset.action = action;
      button.onclick = () => act(s.resource || name, action);
      actions.append(button);
    }
    tr.append(actions);
    fresh.push(tr);
  }
  body.replaceChildren(...fresh);
}

async function act(resource, action) {
  const answer = await fetch(`/actions/${encodeURIComponent(resource)}/${action}`,
                             {method: "POST"});
  const body = await answer.json();
  document.getElementById("command").textContent =
    answer.ok ? body.command : `refused: ${body.error.message}`;
}

async function panelAction(panel, action, values) {
  const answer = await fetch(`/panels/${panel}/actions/${action}`, {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({values})});
  const body = await answer.json();
  document.getElementById("command").textContent = answer.ok && body.ok
    ? body.command : `refused: ${JSON.stringify(body.answer || body.error)}`;
}

function field(value, path) {
  for (const part of path.split(".")) {
    if (value === null || value === undefined) return undefined;
    value = value[part];
  }
  return value;
}

function panel(config) {
  const section = document.createElement("section");
  section.dataset.panel = config.id;
  const title = document.createElement("h2");
  title.textContent = config.title;
  const table = document.createElement("table");
  const head = document.createElement("tr");
  for (const column of config.columns) {
    const th = document.createElement("th");
    th.textContent = column.title;
    head.append(th);
  }
  if (config.actions.length) {
    const th = document.createElement("th");
    th.textContent = "actions";
    head.append(th);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  const tbody = document.createElement("tbody");
  table.append(thead, tbody);
  const detail = document.createElement("pre");
  detail.className = "detail";
  detail.hidden = true;
  section.append(title, table, detail);
  document.getElementById("panels").append(section);
  const entities = new Map();
  const draw = () => {
    const fresh = [];
    for (const [key, entity] of entities) {
      const tr = document.createElement("tr");
      tr.dataset.key = key;
      for (const column of config.columns) {
        const value = field(entity, column.field);
        const text = column.kind === "json" ? JSON.stringify(value) : value;
        tr.append(cell(text, column.kind === "status" ? {"data-status": String(value)} : {}));
      }
      if (config.detail) {  // a click on the row's first cell shows its detail
        const first = tr.firstElementChild;
        first.classList.add("opens");
        first.onclick = async () => {
          const query = config.detail.map(
            f => `${encodeURIComponent(f)}=${encodeURIComponent(field(entity, f))}`).join("&");
          const answer = await fetch(`/panels/${config.id}/detail?${query}`);
          const body = await answer.json();
          detail.hidden = false;
          detail.dataset.key = key;
          detail.textContent = JSON.stringify(body.detail || body.error, null, 2);
        };
      }
      if (config.actions.length) {
        const td = document.createElement("td");
        for (const action of config.actions) {
          const offered = Object.entries(action.when).every(
            ([name, values]) => values.includes(field(entity, name)));
          if (!offered) continue;
          const button = document.createElement("button");
          button.textContent = action.title;
          button.dataset.action = action.id;
          const values = Object.fromEntries(action.fields.map(f => [f, field(entity, f)]));
          button.onclick = () => panelAction(config.id, action.id, values);
          td.append(button);
        }
        tr.append(td);
      }
      fresh.push(tr);
    }
    tbody.replaceChildren(...fresh);
  };
  handlers[`panel-${config.id}`] = (messages) => {
    for (const event of messages) {
      if (event.type !== config.type) continue;
      entities.delete(event.key);  // re-inserted last: newest at the bottom
      if (!(event.headers && event.headers.operation === "delete")) {
        entities.set(event.key, event.value);
      }
      while (entities.size > config.limit) entities.delete(entities.keys().next().value);
    }
    draw();
  };
}

const handlers = {};
const page = JSON.parse(document.getElementById("page-config").textContent);
for (const config of page.panels) panel(config);

// -- the console: every unit's lines, interleaved by time; a filter; follow or pause --------
const colours = ["#7ee787", "#79c0ff", "#d2a8ff", "#ffa657", "#ff7b72", "#f2cc60"];
const consoleLines = document.getElementById("console-lines");
const choice = document.getElementById("console-resource");
const filter = document.getElementById("console-filter");
const follow = document.getElementById("console-follow");
const paused = [];
function shown(line) {
  const text = filter.value.toLowerCase();
  return (!choice.value || line.dataset.resource === choice.value)
    && (!text || line.textContent.toLowerCase().includes(text));
}
function refilter() {
  for (const line of consoleLines.children) line.hidden = !shown(line);
}
choice.onchange = refilter;
filter.oninput = refilter;
follow.onchange = () => { if (follow.checked) addLines(paused.splice(0)); };
function addLines(values, scroll = true) {
  for (const value of values) {
    const line = document.createElement("div");
    line.className = "line";
    line.dataset.resource = value.resource;
    line.dataset.time = value.time;
    line.dataset.seq = value.seq;
    const prefix = document.createElement("span");
    prefix.className = "prefix";
    prefix.textContent = value.resource;
    prefix.style.color = colours[page.units.indexOf(value.resource) % colours.length];
    line.append(prefix, document.createTextNode(" " + value.text));
    line.hidden = !shown(line);
    let before = consoleLines.lastElementChild;  // interleaved by time
    while (before && before.dataset.time > value.time) before = before.previousElementSibling;
    consoleLines.insertBefore(line, before ? before.nextSibling : consoleLines.firstChild);
  }
  if (scroll) {  // live lines: keep the newest 2,000 and follow them
    while (consoleLines.children.length > 2000) consoleLines.firstElementChild.remove();
    consoleLines.scrollTop = consoleLines.scrollHeight;
  }
}
document.getElementById("console-older").onclick = async () => {
  const units = choice.value ? [choice.value] : page.units;
  for (const unit of units) {
    const mine = [...consoleLines.children].filter(l => l.dataset.resource === unit);
    const before = mine.length ? mine[0].dataset.seq : "";
    const answer = await fetch(`/logs/${encodeURIComponent(unit)}?before=${before}&limit=200`);
    if (answer.ok) addLines((await answer.json()).lines, false);
  }
};
for (const unit of page.units) {
  const option = document.createElement("option");
  option.value = option.textContent = unit;
  choice.append(option);
  handlers[`logs-${unit}`] = (messages) => {
    const values = messages.filter(m => m.type === "log-line").map(m => m.value);
    if (follow.checked) addLines(values); else paused.push(...values);
  };
}

// -- the dependency graph: one box per resource, by level, coloured by its live state -------
const svgNs = "http://www.w3.org/2000/svg";
const graph = document.getElementById("graph");
const boxes = new Map();
(function drawGraph() {
  const level = new Map();
  const depth = (name, seen = new Set()) => {
    if (level.has(name)) return level.get(name);
    const node = page.graph.find(n => n.name === name);
    if (!node || seen.has(name)) return 0;
    seen.add(name);
    const d = node.dependsOn.length
      ? 1 + Math.max(...node.dependsOn.map(n => depth(n, seen))) : 0;
    level.set(name, d);
    return d;
  };
  page.graph.forEach(n => depth(n.name));
  const columns = new Map();
  for (const node of page.graph) {
    const d = level.get(node.name);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(node.name);
  }
  const place = new Map();
  for (const [d, names] of columns) {
    names.forEach((name, i) => place.set(name, {x: 20 + d * 170, y: 20 + i * 60}));
  }
  const width = 20 + (columns.size || 1) * 170;
  const height = 20 + Math.max(1, ...[...columns.values()].map(c => c.length)) * 60;
  graph.setAttribute("width", width);
  graph.setAttribute("height", height);
  const defs = document.createElementNS(svgNs, "defs");
  defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
    + 'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
    + 'fill="#999"/></marker>';
  graph.append(defs);
  for (const node of page.graph) {
    for (const dependency of node.dependsOn) {
      const from = place.get(dependency), to = place.get(node.name);
      if (!from || !to) continue;
      const line = document.createElementNS(svgNs, "line");
      line.setAttribute("x1", from.x + 130); line.setAttribute("y1", from.y + 18);
      line.setAttribute("x2", to.x); line.setAttribute("y2", to.y + 18);
      graph.append(line);
    }
  }
  for (const node of page.graph) {
    const at = place.get(node.name);
    const g = document.createElementNS(svgNs, "g");
    g.dataset.resource = node.name;
    const rect = document.createElementNS(svgNs, "rect");
    rect.setAttribute("x", at.x); rect.setAttribute("y", at.y);
    rect.setAttribute("width", 130); rect.setAttribute("height", 36);
    const text = document.createElementNS(svgNs, "text");
    text.setAttribute("x", at.x + 65); text.setAttribute("y", at.y + 18);
    text.textContent = node.name;
    g.append(rect, text);
    graph.append(g);
    boxes.set(node.name, g);
  }
})();
function paintGraph() {
  for (const [name, g] of boxes) {
    const units = [...rows.values()].filter(s => (s.resource || s.name) === name);
    if (!units.length) continue;
    const worst = units.find(s => s.state !== "Running" || s.health === "Unhealthy") || units[0];
    g.dataset.state = worst.state;
    g.dataset.health = worst.health;
  }
}

// -- the streams: the server's listing, and a live tail of the one clicked ------------------
let tailing = null;
async function listStreams() {
  const answer = await fetch("/streams");
  const body = await answer.json();
  const list = document.getElementById("streams-list");
  if (!body.streams) {
    list.replaceChildren(cell(body.note || "no listing"));
    return;
  }
  list.replaceChildren(...body.streams.map(s => {
    const tr = document.createElement("tr");
    tr.dataset.path = s.path;
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.textContent = s.path;
    link.onclick = () => tailStream(s.path);
    name.append(link);
    tr.append(name, cell(s.bytes), cell(s.contentType), cell(s.closed));
    return tr;
  }));
}
function tailStream(path) {
  if (tailing) tailing.close();
  document.getElementById("tail-path").textContent = path;
  const lines = document.getElementById("tail-lines");
  lines.replaceChildren();
  tailing = new EventSource(`/events/tail?path=${encodeURIComponent(path)}`);
  tailing.onmessage = (message) => {
    for (const item of JSON.parse(message.data)) {
      const line = document.createElement("div");
      line.textContent = JSON.stringify(item);
      lines.append(line);
    }
    while (lines.children.length > 500) lines.firstElementChild.remove();
    lines.scrollTop = lines.scrollHeight;
  };
}
document.getElementById("streams-refresh").onclick = listStreams;
listStreams();

handlers["resources"] = (messages) => {
  for (const event of messages) {
    if (event.headers && event.headers.operation === "delete") rows.delete(event.key);
    else rows.set(event.key, event.value);
  }
  render();
  paintGraph();
};
const wanted = Object.keys(handlers).map(name => `s=${encodeURIComponent(name)}`).join("&");
const events = new EventSource(`/events?${wanted}`);
events.onopen = () => { connection.textContent = "live"; };
events.onerror = () => { connection.textContent = "reconnecting…"; };
events.onmessage = (message) => {
  const batch = JSON.parse(message.data);
  handlers[batch.stream](batch.messages);
};
</script>
</body></html>
"""
