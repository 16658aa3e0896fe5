// kizuna console: refreshes the parts of a page that say data-refresh="<url>" every few
// seconds, so new alerts appear without a reload. Nothing else: every page works without it.
"use strict";
(function () {
  var EVERY_MS = 3000;
  function refresh(el) {
    // Not while the focus is inside it (typing in a form, or on a button reached with
    // Tab): replacing it would throw a keyboard user back to the top of the page.
    var focused = document.activeElement;
    if (focused && focused !== el && el.contains(focused)) {
      return;
    }
    fetch(el.getAttribute("data-refresh"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { el.innerHTML = html; } })
      .catch(function () {});
  }
  document.addEventListener("DOMContentLoaded", function () {
    var parts = document.querySelectorAll("[data-refresh]");
    Array.prototype.forEach.call(parts, function (el) {
      setInterval(function () { refresh(el); }, EVERY_MS);
    });
  });
})();
