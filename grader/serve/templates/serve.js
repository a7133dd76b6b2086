// The student's page: each run not done yet asks the server how it stands every 1.5 s (queue position, running
// cell, result), and an upload over the cap is refused before it is sent. Text goes in as text, never as HTML.
"use strict";
const POLL_MS = 1500;

function poll() {
  const waiting = document.querySelectorAll("tr[data-run]:not([data-state=done])");
  if (!waiting.length) return;
  for (const row of waiting) {
    fetch("/api/runs/" + row.dataset.run, {credentials: "same-origin"})
      .then((response) => (response.ok ? response.json() : null))
      .then((run) => {
        if (!run) return;
        row.dataset.state = run.state;
        row.querySelector(".summary").textContent = run.summary;
        row.querySelector(".message").textContent = run.message;
      })
      .catch(() => {});  // a restarting server: the next poll asks again
  }
  setTimeout(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  // A sign-in link carries its token in the fragment (/login#token=...), which no request sends: into the
  // form, and out of the address bar and the history.
  const field = document.querySelector("input[name=token]");
  if (field && location.hash.startsWith("#token=")) {
    field.value = decodeURIComponent(location.hash.slice("#token=".length));
    history.replaceState(null, "", location.pathname);
  }
  setTimeout(poll, POLL_MS);
  for (const form of document.querySelectorAll("form.upload")) {
    form.addEventListener("submit", (event) => {
      const file = form.querySelector("input[type=file]").files[0];
      if (file && file.size > Number(form.dataset.cap)) {
        event.preventDefault();
        form.querySelector("[role=alert]").textContent = form.dataset.tooLarge;
      }
    });
  }
});
