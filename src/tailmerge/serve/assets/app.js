// tailmerge's live page. Every log line is put in the page as text (textContent), never as HTML.
"use strict";

const COLOURS = ["#4aa3ff", "#3ccf6e", "#f0b429", "#c678dd", "#ff8c42", "#2ec4b6", "#ff6b9a", "#9bd14b",
  "#8fa8ff", "#e5c07b", "#56b6c2", "#f78c6c"];
// error-looking lines: level words as loggers write them, Python tracebacks, level fields in JSON or logfmt
const ERROR_WORDS = /\b(ERROR|FATAL|CRITICAL|PANIC|SEVERE)\b|Traceback \(most recent call last\)/;
const ERROR_FIELDS = /"(?:level|severity|lvl|loglevel|log\.level)"\s*:\s*"(?:error|err|fatal|critical|crit|panic|emerg|alert)"|\blevel=(?:error|err|fatal|critical|panic)\b/i;
const RATE_SECONDS = 300;

const $ = (id) => document.getElementById(id);
const log = $("log");
const token = new URLSearchParams(location.search).get("token");

const state = {
  epoch: null,
  limit: 5000, // lines kept in the page: the server's history
  sources: [], // {path, label}
  hidden: new Set(),
  lines: [], // {id, src, text, offset, time, at, cut, err, row}
  byId: new Map(),
  match: null, // the filter: a function of the text, or null
  errorsOnly: false,
  paused: false,
  waiting: [],
  follow: true,
  unseen: 0,
  total: 0,
  errors: 0,
  errorsBy: [],
  missed: 0,
  skew: 0, // server clock minus this one, seconds
  rate: new Map(), // second -> counts per source
};

function isError(text) {
  return ERROR_WORDS.test(text) || ERROR_FIELDS.test(text);
}

function colour(src) {
  return COLOURS[src % COLOURS.length];
}

function label(src) {
  const s = state.sources[src];
  return s ? s.label : "#" + src;
}

function visible(line) {
  return !state.hidden.has(line.src) && (!state.errorsOnly || line.err) && (state.match === null || state.match(line.text));
}

function makeRow(line) {
  const row = document.createElement("div");
  row.className = "line" + (line.err ? " err" : "") + (line.cut ? " cut" : "");
  row.dataset.id = line.id;
  const src = document.createElement("span");
  src.className = "src";
  src.textContent = label(line.src);
  src.style.color = colour(line.src);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = line.text;
  row.append(src, text);
  row.hidden = !visible(line);
  line.row = row;
  return row;
}

// -- lines in -----------------------------------------------------------------------------------

function onLines(piece) {
  const lines = piece.lines.map(([src, text, offset, time, at, cut], i) => ({
    id: piece.first + i, src, text, offset, time, at, cut, err: false, row: null,
  }));
  for (const line of lines) {
    line.err = isError(line.text);
    count(line);
  }
  if (state.paused) {
    state.waiting.push(...lines);
    const over = state.waiting.length - state.limit;
    if (over > 0) state.waiting.splice(0, over);
  } else {
    show(lines);
  }
  updateCounts();
}

function count(line) {
  state.total += 1;
  if (line.err) {
    state.errors += 1;
    state.errorsBy[line.src] = (state.errorsBy[line.src] || 0) + 1;
  }
  const second = Math.floor(line.at);
  let counts = state.rate.get(second);
  if (!counts) state.rate.set(second, (counts = []));
  counts[line.src] = (counts[line.src] || 0) + 1;
}

function show(lines) {
  if (!lines.length) return;
  const fragment = document.createDocumentFragment();
  for (const line of lines) {
    fragment.append(makeRow(line));
    state.lines.push(line);
    state.byId.set(line.id, line);
  }
  log.append(fragment);
  trim();
  if (state.follow) {
    log.scrollTop = log.scrollHeight;
  } else {
    state.unseen += lines.filter(visible).length;
    $("unseen").textContent = state.unseen;
    $("latest").hidden = state.unseen === 0;
  }
}

function trim() {
  const over = state.lines.length - state.limit;
  if (over <= 0) return;
  for (const line of state.lines.splice(0, over)) {
    line.row.remove();
    state.byId.delete(line.id);
  }
  while (log.firstChild && log.firstChild.classList.contains("gap") && log.firstChild.nextSibling &&
         log.firstChild.nextSibling.classList.contains("gap")) log.firstChild.remove();
}

