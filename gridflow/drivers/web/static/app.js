/* gridflow workbench: live updates from the change feed (Server-Sent Events).
 *
 * A page rendered at feed position N (body[data-feed]) follows /live?after=N. Each step
 * becomes htmx events on <body>: "gf:changed" (lists and boards refresh: hx-trigger
 * "gf:changed from:body") and "gf:case-ID" (that case's page refreshes). The action forms
 * of a case page refresh only while none of them is being filled in; otherwise a banner
 * says the case changed. No inline script, no eval (the page's CSP forbids both).
 */
(function () {
  "use strict";
  var body = document.body;
  var after = body.getAttribute("data-feed");
  if (after === null || typeof EventSource === "undefined") return;

  // forms being filled in are "dirty": a live refresh must not wipe what was typed
  document.addEventListener("input", function (e) {
    var form = e.target && e.target.closest && e.target.closest("form.action");
    if (form) form.setAttribute("data-dirty", "1");
  });

  var pending = {};
  var timer = null;
  function flush() {
    timer = null;
    var ids = Object.keys(pending);
    pending = {};
    if (!window.htmx) return;
    window.htmx.trigger(body, "gf:changed", { cases: ids });
    ids.forEach(function (id) {
      window.htmx.trigger(body, "gf:case-" + id, {});
      var actions = document.getElementById("actions-" + id);
      if (!actions) return;
      if (actions.querySelector("form[data-dirty]")) {
        var banner = document.getElementById("changed-" + id);
        if (banner) banner.hidden = false;
      } else {
        window.htmx.trigger(body, "gf:actions-" + id, {});
      }
    });
  }

  var source = new EventSource("/live?after=" + encodeURIComponent(after));
  source.addEventListener("step", function (e) {
    try {
      var step = JSON.parse(e.data);
      pending[String(step.case_id)] = true;
    } catch (err) {
      return;
    }
    if (!timer) timer = setTimeout(flush, 200);
  });
  body.setAttribute("data-live", "connecting");
  source.addEventListener("open", function () { body.setAttribute("data-live", "open"); });
  source.addEventListener("error", function () { body.setAttribute("data-live", "retrying"); });
  window.addEventListener("pagehide", function () { source.close(); });
})();
