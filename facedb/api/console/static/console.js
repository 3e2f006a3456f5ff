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
        const face = cell(row, "");
        if (e.face) {
          const img = document.createElement("img");
          img.src = e.face;
          img.alt = "face of " + (e.name || e.decision);
          img.width = img.height = 40;
          face.appendChild(img);
        }
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

// The photos chosen for an enrolment, checked at once by the server (nothing is
// enrolled): kept, or why not.
function photoChecks() {
  for (const input of document.querySelectorAll("input[type=file][data-check]")) {
    const list = input.form.querySelector("ul.checks");
    const csrf = input.form.querySelector("input[name=csrf]").value;
    input.addEventListener("change", async () => {
      list.replaceChildren();
      if (!input.files.length) return;
      const body = new FormData();
      for (const file of input.files) body.append("photo", file);
      if (input.dataset.person) body.append("person", input.dataset.person);
      const item = document.createElement("li");
      item.textContent = "checking " + input.files.length + " photo(s)…";
      list.appendChild(item);
      try {
        const answer = await fetch(input.dataset.check, {
          method: "POST", body, headers: { "X-CSRF-Token": csrf },
        });
        const data = await answer.json();
        if (!answer.ok) throw new Error(data.error ? data.error.message : "HTTP " + answer.status);
        list.replaceChildren();
        for (const photo of data.photos) {
          const li = document.createElement("li");
          li.className = photo.kept ? "kept" : "refused";
          li.textContent = photo.label + ": " + (photo.kept ? "will be kept" : photo.reason);
          if (photo.kept && photo.reason !== "kept") li.textContent = photo.label + ": " + photo.reason;
          list.appendChild(li);
        }
      } catch (error) {
        item.textContent = "could not check the photos: " + error.message;
      }
    });
  }
}

// Photos from the browser's camera, added to the form's file input.
function camera() {
  const open = document.getElementById("camera-open");
  if (!open) return;
  const input = document.getElementById("new-photos");
  const box = input.form.querySelector(".camera");
  const video = document.getElementById("camera-view");
  let taken = 0;
  open.addEventListener("click", async () => {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      await video.play();
      box.hidden = false;
      open.hidden = true;
    } catch (error) {
      open.textContent = "No camera: " + error.message;
    }
  });
  document.getElementById("camera-take").addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      const files = new DataTransfer();
      for (const file of input.files) files.items.add(file);
      taken += 1;
      files.items.add(new File([blob], "camera-" + taken + ".jpg", { type: "image/jpeg" }));
      input.files = files.files;
      input.dispatchEvent(new Event("change"));
    }, "image/jpeg", 0.9);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  confirmations();
  selectAll();
  liveDecisions();
  photoChecks();
  camera();
});
