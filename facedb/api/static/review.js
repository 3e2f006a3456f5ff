// The review page: GET /v1/review, each kept face fetched with the admin key (an
// <img> cannot send it) and shown from a blob: URL, and the queue's actions.
// Everything the server sends is shown as text (textContent), never as HTML.
"use strict";

(() => {
  const KEY_NAME = "facedb-admin-key";
  const keyInput = document.getElementById("admin-key");
  const statusSelect = document.getElementById("status");
  const body = document.getElementById("queue");
  const groupsBody = document.getElementById("groups");
  const message = document.getElementById("message");
  const urls = [];

  keyInput.value = facedb.takeKeyFromUrl(window.sessionStorage, KEY_NAME) || "";

  function adminKey() {
    const key = keyInput.value.trim();
    window.sessionStorage.setItem(KEY_NAME, key);
    return key;
  }

  function say(text) {
    message.textContent = text;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function number(value) {
    return value === null || value === undefined ? "" : value.toFixed(3);
  }

  async function send(path, key, payload) {
    const response = await fetch(path, {
      method: "POST",
      headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    const data = await response.json().catch(() => null);
    return { status: response.status, body: data };
  }

  async function act(item, action, payload) {
    const key = adminKey();
    const { status, body: answer } = await send(
      "/v1/review/" + encodeURIComponent(item.event_id) + "/" + action, key, payload);
    if (status !== 200) {
      say(facedb.errorMessage(answer, "the action failed (HTTP " + status + ")"));
      return;
    }
    await load(action + ": event " + item.event_id.slice(0, 8) +
        (answer.person ? " is now " + answer.person + "'s" : "") + ".");
  }

  async function actOnGroup(group, action, payload) {
    const key = adminKey();
    const { status, body: answer } = await send(
      "/v1/review/unknowns/" + encodeURIComponent(group.id) + "/" + action, key, payload);
    if (status !== 200) {
      say(facedb.errorMessage(answer, "the action failed (HTTP " + status + ")"));
      return;
    }
    await load(action === "enrol"
      ? "Enrolled " + answer.name + " from " + answer.events + " face(s) of group " + group.id + "."
      : "Dismissed " + answer.dismissed + " event(s) of group " + group.id + ".");
  }

  function button(text, action, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.dataset.action = action;
    b.addEventListener("click", onClick);
    return b;
  }

  function groupRow(group, key) {
    const row = document.createElement("tr");
    row.dataset.group = group.id;
    const faces = cell(row, "", "faces");
    for (const eventId of group.event_ids.slice(0, 4)) {
      const img = document.createElement("img");
      img.alt = "A face of group " + group.id;
      faces.appendChild(img);
      showFace(img, { event_id: eventId }, key);
    }
    cell(row, group.count + " time(s)");
    cell(row, group.devices.join(", "));
    cell(row, new Date(group.first_seen).toLocaleString());
    cell(row, new Date(group.last_seen).toLocaleString());
    const td = cell(row, "", "actions");
    const name = document.createElement("input");
    name.type = "text";
    name.maxLength = 200;
    name.placeholder = "Name";
    name.className = "person";
    name.setAttribute("aria-label", "Name of the person of group " + group.id);
    td.append(
      name,
      button("Enrol as new person", "enrol", () => {
        const value = name.value.trim();
        if (value) actOnGroup(group, "enrol", { name: value });
      }),
      button("Dismiss group", "dismiss", () => actOnGroup(group, "dismiss", {})),
    );
    return row;
  }

  async function showFace(img, item, key) {
    const response = await fetch(
      "/v1/review/" + encodeURIComponent(item.event_id) + "/thumbnail",
      { headers: { Authorization: "Bearer " + key } });
    if (!response.ok) return;
    const url = URL.createObjectURL(await response.blob());
    urls.push(url);
    img.src = url;
  }

  function actions(row, item) {
    const td = cell(row, "", "actions");
    const accept = document.createElement("button");
    accept.type = "button";
    accept.textContent = "Confirm";
    accept.dataset.action = "accept";
    accept.addEventListener("click", () => act(item, "accept", {}));
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.textContent = "Dismiss";
    dismiss.dataset.action = "dismiss";
    dismiss.addEventListener("click", () => act(item, "dismiss", {}));
    const person = document.createElement("input");
    person.type = "text";
    person.maxLength = 200;
    person.placeholder = "It was…";
    person.setAttribute("aria-label", "The right person for event " + item.event_id.slice(0, 8));
    person.className = "person";
    if (item.candidates.length) person.value = item.candidates[0].name;
    const reassign = document.createElement("button");
    reassign.type = "button";
    reassign.textContent = "Reassign";
    reassign.dataset.action = "reassign";
    reassign.addEventListener("click", () => {
      const name = person.value.trim();
      if (name) act(item, "reassign", { person: name });
    });
    td.append(accept, dismiss, person, reassign);
  }

  // Reloads the queue; ``done``: what the last action did, said before the count.
  async function load(done) {
    const key = adminKey();
    if (!key) {
      say("Enter an admin key.");
      return;
    }
    const { status, body: rows } = await facedb.get(
      "/v1/review?status=" + encodeURIComponent(statusSelect.value), key);
    if (status !== 200) {
      say(facedb.errorMessage(rows, "cannot load the queue (HTTP " + status + ")"));
      return;
    }
    while (urls.length) URL.revokeObjectURL(urls.pop());
    body.replaceChildren();
    for (const item of rows) {
      const row = document.createElement("tr");
      row.dataset.event = item.event_id;
      const face = cell(row, "");
      const img = document.createElement("img");
      img.alt = "Face seen at " + (item.device || "an unknown device");
      face.appendChild(img);
      cell(row, new Date(item.occurred_at).toLocaleString());
      const who = item.name || item.claimed;
      cell(row, item.decision + (who ? " (" + who + ")" : ""), "decision-" + item.decision);
      cell(row, number(item.similarity) + (item.threshold !== null ? " / " + number(item.threshold) : ""));
      cell(row, item.candidates.map((c) => c.name + " " + number(c.similarity)).join(", "));
      cell(row, item.device || "");
      cell(row, item.status + (item.reviewed_person ? ": " + item.reviewed_person : ""), "status");
      actions(row, item);
      body.appendChild(row);
      showFace(img, item, key);
    }
    const grouped = await facedb.get("/v1/review/unknowns", key);
    groupsBody.replaceChildren();
    if (grouped.status === 200) {
      for (const group of grouped.body) groupsBody.appendChild(groupRow(group, key));
    }
    const count = rows.length ? rows.length + " event(s) to review." : "Nothing to review.";
    say(done ? done + " " + count : count);
  }

  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  statusSelect.addEventListener("change", () => load());
  load();
})();
