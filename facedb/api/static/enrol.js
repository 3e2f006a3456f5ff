// Enrolment for administrators: photos from the camera (or files) sent to
// /v1/enrol. The admin key is kept for this browser tab only (sessionStorage).
"use strict";

(() => {
  const KEY_NAME = "facedb.adminKey";
  const MAX_PHOTOS = 10;

  const video = document.getElementById("video");
  const keyInput = document.getElementById("admin-key");
  const shotsList = document.getElementById("shots");
  const files = document.getElementById("files");
  const message = document.getElementById("message");
  const shots = [];

  keyInput.value = facedb.takeKeyFromUrl(window.sessionStorage, KEY_NAME) || "";

  function say(state, text) {
    message.dataset.state = state;
    message.textContent = text;
  }

  function adminKey() {
    const key = keyInput.value.trim();
    window.sessionStorage.setItem(KEY_NAME, key);
    return key;
  }

  function renderShots() {
    shotsList.replaceChildren(
      ...shots.map((blob, i) => {
        const item = document.createElement("li");
        const img = document.createElement("img");
        img.src = URL.createObjectURL(blob);
        img.alt = "Photo " + (i + 1);
        item.append(img);
        return item;
      }),
    );
  }

  document.getElementById("snap").addEventListener("click", async () => {
    if (!video.videoWidth) {
      say("error", "The camera is not ready.");
      return;
    }
    if (shots.length >= MAX_PHOTOS) {
      say("error", "At most " + MAX_PHOTOS + " photos.");
      return;
    }
    shots.push(await facedb.grabFrame(video, 1280, 0.92));
    renderShots();
    say("idle", shots.length + " photo(s) taken.");
  });

  document.getElementById("clear").addEventListener("click", () => {
    shots.length = 0;
    renderShots();
    say("idle", "Photos cleared.");
  });

  document.getElementById("enrol-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const images = [...shots, ...files.files];
    if (!images.length) {
      say("error", "Take a photo or choose an image first.");
      return;
    }
    const form = new FormData();
    images.slice(0, MAX_PHOTOS).forEach((image, i) => form.append("image", image, image.name || "photo" + i + ".jpg"));
    form.append("name", document.getElementById("name").value);
    form.append("add", document.getElementById("add").checked ? "true" : "false");
    form.append("force", document.getElementById("force").checked ? "true" : "false");
    say("idle", "Enrolling…");
    try {
      const { status, body } = await facedb.post("/v1/enrol", adminKey(), form);
      if (status === 201) {
        say("accepted", "Enrolled " + body.name + ": " + body.added + " face(s) stored, " + body.total + " in all.");
        shots.length = 0;
        renderShots();
        files.value = "";
        loadPeople();
      } else {
        say("refused", facedb.errorMessage(body, "HTTP " + status));
      }
    } catch (err) {
      say("error", "No connection to the server.");
    }
  });

  async function loadPeople() {
    const key = adminKey();
    if (!key) return;
    const { status, body } = await facedb.get("/v1/users", key);
    const rows = document.getElementById("people");
    if (status !== 200) {
      rows.replaceChildren();
      return;
    }
    rows.replaceChildren(
      ...body.map((person) => {
        const row = document.createElement("tr");
        for (const value of [person.name, String(person.embeddings)]) {
          const cell = document.createElement("td");
          cell.textContent = value;
          row.append(cell);
        }
        return row;
      }),
    );
  }

  document.getElementById("refresh").addEventListener("click", loadPeople);
  keyInput.addEventListener("change", loadPeople);

  facedb.openCamera(video).catch((err) => say("error", "Camera unavailable: " + (err.message || err) + ". Choose image files instead."));
  loadPeople();
})();
