// The fansi page: a form, the run's live events, its tree, the stored runs.
// Model text never becomes markup here: the tree comes from the server as
// escaped HTML (/fragments/runs/ID), and everything else is set as textContent.
"use strict";

const $ = (selector) => document.querySelector(selector);
const ENGINE_KINDS = ["run_started", "candidate_written", "verification_finished",
  "issue_confirmed", "candidate_decided", "check_finished", "program_voted",
  "round_finished", "call_failed", "run_finished"];
const JOB_KINDS = ["job_queued", "job_resumed", "job_started", "job_finished", "job_failed",
  "job_cancelled", "job_paused"];
const ENDS = new Set(["job_finished", "job_failed", "job_cancelled"]);
const LIVE_CHARS = 4000;

let info = null;
let source = null;
let current = null;
let refreshing = null;

class NeedsToken extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: {"Content-Type": "application/json"},
    ...options,
  });
  if (response.status === 401) {
    showLogin();
    throw new NeedsToken("this server needs its token");
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && (body.detail || (body.error && body.error.message));
    throw new Error(typeof message === "string" ? message : `HTTP ${response.status}`);
  }
  return body;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

function showLogin() {
  for (const id of ["#submit", "#runs", "#run"]) $(id).hidden = true;
  $("#login").hidden = false;
}

async function login(event) {
  event.preventDefault();
  try {
    await api("/api/session", {method: "POST", body: JSON.stringify({token: $("#token").value})});
    location.reload();
  } catch (error) {
    showError(error.message);
  }
}

function setupForm() {
  const effort = $("#effort");
  for (const name of info.efforts) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    option.selected = name === info.effort;
    effort.append(option);
  }
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => {
      $("#solution").hidden = radio.value !== "verify" || !radio.checked;
      $("#solution").required = !$("#solution").hidden;
    });
  }
  $("#run-form").addEventListener("submit", submit);
  $("#server").textContent =
    `${info.model} · effort up to ${info.effort} · ${info.workers} at a time · fansi ${info.version}`;
  if (!info.katex) {
    $("#form-note").textContent = "KaTeX is not installed: LaTeX will be shown as written.";
  }
}

async function submit(event) {
  event.preventDefault();
  const mode = document.querySelector("input[name=mode]:checked").value;
  const body = {mode, problem: $("#problem").value, effort: $("#effort").value};
  if (mode === "verify") body.solution = $("#solution").value;
  $("#go").disabled = true;
  try {
    const run = await api("/api/runs", {method: "POST", body: JSON.stringify(body)});
    showError("");
    history.pushState({}, "", run.url);
    openRun(run.id);
  } catch (error) {
    if (!(error instanceof NeedsToken)) showError(error.message);
  } finally {
    $("#go").disabled = false;
  }
}

function route() {
  const match = location.pathname.match(/^\/runs\/([^/]+)$/);
  if (match) openRun(decodeURIComponent(match[1]));
  else showHome();
}

function showHome() {
  stopStream();
  current = null;
  $("#run").hidden = true;
  $("#submit").hidden = false;
  $("#runs").hidden = false;
  loadRuns();
}

function stopStream() {
  if (source) source.close();
  source = null;
}

function openRun(id) {
  stopStream();
  current = id;
  $("#submit").hidden = true;
  $("#runs").hidden = true;
  $("#run").hidden = false;
  $("#run-id").textContent = id;
  $("#log").replaceChildren();
  $("#live").textContent = "";
  $("#live").hidden = true;
  $("#progress").textContent = "";
  $("#tree").replaceChildren();
  refreshTree();
  source = new EventSource(`/api/runs/${encodeURIComponent(id)}/events`);
  for (const kind of [...ENGINE_KINDS, ...JOB_KINDS]) {
    source.addEventListener(kind, (event) => onEvent(id, kind, JSON.parse(event.data)));
  }
  source.addEventListener("token", (event) => onToken(id, JSON.parse(event.data).text));
  source.onerror = () => {
    // A run that this server did not start has no stream; its tree is all there is.
    if (source && source.readyState === EventSource.CLOSED) stopStream();
  };
}

function describe(kind, event) {
  const data = event.data || {};
  const bits = [kind.replace(/_/g, " ")];
  if (data.candidate) bits.push(String(data.candidate).replace(`${current}-`, ""));
  if (data.score !== undefined && data.score !== null) bits.push(`score ${data.score}`);
  if (data.verdict) bits.push(data.verdict);
  if (data.error) bits.push(data.error);
  return bits.join(" · ");
}

