// The publisher's page (c2d.operator.page): jobs, queue and failures, shown as text only.
"use strict";

function $(id) { return document.getElementById(id); }

function row(values, attributes) {
  const tr = document.createElement("tr");
  for (const value of values) {
    const td = document.createElement("td");
    td.textContent = value;
    tr.appendChild(td);
  }
  for (const [name, value] of Object.entries(attributes || {})) tr.dataset[name] = value;
  return tr;
}

async function get(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) { $("signin").hidden = false; throw new Error("signed out"); }
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.json();
}

async function refresh() {
  try {
    const [queue, jobs] = await Promise.all([get("/ui/api/queue"), get("/ui/api/jobs")]);
    $("signin").hidden = true;
    $("who").textContent = "signed in";
    $("queue").querySelector("tbody").replaceChildren(
      ...queue.map((q) => row([q.environment, q.slots, q.busy, q.queued, q.held].map(String), { environment: q.environment })));
    $("failures").querySelector("tbody").replaceChildren(
      ...jobs.filter((j) => j.failed).map((j) => row(
        [j.jobId, j.owner, j.environment, `${j.status} ${j.statusText}`, j.reason], { job: j.jobId })));
    $("jobs").querySelector("tbody").replaceChildren(
      ...jobs.map((j) => row(
        [j.jobId, j.owner, j.environment, new Date(j.created * 1000).toLocaleString(), `${j.status} ${j.statusText}`, j.reason],
        { job: j.jobId, status: String(j.status) })));
    $("error").hidden = true;
  } catch (error) {
    if (error.message !== "signed out") { $("error").textContent = error.message; $("error").hidden = false; }
  }
}

$("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/ui/session", {
    method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: $("token").value }),
  });
  $("token").value = "";
  if (!response.ok) {
    $("error").textContent = "sign-in refused";
    $("error").hidden = false;
    return;
  }
  refresh();
});

refresh();
setInterval(refresh, 2000);
