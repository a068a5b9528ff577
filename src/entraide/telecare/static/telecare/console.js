// The monitoring console: the alert list kept live over Server-Sent Events, a beep when a
// new critical alert comes in. No framework: htmx does the clicks, this does the stream.
(function () {
  "use strict";

  // A refused transition (409) carries the refreshed panel with its message: show it.
  htmx.config.responseHandling.unshift({ code: "409", swap: true, error: false });

  const list = document.getElementById("alert-list");
  const live = document.getElementById("live");
  const soundButton = document.getElementById("sound");
  if (!list) {
    return;
  }

  let audio = null;  // browsers allow sound only after a gesture: the button creates it
  let lastHtml = null;
  let selected = null;
  const known = new Set(ids(list));

  function ids(root) {
    return Array.from(root.querySelectorAll("[data-alert-id]"), (row) => row.dataset.alertId);
  }

  function beep(times) {
    if (!audio) {
      return;
    }
    const start = audio.currentTime + 0.02;
    for (let i = 0; i < times; i += 1) {
      const at = start + i * 0.32;
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.type = "square";
      tone.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start(at);
      tone.stop(at + 0.27);
    }
  }

  function markSelected() {
    list.querySelectorAll(".alert-row").forEach((row) => {
      row.classList.toggle("selected", row.dataset.alertId === selected);
    });
  }

  function showAlerts(html) {
    if (html === lastHtml) {
      return;
    }
    lastHtml = html;
    const incoming = document.createElement("template");
    incoming.innerHTML = html;
    const critical = Array.from(incoming.content.querySelectorAll('[data-severity="4"]'),
      (row) => row.dataset.alertId).filter((id) => !known.has(id));
    ids(incoming.content).forEach((id) => known.add(id));
    list.innerHTML = html;
    htmx.process(list);
    markSelected();
    if (critical.length) {
      beep(4);
    }
  }

  if (soundButton) {
    soundButton.addEventListener("click", () => {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) {
        return;
      }
      audio = audio || new Context();
      audio.resume();
      soundButton.setAttribute("aria-pressed", "true");
      soundButton.textContent = soundButton.dataset.on;
      beep(1);
    });
  }

  // Remember the alert shown in the panel, to highlight its row in every new list.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "alert-detail") {
      const shown = event.detail.target.querySelector("[data-alert-id]");
      selected = shown ? shown.dataset.alertId : null;
      markSelected();
      if (window.matchMedia("(max-width: 900px)").matches) {
        event.detail.target.scrollIntoView({ block: "start" });  // on a phone it is below
      }
    }
  });

  if (!window.EventSource) {
    return;
  }
  const source = new EventSource(list.dataset.stream);
  source.addEventListener("alerts", (event) => showAlerts(event.data));
  source.addEventListener("open", () => {
    if (live) {
      live.textContent = live.dataset.live;
      live.classList.remove("lost");
    }
  });
  source.addEventListener("error", () => {
    if (live) {
      live.textContent = live.dataset.lost;
      live.classList.add("lost");
    }
  });
}());
