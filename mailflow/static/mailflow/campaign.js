// The campaign page's live figures: asks the page's progress URL for fresh counts and
// updates the bar, the counts and "sent of total" in place. Polls often while emails go
// out, less while answers come in, and stops once no question is open.
(function () {
  "use strict";

  function start() {
    var figures = document.getElementById("campaign-figures");
    if (!figures || figures.dataset.done === "true") {
      return;
    }
    var url = figures.dataset.progressUrl;

    function set(name, value) {
      var node = figures.querySelector('[data-figure="' + name + '"]');
      if (node) {
        node.textContent = value;
      }
    }

    var loaded = null;

    function signature(data) {
      return [data.sent].concat(data.outcomes.map(function (o) { return o.key + "=" + o.count; })).join(",");
    }

    function update(data) {
      set("sent", String(data.sent));
      set("total", String(data.total));
      set("open", String(data.open));
      set("sending-note", data.sending ? ", sending…" : "");
      figures.querySelectorAll("rect[data-outcome]").forEach(function (rect) {
        var outcome = data.outcomes.find(function (o) { return o.key === rect.dataset.outcome; });
        if (outcome) {
          rect.setAttribute("x", String(outcome.x));
          rect.setAttribute("width", String(outcome.width));
          var title = rect.querySelector("title");
          if (title) {
            title.textContent = outcome.label + ": " + outcome.count;
          }
        }
      });
      figures.querySelectorAll("[data-count]").forEach(function (node) {
        var outcome = data.outcomes.find(function (o) { return o.key === node.dataset.count; });
        if (outcome) {
          node.textContent = String(outcome.count);
        }
      });
      var live = figures.querySelector('[data-figure="live"]');
      if (live) {
        live.hidden = false;
      }
      // The list below is the page's as loaded; say when it no longer matches the figures.
      var stale = figures.querySelector('[data-figure="stale"]');
      if (stale && loaded !== null && signature(data) !== loaded) {
        stale.hidden = false;
      }
    }

    function poll(seconds) {
      window.setTimeout(function () {
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) {
            if (response.status >= 400 && response.status < 500) {
              return null; // signed out, or no longer allowed: stop asking
            }
            if (!response.ok) {
              throw new Error(String(response.status));
            }
            return response.json();
          })
          .then(function (data) {
            if (data === null) {
              return;
            }
            update(data);
            if (!data.done) {
              poll(data.poll_seconds);
            }
          })
          .catch(function () {
            // The server is away or busy: try again later, more slowly.
            poll(Number(figures.dataset.pollWaiting) * 3);
          });
      }, seconds * 1000);
    }

    loaded = figures.dataset.signature || null;
    poll(Number(figures.dataset.pollSending));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
