/* The start page's «Установить приложение»: the browser's own install prompt where it has
   one (beforeinstallprompt: Chromium browsers); the button stays hidden elsewhere, where the
   page's instructions (iOS Safari: «Поделиться» → «На экран "Домой"») say what to do. */
(function () {
  "use strict";
  var button = document.querySelector('[data-action="app-install"]');
  if (!button) { return; }
  var deferred = null;
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    deferred = event;
    button.hidden = false;
  });
  button.addEventListener("click", function () {
    if (!deferred) { return; }
    deferred.prompt();
    deferred.userChoice.then(function () { deferred = null; button.hidden = true; });
  });
  window.addEventListener("appinstalled", function () { button.hidden = true; });
}());
