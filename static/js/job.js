// Job page: listens to the job's live event stream (EventSource on /api/v1/jobs/{id}/events,
// session-authenticated) and, on each event, reads the page's status endpoint once to update
// the page in place (state, queue position, progress, ETA); when the video is ready it shows
// the player and the download link, then refreshes the ledger and callback sections. Without
// EventSource, or when the stream keeps failing, it polls the status endpoint every 2 s.
(function () {
  "use strict";
  var root = document.getElementById("job-status");
  if (!root) return;
  var url = root.getAttribute("data-status-url");
  var eventsUrl = root.getAttribute("data-events-url");
  var INTERVAL = 2000;
  var wasLive = root.getAttribute("data-terminal") !== "true";

  function el(id) { return document.getElementById(id); }
  function setText(id, text) { var node = el(id); if (node) node.textContent = text; }

  function showPlayer(status) {
    var section = el("result");
    var video = el("player");
    if (!section || !video || !status.video_url) return;
    if (video.getAttribute("src") !== status.video_url) {
      if (status.poster_url) video.setAttribute("poster", status.poster_url);
      video.setAttribute("src", status.video_url);
      video.load();
    }
    var link = el("download");
    link.setAttribute("href", status.video_url);
    link.setAttribute("download", status.download_name);
    setText("video-link", status.video_url);
    section.hidden = false;
  }

  function refreshSections() {
    // The ledger and callback tables changed when the job ended: take them from a fresh copy
    // of this page instead of duplicating their rendering here.
    fetch(window.location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-refresh]").forEach(function (node) {
          var replacement = fresh.getElementById(node.id);
          if (replacement) node.replaceWith(replacement);
        });
      });
  }

  function apply(status) {
    root.setAttribute("data-state", status.state);
    var badge = el("state-label");
    badge.textContent = status.state_label;
    badge.className = "badge " + status.state;
    var bar = el("progress");
    bar.value = status.progress;
    bar.textContent = status.progress + "%";
    setText("progress-text", status.progress + "%");
    setText("eta-text", status.eta_text);
    setText("queue-text", status.queue_text);
    var error = el("job-error");
    error.hidden = !status.error;
    setText("job-error-text", status.error);
    if (status.state === "succeeded") showPlayer(status);
    if (status.terminal) {
      root.setAttribute("data-terminal", "true");
      if (wasLive) refreshSections();
    }
  }

  function tick() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"},
                cache: "no-store"})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (status) {
        apply(status);
        if (!status.terminal) window.setTimeout(tick, INTERVAL);
      })
      .catch(function () { window.setTimeout(tick, INTERVAL * 2); });
  }

  var polling = false;
  function startPolling() {
    if (polling) return;
    polling = true;
    window.setTimeout(tick, INTERVAL);
  }

  // One status read at a time; an event arriving meanwhile asks for one more afterwards.
  var reading = false, again = false;
  function readOnce() {
    if (reading) { again = true; return; }
    reading = true;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"},
                cache: "no-store"})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(apply)
      .catch(function () {})
      .then(function () {
        reading = false;
        if (again) { again = false; readOnce(); }
      });
  }

  function listen() {
    var source = new EventSource(eventsUrl);
    var failures = 0;
    source.onopen = function () { failures = 0; };
    source.addEventListener("job", function (event) {
      var data = JSON.parse(event.data);
      var bar = el("progress");
      bar.value = data.progress;
      setText("progress-text", data.progress + "%");
      // The stream ends after the terminal event; EventSource would reconnect otherwise.
      if (data.state === "succeeded" || data.state === "failed" || data.state === "cancelled") {
        source.close();
      }
      readOnce();
    });
    source.onerror = function () {
      // EventSource reconnects by itself (a stream's lifetime ended, a proxy restarted);
      // after repeated failures the page falls back to polling.
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= 3) {
        source.close();
        startPolling();
      }
    };
  }

  if (!wasLive) return;
  if (window.EventSource && eventsUrl) listen(); else startPolling();
})();
