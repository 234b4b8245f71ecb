/* The service worker of «К врачу» (docs/patient-app-shell.md), served as /app/sw.js: its
   scope is /app/. Release {{ version }}.

   - install: precache the shell (the offline page, CSS, JS, icons) into a cache named after
     the release; the new worker then waits until the page asks it to take over;
   - activate: delete the caches of other releases, take control of open pages;
   - navigations: the network first; without a network, the cached offline page;
   - the precached files: from the cache; everything else (personal pages, API answers,
     downloads) goes to the network and is never stored. */
"use strict";

var CACHE = "k-vrachu-{{ version }}";
var PREFIX = "k-vrachu-";
var OFFLINE = {{ offline|tojson }};
var PRECACHE = {{ precache|tojson }};

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(PRECACHE.map(function (url) {
      return new Request(url, { cache: "reload", credentials: "omit" });
    }));
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(PREFIX) === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "skip-waiting") { self.skipWaiting(); }
});

function offlinePage() {
  return caches.open(CACHE).then(function (cache) { return cache.match(OFFLINE); })
    .then(function (page) {
      return page || new Response("Нет соединения с интернетом.", {
        status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" }
      });
    });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(offlinePage));
    return;
  }
  if (url.origin === self.location.origin &&
      PRECACHE.indexOf(url.pathname + url.search) !== -1) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request).then(function (hit) { return hit || fetch(request); });
    }));
  }
});
