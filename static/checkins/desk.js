/*
 * FitFlow front desk (templates/checkins/desk.html). No build step, no framework.
 *
 * - The scan box keeps the focus: a USB/Bluetooth QR scanner types the token and
 *   Enter, which htmx posts to /check-in/scan/. Focus comes back after every result,
 *   and any printable key typed while the focus is not in a text field goes to it.
 * - The result panel clears itself (about 6 s green, 10 s red; Esc at once).
 * - Keyboard: "/" focuses the scan box, arrow keys move through the matches, Esc clears.
 * - Camera scanning for tablets (html5-qrcode, back camera), https or localhost only.
 * - Live occupancy and feed over the websocket /ws/check-ins/; while it is down the
 *   page reconnects with backoff and polls /check-in/occupancy/ every 15 s (a socket
 *   closed with 4401/4403, login expired or role gone, is not retried).
 *
 * Member data from the socket only ever goes into the DOM through textContent and
 * attributes (never innerHTML).
 */
(function () {
  "use strict";

  const desk = document.getElementById("desk");
  if (!desk) return;

  const input = document.getElementById("desk-q");
  const form = document.getElementById("desk-scan");
  const result = document.getElementById("desk-result");
  const search = document.getElementById("desk-search");
  const live = document.getElementById("desk-live");
  const liveStatus = document.getElementById("desk-live-status");
  const rowTemplate = document.getElementById("desk-feed-row");
  const idleTemplate = document.getElementById("desk-idle");
  const soundButton = document.getElementById("desk-sound");
  const methods = JSON.parse(document.getElementById("desk-methods").textContent);
  const levels = JSON.parse(document.getElementById("desk-levels").textContent);
  const liveUrl = desk.dataset.liveUrl;
  const feedSize = Number(desk.dataset.feedSize || 12);
  const ID_PLACEHOLDER = "999999999";
  const POLL_MS = 15000;
  const MAX_BACKOFF_MS = 30000;
  const TOKEN_MIN_LENGTH = 40;
  const CLOSE_UNAUTHENTICATED = 4401; // apps/checkins/consumers.py
  const CLOSE_FORBIDDEN = 4403;

  const timeFormat = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone: desk.dataset.tz || undefined,
  });

  function looksLikeToken(text) {
    const t = text.trim();
    return t.length > 0 && !/\s/.test(t) && (t.length > TOKEN_MIN_LENGTH || t.includes(":"));
  }

  // --- focus --------------------------------------------------------------------------

  function focusInput(select) {
    if (document.activeElement !== input) input.focus({ preventScroll: true });
    if (select) input.select();
  }

  function isTextField(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    if (el.tagName !== "INPUT") return false;
    return !["button", "submit", "reset", "checkbox", "radio", "file", "image", "range", "color"].includes(el.type);
  }

  function isInteractive(el) {
    return !!el && el !== document.body && el.matches("a[href], button, input, select, textarea, summary, [tabindex]");
  }

  function picks() {
    return Array.from(document.querySelectorAll("#desk-search .desk-pick, #desk-result .desk-pick"));
  }

  // --- the result panel -------------------------------------------------------------------

  let clearTimer = null;

  function clearPanel() {
    clearTimeout(clearTimer);
    result.replaceChildren(idleTemplate.content.cloneNode(true));
  }

  function clearAll() {
    clearPanel();
    input.value = "";
    search.replaceChildren();
    focusInput();
  }

  function armPanel() {
    clearTimeout(clearTimer);
    const panel = result.querySelector("[data-clear-after]");
    if (panel) clearTimer = setTimeout(clearPanel, Number(panel.dataset.clearAfter));
  }

  // Staff working inside the panel (override reason, check-out) keep it open; leaving
  // it starts the countdown again.
  result.addEventListener("focusin", () => clearTimeout(clearTimer));
  result.addEventListener("focusout", (e) => {
    if (!result.contains(e.relatedTarget)) armPanel();
  });

  // --- sound and vibration cue (optional, remembered per browser) -----------------------

  let audio = null;
  let soundOn = localStorage.getItem("fitflow.desk.sound") !== "off";

  function showSound() {
    soundButton.setAttribute("aria-pressed", String(soundOn));
    soundButton.textContent = soundOn ? "Sound on" : "Sound off";
  }
  soundButton.hidden = false;
  showSound();
  soundButton.addEventListener("click", () => {
    soundOn = !soundOn;
    localStorage.setItem("fitflow.desk.sound", soundOn ? "on" : "off");
    showSound();
  });

  function cue(tone) {
    if (tone === "red" && navigator.vibrate) navigator.vibrate([120, 80, 120]);
    if (!soundOn || (tone !== "green" && tone !== "red")) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = tone === "green" ? 880 : 220;
      gain.gain.value = 0.06;
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + (tone === "green" ? 0.12 : 0.4));
    } catch (err) {
      /* no audio on this device: the colour says it all */
    }
  }

  // --- htmx wiring ----------------------------------------------------------------------

  document.body.addEventListener("htmx:confirm", (e) => {
    const elt = e.detail.elt;
    if (elt === form && !input.value.trim()) {
      e.preventDefault(); // Enter on an empty box: nothing to do
      focusInput();
    } else if (elt === input && looksLikeToken(input.value)) {
      e.preventDefault(); // a scanner is typing: never search for a token
      search.replaceChildren();
    }
  });

  document.body.addEventListener("htmx:beforeRequest", (e) => {
    const elt = e.detail.elt;
    // Parameters are already collected: clear the box for the next scan.
    if (elt === form || (elt.closest && elt.closest(".desk-picks"))) {
      input.value = "";
      search.replaceChildren();
    }
  });

  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (e.detail.target !== result) return;
    armPanel();
    const panel = result.querySelector(".desk-panel");
    if (panel) cue(panel.dataset.tone);
    const wanted = result.querySelector("[data-autofocus]");
    if (wanted) wanted.focus();
    else focusInput();
  });

  // A poll answer older than what the socket already showed (or a login page after the
  // session expired) is not swapped in.
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.target !== live || !e.detail.xhr) return;
    const match = /data-as-of="([^"]+)"/.exec(e.detail.xhr.responseText || "");
    if (!match || (e.detail.xhr.status !== 200)) {
      e.detail.shouldSwap = false;
      return;
    }
    const shown = currentAsOf();
    if (shown !== null && parseIso(match[1]) < shown) e.detail.shouldSwap = false;
  });

  document.body.addEventListener("desk:changed", () => {
    if (!socketOpen()) refreshLive();
  });

  // --- keyboard -------------------------------------------------------------------------

  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    const active = document.activeElement;

    if (e.key === "Escape") {
      const details = active && active.closest && active.closest("details[open]");
      if (details && result.contains(details)) details.open = false;
      clearAll();
      return;
    }

    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const list = picks();
      if (!list.length) return;
      if (active === input) {
        if (e.key === "ArrowDown") {
          e.preventDefault();
          list[0].focus();
        }
        return;
      }
      const i = list.indexOf(active);
      if (i < 0) return;
      e.preventDefault();
      if (e.key === "ArrowDown") list[Math.min(i + 1, list.length - 1)].focus();
      else if (i === 0) focusInput();
      else list[i - 1].focus();
      return;
    }

    if (isTextField(active)) return;
    if (e.key === "/") {
      e.preventDefault();
      focusInput(true);
      return;
    }
    // A printable key with the focus on nothing that takes text (the page, a panel, a
    // button): it belongs in the scan box, so a scanner's token never lands elsewhere.
    // Space still presses a focused button.
    if (e.key.length === 1 && !(e.key === " " && isInteractive(active))) focusInput();
  });

  // --- camera scanning --------------------------------------------------------------------

  const cameraOpen = document.getElementById("desk-camera-open");
  const cameraBox = document.getElementById("desk-camera");
  const cameraMsg = document.getElementById("desk-camera-msg");
  const cameraClose = document.getElementById("desk-camera-close");
  let scanner = null;
  let lastCode = "";
  let lastCodeAt = 0;

  function cameraMessage(text, bad) {
    cameraMsg.textContent = text;
    cameraMsg.classList.toggle("bad", !!bad);
  }

  function cameraError(err) {
    const name = (err && err.name) || "";
    const text = String((err && err.message) || err || "");
    if (name === "NotAllowedError" || /permission|denied|notallowed/i.test(text)) {
      return "The camera permission was refused. Allow the camera for this site in the browser settings, or use the scanner.";
    }
    if (name === "NotFoundError" || /notfound|no camera|requested device not found/i.test(text)) {
      return "No camera was found on this device. Use the scanner or type the member's name.";
    }
    if (name === "NotReadableError" || /notreadable|in use/i.test(text)) {
      return "The camera is in use by another app. Close it and try again.";
    }
    return "The camera could not start (" + (text || name || "unknown error") + "). Use the scanner or type the member's name.";
  }

  function onDecode(text) {
    const now = Date.now();
    if (text === lastCode && now - lastCodeAt < 4000) return; // the same code held up to the camera
    lastCode = text;
    lastCodeAt = now;
    input.value = text;
    form.requestSubmit();
  }

  async function openCamera() {
    cameraBox.hidden = false;
    cameraOpen.setAttribute("aria-expanded", "true");
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraMessage(
        "The camera only works when the page is opened over https (or on localhost). Use the scanner or type the member's name.",
        true,
      );
      cameraClose.focus();
      return;
    }
    if (typeof window.Html5Qrcode === "undefined") {
      cameraMessage("The camera scanner did not load. Reload the page and try again.", true);
      cameraClose.focus();
      return;
    }
    if (scanner && scanner.isScanning) return;
    cameraMessage("Starting the camera…", false);
    try {
      scanner = scanner || new window.Html5Qrcode("desk-camera-view");
      await scanner.start({ facingMode: "environment" }, { fps: 10, qrbox: 240 }, onDecode, () => {});
      cameraMessage("Hold the member's QR code up to the camera.", false);
    } catch (err) {
      cameraMessage(cameraError(err), true);
    }
    cameraClose.focus();
  }

  async function closeCamera() {
    if (scanner && scanner.isScanning) {
      try {
        await scanner.stop();
      } catch (err) {
        /* already stopped */
      }
    }
    cameraBox.hidden = true;
    cameraOpen.setAttribute("aria-expanded", "false");
    focusInput();
  }

  cameraOpen.hidden = false;
  cameraOpen.setAttribute("aria-expanded", "false");
  cameraOpen.addEventListener("click", openCamera);
  cameraClose.addEventListener("click", closeCamera);

  // --- live occupancy and feed ----------------------------------------------------------------

  function parseIso(text) {
    // Python's isoformat has microseconds; Date.parse wants at most milliseconds.
    return Date.parse(String(text).replace(/(\.\d{3})\d+/, "$1"));
  }

  function occupancyBox() {
    return live.querySelector("[data-occupancy]");
  }

  function currentAsOf() {
    const box = occupancyBox();
    return box && box.dataset.asOf ? parseIso(box.dataset.asOf) : null;
  }

  function applyOccupancy(o) {
    const box = occupancyBox();
    if (!box || !o || typeof o.count !== "number") return false;
    const shown = currentAsOf();
    if (shown !== null && o.as_of && parseIso(o.as_of) < shown) return false; // stale
    box.dataset.asOf = o.as_of || "";
    box.className = "occupancy level-" + String(o.level || "quiet").replace(/[^a-z_]/g, "");
    box.querySelector("[data-count]").textContent = String(o.count);
    box.querySelector("[data-capacity]").textContent = String(o.capacity);
    box.querySelector("[data-level]").textContent = levels[o.level] || String(o.level || "");
    const percent = o.capacity > 0 ? Math.min(100, Math.round((100 * o.count) / o.capacity)) : 0;
    box.querySelector("[data-fill]").style.width = percent + "%";
    const bar = box.querySelector("[role=progressbar]");
    bar.setAttribute("aria-valuenow", String(o.count));
    bar.setAttribute("aria-valuemax", String(o.capacity));
    return true;
  }

  function urlFor(template, id) {
    return template.replace(ID_PLACEHOLDER, String(Number(id)));
  }

  function initials(name) {
    const words = String(name || "").trim().split(/\s+/).filter(Boolean);
    if (!words.length) return "?";
    const first = words[0][0] || "";
    const last = words.length > 1 ? words[words.length - 1][0] : "";
    return (first + last).toUpperCase();
  }

  function leftText(iso) {
    return "Left " + timeFormat.format(new Date(parseIso(iso)));
  }

  function addRow(c) {
    const feed = live.querySelector("#desk-feed");
    if (!feed) return;
    const old = feed.querySelector('[data-check-in="' + Number(c.id) + '"]');
    if (old) old.remove();
    const empty = feed.querySelector(".feed-empty");
    if (empty) empty.remove();

    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    row.dataset.checkIn = String(Number(c.id));
    const time = row.querySelector(".feed-time");
    time.setAttribute("datetime", c.checked_in_at);
    time.textContent = timeFormat.format(new Date(parseIso(c.checked_in_at)));
    const avatar = row.querySelector(".avatar");
    if (c.photo_url) {
      const img = document.createElement("img");
      img.alt = "";
      img.src = c.photo_url;
      avatar.appendChild(img);
    } else {
      avatar.textContent = initials(c.member_name);
    }
    const name = row.querySelector(".feed-name");
    name.textContent = c.member_name;
    name.href = urlFor(desk.dataset.memberUrl, c.member_id);
    row.querySelector("[data-plan]").textContent = c.plan || "No plan";
    row.querySelector("[data-method]").textContent = methods[c.method] || c.method || "";

    const state = row.querySelector(".feed-state");
    if (c.checked_out_at) {
      row.classList.remove("open");
      const left = document.createElement("span");
      left.className = "muted small";
      left.textContent = leftText(c.checked_out_at);
      state.replaceChildren(left);
    } else {
      const checkOut = row.querySelector("form");
      const url = urlFor(desk.dataset.checkOutUrl, c.id);
      checkOut.action = url;
      checkOut.setAttribute("hx-post", url);
      checkOut.querySelector("button").setAttribute("aria-label", "Check out " + c.member_name);
    }
    row.classList.add("fresh");
    feed.prepend(row);
    if (window.htmx) window.htmx.process(row);
    const rows = feed.querySelectorAll(".feed-row");
    for (let i = feedSize; i < rows.length; i++) rows[i].remove();
  }

  function markOut(c) {
    const row = live.querySelector('#desk-feed [data-check-in="' + Number(c.id) + '"]');
    if (!row) return;
    row.classList.remove("open");
    const left = document.createElement("span");
    left.className = "muted small";
    left.textContent = c.checked_out_at ? leftText(c.checked_out_at) : "Left";
    row.querySelector(".feed-state").replaceChildren(left);
  }

  function handleMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "occupancy") {
      applyOccupancy(msg);
    } else if (msg.type === "check_in") {
      applyOccupancy(msg.occupancy);
      if (msg.event === "checked_in" && msg.check_in) addRow(msg.check_in);
      else if (msg.event === "checked_out" && msg.check_in) markOut(msg.check_in);
      else if (msg.event === "occupancy") refreshLive(); // many rows closed at once (auto check-out)
    }
  }

  function refreshLive() {
    if (!window.htmx) return;
    window.htmx.ajax("GET", liveUrl, { target: "#desk-live", swap: "innerHTML" });
  }

  // --- the websocket, with backoff and polling while it is down ------------------------------

  let socket = null;
  let attempts = 0;
  let everOpen = false;
  let pollTimer = null;
  let reconnectTimer = null;

  function socketOpen() {
    return !!socket && socket.readyState === WebSocket.OPEN;
  }

  function setStatus(state, text) {
    liveStatus.dataset.state = state;
    liveStatus.textContent = text;
  }

  function startPolling() {
    if (pollTimer) return;
    refreshLive();
    pollTimer = setInterval(refreshLive, POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempts) + Math.floor(Math.random() * 500);
    attempts += 1;
    reconnectTimer = setTimeout(connect, delay);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let ws;
    try {
      ws = new WebSocket(scheme + "://" + location.host + desk.dataset.wsPath);
    } catch (err) {
      setStatus("down", "Live updates off: refreshing every 15 s");
      startPolling();
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener("open", () => {
      attempts = 0;
      stopPolling();
      setStatus("live", "Live");
      if (everOpen) refreshLive(); // catch up on the feed missed while away
      everOpen = true;
    });
    ws.addEventListener("message", (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      handleMessage(msg);
    });
    ws.addEventListener("close", (e) => {
      if (socket === ws) socket = null;
      if (e.code === CLOSE_UNAUTHENTICATED || e.code === CLOSE_FORBIDDEN) {
        // Retrying cannot help (the login expired, or the role was taken away), and
        // polling would only fetch the login page: say so and stop.
        stopPolling();
        clearTimeout(reconnectTimer);
        setStatus(
          "down",
          e.code === CLOSE_UNAUTHENTICATED
            ? "Live updates stopped: log in again (reload the page)"
            : "Live updates stopped: your role no longer allows the desk",
        );
        return;
      }
      setStatus("down", "Reconnecting… refreshing every 15 s");
      startPolling();
      scheduleReconnect();
    });
  }

  window.addEventListener("online", () => {
    if (!socketOpen()) {
      attempts = 0;
      scheduleReconnect();
    }
  });

  connect();
  focusInput();
})();
