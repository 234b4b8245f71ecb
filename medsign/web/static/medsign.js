/* medsign: live updates without reloading. A region with data-refresh-url re-fetches its
   HTML fragment every data-refresh-seconds; it skips a turn while the page is hidden or the
   keyboard focus is inside the region (replacing it would lose the focus). */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* For scripts that change state: the session's CSRF token goes in X-CSRF-Token. */
  window.medsignPost = function (url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRF-Token": csrfToken(), "X-Requested-With": "medsign-refresh" }
    });
  };

  function note(region, text) {
    var id = region.getAttribute("data-refresh-note");
    var target = id ? document.getElementById(id) : null;
    if (target) { target.textContent = text; }
  }

  function refresh(region) {
    if (document.hidden || region.contains(document.activeElement)) { return; }
    fetch(region.getAttribute("data-refresh-url"), {
      credentials: "same-origin", headers: { "X-Requested-With": "medsign-refresh" }
    }).then(function (response) {
      if (response.status === 401) {
        clearInterval(region.medsignTimer);
        note(region, "Сеанс завершён: обновите страницу и войдите снова.");
        return null;
      }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (typeof html === "string") {
        region.innerHTML = html;
        note(region, "Обновлено в " + new Date().toLocaleTimeString("ru-RU"));
      }
    }).catch(function () {
      note(region, "Нет связи с сервером; повторим попытку.");
    });
  }

  function start() {
    var regions = document.querySelectorAll("[data-refresh-url]");
    Array.prototype.forEach.call(regions, function (region) {
      var seconds = parseInt(region.getAttribute("data-refresh-seconds") || "5", 10);
      region.medsignTimer = setInterval(function () { refresh(region); },
                                        Math.max(seconds, 2) * 1000);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
