/* «К врачу»: the app shell's behaviour (docs/patient-app-shell.md). The texts are in the
   page (app/base.html); this only shows or hides them.
   - registers the service worker (/app/sw.js); when a new release is waiting, shows
     «Доступна новая версия» and, on «Обновить», lets it take over and reloads;
   - shows the offline notice while the browser has no network;
   - the health check at start: /app/api/health; a server that answers an error, or does not
     answer while the device is online, shows the fault message with the support link. */
(function () {
  "use strict";
  var body = document.body;

  function notice(name, shown) {
    var el = document.querySelector('[data-notice="' + name + '"]');
    if (el) { el.hidden = !shown; }
  }

  function fault(kind) {
    var box = document.getElementById("app-fault");
    if (!box) { return; }
    var part = box.querySelector('[data-fault="' + kind + '"]');
    if (part) { part.hidden = false; }
    box.hidden = false;
  }

  /* The offline shell is only ever shown without a network: its notice stays. */
  function onlineState() {
    if (!body.hasAttribute("data-offline-shell")) { notice("offline", !navigator.onLine); }
  }

  function serviceWorker() {
    var url = body.getAttribute("data-service-worker");
    if (!url || !("serviceWorker" in navigator)) { return; }
    var asked = false;
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      if (asked) { window.location.reload(); }
    });
    navigator.serviceWorker.register(url, { scope: "/app/" }).then(function (reg) {
      function offer(worker) {
        notice("update", true);
        var button = document.querySelector('[data-action="app-update"]');
        if (button) {
          button.onclick = function () {
            asked = true;
            worker.postMessage({ type: "skip-waiting" });
          };
        }
      }
      function track(next) {
        next.addEventListener("statechange", function () {
          if (next.state === "installed" && navigator.serviceWorker.controller) { offer(next); }
        });
      }
      if (reg.waiting && navigator.serviceWorker.controller) { offer(reg.waiting); }
      if (reg.installing) { track(reg.installing); }  /* found before this page asked */
      reg.addEventListener("updatefound", function () {
        if (reg.installing) { track(reg.installing); }
      });
    }).catch(function () { /* no worker: the app still works online */ });
  }

  function healthCheck() {
    var url = body.getAttribute("data-health-url");
    if (!url) { return; }
    fetch(url, { cache: "no-store", credentials: "same-origin",
                 headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("health " + response.status); }
        return response.json();
      })
      .then(function (health) {
        if (!health || health.status !== "ok") { fault("server"); return; }
        if (health.services && health.services.esia === "fault" &&
            document.querySelector('[data-testid="app-esia-form"]')) {
          fault("esia");
        }
      })
      .catch(function () {
        if (navigator.onLine) { fault("server"); } else { onlineState(); }
      });
  }

  function retry() {
    var button = document.querySelector('[data-action="retry"]');
    if (button) { button.addEventListener("click", function () { window.location.reload(); }); }
  }

  window.addEventListener("online", onlineState);
  window.addEventListener("offline", onlineState);
  onlineState();
  retry();
  serviceWorker();
  healthCheck();
}());
