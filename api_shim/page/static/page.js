// Keeps the live parts of a page current while exports run: polls the JSON twin named by
// data-live-url, swaps in the rendered parts it returns and announces status changes.
// Everything works without it; this only saves pressing Refresh.
(function () {
  "use strict";
  var holder = document.querySelector("[data-live-url]");
  if (!holder || holder.getAttribute("data-live-active") !== "true") return;
  var url = holder.getAttribute("data-live-url");
  var announcer = document.getElementById("announcer");
  var seen = {};
  var last = {};

  function swap(id, html) {
    var target = document.getElementById(id);
    if (!target || last[id] === html) return;
    var focused = document.activeElement && target.contains(document.activeElement)
      ? document.activeElement.id : null;
    target.innerHTML = html;
    last[id] = html;
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  }

  function announce(statuses) {
    var changes = [];
    Object.keys(statuses).forEach(function (name) {
      if (seen[name] !== undefined && seen[name] !== statuses[name]) {
        changes.push(name + ": " + statuses[name]);
      }
      seen[name] = statuses[name];
    });
    if (changes.length && announcer) announcer.textContent = changes.join(". ");
  }

  function tick() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        if (!body) return;
        Object.keys(body.parts).forEach(function (id) { swap(id, body.parts[id]); });
        announce(body.statuses || {});
        if (body.active) window.setTimeout(tick, 1500);
      })
      .catch(function () { window.setTimeout(tick, 5000); });
  }

  window.setTimeout(tick, 1000);
})();
