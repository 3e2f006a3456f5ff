// The admin console's little script: confirmations, select-all, and the Today
// page's live list of decisions (polled; no reload). No inline script: the
// Content-Security-Policy allows this file only.
"use strict";

const POLL_MS = 3000;

function confirmations() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

function selectAll() {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    for (const box of document.querySelectorAll('input[type=checkbox][name=event]')) {
      box.checked = all.checked;
    }
  });
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function liveDecisions() {
  const table = document.getElementById("latest");
  if (!table) return;
  const body = table.tBodies[0];
  const state = document.getElementById("live-state");
  const seen = new Set([...body.rows].map((r) => r.dataset.event));
  async function poll() {
    try {
      const answer = await fetch(table.dataset.poll, { credentials: "same-origin" });
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      const { events } = await answer.json();
      body.replaceChildren();
      for (const e of events) {
        const row = document.createElement("tr");
        row.dataset.event = e.event_id;
        if (!seen.has(e.event_id)) row.className = "new";
        seen.add(e.event_id);
        cell(row, e.time).title = e.day;
        cell(row, e.decision, "d-" + e.decision);
        cell(row, e.name);
        cell(row, e.similarity);
        cell(row, e.device);
        body.appendChild(row);
      }
      state.textContent = "live, updated " + new Date().toLocaleTimeString();
    } catch (error) {
      state.textContent = "not updating: " + error.message;
    }
  }
  window.setInterval(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  confirmations();
  selectAll();
  liveDecisions();
});
