// Job page: polls the session-authenticated status endpoint every 2 s and updates the page
// in place (state, queue position, progress, ETA); when the video is ready it shows the
// player and the download link, then refreshes the ledger and callback sections.
(function () {
  "use strict";
  var root = document.getElementById("job-status");
  if (!root) return;
  var url = root.getAttribute("data-status-url");
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

  if (wasLive) window.setTimeout(tick, INTERVAL);
})();
