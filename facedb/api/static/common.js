// Shared by the kiosk and enrolment pages: API keys in browser storage, camera
// frames as JPEG, and calls to the facedb API. No build step, no dependencies.
"use strict";

const facedb = (() => {
  // A key passed as ?key=... is stored, then removed from the address bar.
  function takeKeyFromUrl(storage, name) {
    const params = new URLSearchParams(window.location.search);
    const key = params.get("key");
    if (key) {
      storage.setItem(name, key.trim());
      params.delete("key");
      const query = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    }
    return storage.getItem(name);
  }

  async function openCamera(video) {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error("the camera needs HTTPS (or http://localhost)");
    }
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } },
    });
    video.srcObject = stream;
    await video.play();
    return stream;
  }

  // The current video frame as a JPEG Blob, at most maxWidth pixels wide.
  function grabFrame(video, maxWidth = 640, quality = 0.85) {
    const scale = Math.min(1, maxWidth / video.videoWidth);
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("no frame"))), "image/jpeg", quality);
    });
  }

  // POST a FormData to the API; resolves to {status, body} (body: parsed JSON or null).
  async function post(path, key, form) {
    const response = await fetch(path, {
      method: "POST",
      headers: { Authorization: "Bearer " + key },
      body: form,
    });
    const body = await response.json().catch(() => null);
    return { status: response.status, body };
  }

  async function get(path, key) {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + key } });
    const body = await response.json().catch(() => null);
    return { status: response.status, body };
  }

  function errorMessage(body, fallback) {
    return (body && body.error && body.error.message) || fallback;
  }

  return { takeKeyFromUrl, openCamera, grabFrame, post, get, errorMessage };
})();
