// The kiosk: sends a camera frame to /v1/verify about every 500 ms and shows who
// was recognised. The kiosk key comes from ?key=... once, then from localStorage.
"use strict";

(() => {
  const KEY_NAME = "facedb.kioskKey";
  const INTERVAL_MS = 500;   // between frames while nobody is recognised
  const HOLD_MS = 3000;      // how long an accepted person stays on screen
  const REFUSED_MS = 1500;   // how long a refusal stays on screen

  const video = document.getElementById("video");
  const result = document.getElementById("result");
  const headline = document.getElementById("headline");
  const detail = document.getElementById("detail");
  const keyForm = document.getElementById("key-form");
  const keyInput = document.getElementById("key-input");

  let key = facedb.takeKeyFromUrl(window.localStorage, KEY_NAME);
  let timer = null;

  // Only a changed message is written, so that screen readers announce each
  // result once, not every half second.
  function show(state, title, text) {
    if (result.dataset.state === state && headline.textContent === title && detail.textContent === text) {
      return;
    }
    result.dataset.state = state;
    headline.textContent = title;
    detail.textContent = text;
  }

  function askForKey(reason) {
    stop();
    show("error", "Kiosk key needed", reason);
    keyForm.hidden = false;
    keyInput.focus();
  }

  function schedule(delay) {
    stop();
    timer = window.setTimeout(tick, delay);
  }

  function stop() {
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
  }

  function similarity(body) {
    return typeof body.similarity === "number" ? " (similarity " + body.similarity.toFixed(2) + ")" : "";
  }

  // Shows one answer of /v1/verify; returns the delay before the next frame, or
  // null to stop (the key was refused).
  function handle(status, body) {
    if (status === 200 && body) {
      if (body.decision === "accepted") {
        show("accepted", "✓ " + body.person, "Welcome" + similarity(body));
        return HOLD_MS;
      }
      if (body.decision === "spoof") {
        show("refused", "✗ Not accepted", "A live face is needed");
        return REFUSED_MS;
      }
      show("refused", "✗ Not recognised", "Please ask at the desk" + similarity(body));
      return REFUSED_MS;
    }
    const code = body && body.error ? body.error.code : "";
    if (status === 422 && code === "no_face") {
      show("idle", "Look at the camera", "Stand in front of the screen");
      return INTERVAL_MS;
    }
    if (status === 422 && code === "bad_quality") {
      show("warn", "Hold still", "Face the camera, come a little closer");
      return INTERVAL_MS;
    }
    if (status === 401 || status === 403) {
      askForKey(facedb.errorMessage(body, "The key was refused"));
      return null;
    }
    if (status === 429) {  // the key's attempts per minute (FACEDB_VERIFY_RATE_LIMIT)
      show("warn", "Please wait", facedb.errorMessage(body, "Too many attempts"));
      return 10 * INTERVAL_MS;
    }
    if (status === 503) {
      show("error", "Service unavailable", facedb.errorMessage(body, "Trying again"));
      return 5 * INTERVAL_MS;
    }
    show("error", "Error", facedb.errorMessage(body, "HTTP " + status));
    return 4 * INTERVAL_MS;
  }

  async function tick() {
    timer = null;
    if (!key) {
      askForKey("Enter the kiosk key (facedb keys create --role kiosk)");
      return;
    }
    if (video.readyState < 2 || !video.videoWidth) {
      schedule(INTERVAL_MS);
      return;
    }
    let delay = INTERVAL_MS;
    try {
      const form = new FormData();
      form.append("image", await facedb.grabFrame(video), "frame.jpg");
      const { status, body } = await facedb.post("/v1/verify", key, form);
      delay = handle(status, body);
    } catch (err) {
      show("error", "No connection", "Trying again");
      delay = 5 * INTERVAL_MS;
    }
    if (delay !== null) {
      schedule(delay);
    }
  }

  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    key = keyInput.value.trim();
    window.localStorage.setItem(KEY_NAME, key);
    keyInput.value = "";
    keyForm.hidden = true;
    show("idle", "Look at the camera", "");
    schedule(0);
  });

  document.getElementById("change-key").addEventListener("click", () => askForKey("Enter a new kiosk key"));

  facedb.openCamera(video).then(
    () => {
      show("idle", "Look at the camera", "Stand in front of the screen");
      schedule(0);
    },
    (err) => show("error", "Camera unavailable", String(err.message || err)),
  );
})();