function onMissed(count) {
  state.missed += count;
  const gap = document.createElement("div");
  gap.className = "gap";
  gap.textContent = `… ${count} line${count === 1 ? "" : "s"} not received here (this page fell behind)`;
  log.append(gap);
  $("missed").textContent = state.missed;
  $("missed-wrap").hidden = false;
}

function reset() {
  for (const line of state.lines) line.row.remove();
  log.textContent = "";
  Object.assign(state, { lines: [], waiting: [], total: 0, errors: 0, errorsBy: [], missed: 0, unseen: 0 });
  state.byId.clear();
  state.rate.clear();
}

// -- the stream ---------------------------------------------------------------------------------

function connect() {
  const events = new EventSource("events" + (token ? "?token=" + encodeURIComponent(token) : ""));
  events.addEventListener("hello", (e) => {
    const hello = JSON.parse(e.data);
    if (state.epoch !== null && state.epoch !== hello.epoch) reset(); // another run: its history anew
    state.epoch = hello.epoch;
    state.limit = Math.max(hello.history, 1000);
    if (typeof hello.now === "number") state.skew = hello.now - Date.now() / 1000;
    setStatus("live", "live");
  });
  events.addEventListener("sources", (e) => {
    state.sources = JSON.parse(e.data).sources;
    drawChips();
    for (const line of state.lines) line.row.firstChild.textContent = label(line.src);
  });
  events.addEventListener("lines", (e) => onLines(JSON.parse(e.data)));
  events.addEventListener("missed", (e) => onMissed(JSON.parse(e.data).count));
  events.addEventListener("end", () => setStatus("the merge has ended", "down"));
  events.addEventListener("error", () => {
    setStatus(events.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…", "down");
  });
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = "status " + kind;
}

// -- controls -----------------------------------------------------------------------------------

function drawChips() {
  const widest = Math.max(4, ...state.sources.map((s) => s.label.length));
  document.documentElement.style.setProperty("--label", Math.min(widest, 28) + "ch");
  const chips = $("chips");
  chips.textContent = "";
  state.sources.forEach((source, src) => {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.dataset.src = src;
    chip.title = source.path;
    chip.style.color = colour(src);
    chip.style.borderColor = colour(src);
    chip.setAttribute("aria-pressed", String(!state.hidden.has(src)));
    const name = document.createElement("span");
    name.textContent = source.label;
    const errors = document.createElement("span");
    errors.className = "n";
    chip.append(name, errors);
    chips.append(chip);
  });
  updateCounts();
}

function refilter() {
  for (const line of state.lines) line.row.hidden = !visible(line);
  updateCounts();
  if (state.follow) log.scrollTop = log.scrollHeight;
}

function parseFilter(text) {
  const input = $("filter");
  input.classList.remove("bad");
  if (!text) return null;
  const regex = /^\/(.+)\/([imsu]*)$/.exec(text);
  if (regex) {
    try {
      const re = new RegExp(regex[1], regex[2]);
      return (t) => re.test(t);
    } catch {
      input.classList.add("bad");
      return () => false;
    }
  }
  const needle = text.toLowerCase();
  return (t) => t.toLowerCase().includes(needle);
}

function updateCounts() {
  $("total").textContent = state.total;
  $("shown").textContent = state.lines.reduce((n, line) => n + (line.row.hidden ? 0 : 1), 0);
  $("error-count").textContent = state.errors;
  for (const chip of $("chips").children) {
    const n = state.errorsBy[Number(chip.dataset.src)] || 0;
    chip.lastChild.textContent = n ? String(n) : "";
  }
  const pause = $("pause");
  pause.textContent = state.paused ? `Resume (${state.waiting.length} waiting)` : "Pause";
}

function showDetails(line) {
  const list = $("details-list");
  list.textContent = "";
  const source = state.sources[line.src];
  const rows = [
    ["source", source ? source.path : "#" + line.src],
    ["offset", `${line.offset} (just past this line)`],
    ["time", line.time === null ? "none parsed" : new Date(line.time * 1000).toISOString()],
    ["merged at", new Date(line.at * 1000).toISOString()],
    ["line", `#${line.id} of the merge`],
  ];
  if (line.cut) rows.push(["cut", "a piece of a line longer than --max-line-bytes"]);
  if (line.err) rows.push(["looks like", "an error"]);
  for (const [name, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
  for (const selected of log.querySelectorAll(".sel")) selected.classList.remove("sel");
  line.row.classList.add("sel");
  $("details").hidden = false;
}

function controls() {
  $("filter").addEventListener("input", (e) => {
    state.match = parseFilter(e.target.value);
    refilter();
  });
  $("errors").addEventListener("click", (e) => {
    state.errorsOnly = !state.errorsOnly;
    e.currentTarget.setAttribute("aria-pressed", String(state.errorsOnly));
    refilter();
  });
  $("chips").addEventListener("click", (e) => {
    const chip = e.target.closest(".chip");
    if (!chip) return;
    const src = Number(chip.dataset.src);
    if (state.hidden.has(src)) state.hidden.delete(src);
    else state.hidden.add(src);
    chip.setAttribute("aria-pressed", String(!state.hidden.has(src)));
    refilter();
  });
  $("pause").addEventListener("click", (e) => {
    state.paused = !state.paused;
    e.currentTarget.setAttribute("aria-pressed", String(state.paused));
    if (!state.paused) {
      const waiting = state.waiting;
      state.waiting = [];
      show(waiting);
    }
    updateCounts();
  });
  log.addEventListener("scroll", () => {
    // following stops when the reader scrolls up, and starts again at the bottom
    state.follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 24;
    if (state.follow) {
      state.unseen = 0;
      $("latest").hidden = true;
    }
  });
  $("latest").addEventListener("click", () => {
    log.scrollTop = log.scrollHeight;
  });
  log.addEventListener("click", (e) => {
    const row = e.target.closest(".line");
    const line = row && state.byId.get(Number(row.dataset.id));
    if (line && !window.getSelection().toString()) showDetails(line);
  });
  $("close-details").addEventListener("click", () => {
    $("details").hidden = true;
  });
}

// -- the rate strip -----------------------------------------------------------------------------

function drawRate() {
  const canvas = $("rate");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const now = Math.floor(Date.now() / 1000 + state.skew);
  for (const second of state.rate.keys()) if (second < now - RATE_SECONDS) state.rate.delete(second);
  let peak = 1;
  for (const counts of state.rate.values()) {
    const total = counts.reduce((sum, n, src) => sum + (state.hidden.has(src) ? 0 : n || 0), 0);
    if (total > peak) peak = total;
  }
  const x = (second) => width - ((now - second) / RATE_SECONDS) * width;
  const y = (n) => height - 4 - (n / peak) * (height - 16);
  g.strokeStyle = "#262d36";
  g.beginPath();
  g.moveTo(0, height - 3.5);
  g.lineTo(width, height - 3.5);
  g.stroke();
  // stacked: each source's band sits on the ones before it, so every source shows and the top is the total
  const seconds = [];
  for (let second = now - RATE_SECONDS; second <= now; second += 1) seconds.push(second);
  const base = seconds.map(() => 0);
  state.sources.forEach((_, src) => {
    if (state.hidden.has(src)) return;
    const top = seconds.map((second, i) => base[i] + ((state.rate.get(second) || [])[src] || 0));
    g.beginPath();
    seconds.forEach((second, i) => (i ? g.lineTo(x(second), y(top[i])) : g.moveTo(x(second), y(top[i]))));
    for (let i = seconds.length - 1; i >= 0; i -= 1) g.lineTo(x(seconds[i]), y(base[i]));
    g.closePath();
    g.globalAlpha = 0.55;
    g.fillStyle = colour(src);
    g.fill();
    seconds.forEach((_, i) => (base[i] = top[i]));
  });
  g.globalAlpha = 1;
  g.fillStyle = "#7d8791";
  g.fillText(`${peak} lines/s`, 4, 10);
  g.fillText("5 min", 4, height - 6);
  g.fillText("now", width - 24, height - 6);
}

controls();
connect();
drawRate();
setInterval(drawRate, 1000);