function onEvent(id, kind, event) {
  if (id !== current) return;
  const line = document.createElement("li");
  line.dataset.kind = kind;
  line.textContent = describe(kind, event);
  $("#log").append(line);
  const ended = ENDS.has(kind);
  const state = ended ? kind.replace("job_", "") : "working";
  $("#progress").textContent =
    `${state} · round ${event.round + 1} · ${event.calls} calls · ${event.tokens} tokens · ` +
    `${Number(event.seconds).toFixed(1)} s · ${describe(kind, event)}`;
  $("#progress").dataset.state = state;
  $("#cancel").hidden = ended;
  if (kind === "candidate_written") $("#live").hidden = true;
  scheduleRefresh(ended ? 0 : 300);
  if (ended) stopStream();
}

function onToken(id, text) {
  if (id !== current) return;
  const live = $("#live");
  live.hidden = false;
  live.textContent = (live.textContent + text).slice(-LIVE_CHARS);
  live.scrollTop = live.scrollHeight;
}

function scheduleRefresh(delay) {
  if (refreshing !== null && delay > 0) return;
  clearTimeout(refreshing);
  refreshing = setTimeout(() => { refreshing = null; refreshTree(); }, delay);
}

async function refreshTree() {
  const id = current;
  const response = await fetch(`/fragments/runs/${encodeURIComponent(id)}`,
    {credentials: "same-origin"});
  if (id !== current) return;
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    showError((body && body.detail) || `HTTP ${response.status}`);
    return;
  }
  const tree = $("#tree");
  const open = new Set([...tree.querySelectorAll("details[open]")].map((d) => d.dataset.key));
  // The fragment is the server's escaped rendering (see fansi/serve/page.py).
  tree.innerHTML = await response.text();
  for (const box of tree.querySelectorAll("details")) {
    if (open.has(box.dataset.key)) box.open = true;
  }
  const run = tree.querySelector(".run");
  if (run) $("#cancel").hidden = !["queued", "running"].includes(run.dataset.status);
}

let searchTimer = null;

async function loadRuns() {
  let list;
  try {
    list = await api(`/api/runs?limit=50&q=${encodeURIComponent($("#search").value)}`);
  } catch (error) {
    if (!(error instanceof NeedsToken)) showError(error.message);
    return;
  }
  const rows = list.runs.map((run) => {
    const row = document.createElement("tr");
    const link = document.createElement("a");
    link.href = run.url;
    link.textContent = run.id;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      history.pushState({}, "", run.url);
      openRun(run.id);
    });
    const cells = [link, run.status, run.verdict || "", run.confidence === null ? "" :
      run.confidence.toFixed(2), run.problem, run.created_at.slice(0, 19).replace("T", " ")];
    for (const value of cells) {
      const cell = document.createElement("td");
      if (value instanceof Node) cell.append(value); else cell.textContent = value;
      row.append(cell);
    }
    row.dataset.status = run.status;
    return row;
  });
  $("#run-rows").replaceChildren(...rows);
  $("#no-runs").hidden = rows.length > 0;
}

async function copyLink() {
  const url = `${location.origin}/runs/${encodeURIComponent(current)}`;
  try {
    await navigator.clipboard.writeText(url);
    $("#share").textContent = "copied";
  } catch {
    $("#share").textContent = url;
  }
}

async function cancelRun() {
  try {
    await api(`/api/runs/${encodeURIComponent(current)}`, {method: "DELETE"});
    scheduleRefresh(0);
  } catch (error) {
    if (!(error instanceof NeedsToken)) showError(error.message);
  }
}

async function start() {
  $("#login-form").addEventListener("submit", login);
  $("#search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(loadRuns, 250);
  });
  $("#back").addEventListener("click", (event) => {
    event.preventDefault();
    history.pushState({}, "", "/");
    showHome();
  });
  $("#share").addEventListener("click", copyLink);
  $("#cancel").addEventListener("click", cancelRun);
  try {
    info = await api("/api/info");
  } catch (error) {
    if (!(error instanceof NeedsToken)) showError(error.message);
    return;
  }
  setupForm();
  window.addEventListener("popstate", route);
  route();
}

start();
