// The consumer's page (c2d.provider.webpage). Everything a job holds is shown as text, never as
// markup: a reason or a log is whatever an algorithm wrote.
"use strict";

const FINAL_OK = new Set([70, 80]);
const FINAL = new Set([31, 32, 41, 42, 43, 51, 61, 70, 80]);
const LOG_CHARS = 1 << 20; // the page keeps the last MiB of a followed log
let followed = null; // {jobId, controller}

function $(id) { return document.getElementById(id); }

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) {
    $("signin").hidden = false;
    $("who").textContent = "not signed in";
    throw new Error("signed out");
  }
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.json();
}

async function signIn() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("session");
  if (!token) return;
  history.replaceState(null, "", location.pathname); // the signed request leaves the address bar
  let body;
  try {
    body = atob(token.replace(/-/g, "+").replace(/_/g, "/"));
  } catch (_) {
    showError("the link is damaged: open the page again with c2d web");
    return;
  }
  const response = await fetch("/ui/session", {
    method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body,
  });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    showError("sign-in refused: " + message);
  }
}

function renderEnvironments(items) {
  const body = $("environments").querySelector("tbody");
  body.replaceChildren();
  for (const env of items) {
    const row = document.createElement("tr");
    const busy = env.runningJobs || 0;
    cell(row, env.id);
    cell(row, String(env.cpu));
    cell(row, String(env.memoryMb));
    cell(row, String(env.maxDuration));
    cell(row, String(env.maxJobs));
    cell(row, String(busy));
    cell(row, String(Math.max(0, env.maxJobs - busy)));
    cell(row, String(env.queuedJobs || 0));
    cell(row, env.free ? "free" : String(env.price));
    body.appendChild(row);
  }
}

function statusClass(code) {
  if (!FINAL.has(code)) return "status-running";
  return FINAL_OK.has(code) ? "status-final-ok" : "status-final-bad";
}

function renderJobs(jobs) {
  const body = $("jobs").querySelector("tbody");
  body.replaceChildren();
  jobs.sort((a, b) => b.dateCreated - a.dateCreated);
  for (const job of jobs) {
    const row = document.createElement("tr");
    row.className = "job" + (followed && followed.jobId === job.jobId ? " selected" : "");
    row.dataset.job = job.jobId;
    cell(row, job.jobId);
    cell(row, job.did || "");
    cell(row, new Date(job.dateCreated * 1000).toLocaleString());
    const status = cell(row, `${job.status} ${job.statusText}`, statusClass(job.status));
    status.dataset.status = String(job.status);
    cell(row, job.reason || "");
    const results = cell(row, "");
    for (const result of job.results || []) {
      const link = document.createElement("a");
      link.href = `/ui/api/result?jobId=${encodeURIComponent(job.jobId)}&index=${result.index}`;
      link.download = result.filename;
      link.textContent = `${result.filename} (${result.filesize} B)`;
      link.className = "result";
      link.addEventListener("click", (event) => event.stopPropagation());
      results.appendChild(link);
      results.appendChild(document.createTextNode(" "));
    }
    row.addEventListener("click", () => follow(job.jobId));
    body.appendChild(row);
  }
}

async function follow(jobId) {
  if (followed) followed.controller.abort();
  const controller = new AbortController();
  followed = { jobId, controller };
  $("logpanel").hidden = false;
  $("logjob").textContent = jobId;
  $("logstate").textContent = "following";
  const log = $("log");
  log.textContent = "";
  try {
    const response = await fetch(`/ui/api/logs?jobId=${encodeURIComponent(jobId)}`, {
      credentials: "same-origin", signal: controller.signal,
    });
    if (!response.ok) throw new Error(`${response.status}`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let text = log.textContent + decoder.decode(value, { stream: true });
      if (text.length > LOG_CHARS) text = text.slice(text.length - LOG_CHARS);
      log.textContent = text;
      log.scrollTop = log.scrollHeight;
    }
    $("logstate").textContent = "ended";
  } catch (error) {
    if (error.name !== "AbortError") $("logstate").textContent = "broken off: " + error.message;
  }
}

async function refresh() {
  try {
    renderJobs(await api("/ui/api/jobs"));
    showError("");
  } catch (error) {
    if (error.message !== "signed out") showError(error.message);
  }
}

async function refreshEnvironments() {
  try { renderEnvironments(await api("/ui/api/environments")); } catch (_) { /* shown by refresh */ }
}

async function main() {
  await signIn();
  try {
    const me = await api("/ui/api/me");
    $("who").textContent = me.address;
    $("signin").hidden = true;
    $("logout").hidden = false;
  } catch (_) {
    return;
  }
  $("logout").addEventListener("click", async () => {
    await fetch("/ui/logout", { method: "POST", credentials: "same-origin" });
    location.reload();
  });
  await Promise.all([refresh(), refreshEnvironments()]);
  setInterval(refresh, 1000);
  setInterval(refreshEnvironments, 5000);
}

main();
