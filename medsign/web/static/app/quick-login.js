/* Quick login of the app «К врачу» (docs/patient-app.md): the PIN keypad, the device key
   (WebCrypto ECDSA P-256, not extractable, kept in IndexedDB) and WebAuthn for biometrics.
   The server decides everything; this file only asks and shows its answers. */
(function () {
  "use strict";
  var DB_NAME = "medsign-app", STORE = "keys", KEY_ID = "device";
  var SIGNED_PREFIX = "medsign quick login v1";
  var FAILED = "Не удалось выполнить действие. Проверьте подключение и попробуйте ещё раз.";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRF-Token": csrf()},
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().catch(function () { return {detail: FAILED}; }).then(function (data) {
        return {ok: r.ok, status: r.status, data: data};
      });
    });
  }

  /* -- the device key in IndexedDB ------------------------------------------------------ */
  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function storeKeys(pair) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, "readwrite");
        tx.objectStore(STORE).put(pair, KEY_ID);
        tx.oncomplete = function () { resolve(); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }

  function loadKeys() {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var request = db.transaction(STORE, "readonly").objectStore(STORE).get(KEY_ID);
        request.onsuccess = function () { resolve(request.result || null); };
        request.onerror = function () { reject(request.error); };
      });
    });
  }

  function newKeys() {
    return crypto.subtle.generateKey({name: "ECDSA", namedCurve: "P-256"}, false,
                                     ["sign", "verify"]);
  }

  /* -- base64 ----------------------------------------------------------------------------- */
  function toBase64(buffer) {
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text);
  }
  function toBase64url(buffer) {
    return toBase64(buffer).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromBase64url(text) {
    var plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(plain.length);
    for (var i = 0; i < plain.length; i++) { bytes[i] = plain.charCodeAt(i); }
    return bytes.buffer;
  }

  /* -- the keypad ------------------------------------------------------------------------- */
  function Keypad(root, onComplete) {
    var pad = root.querySelector("[data-pin-pad]");
    var dots = pad.querySelectorAll(".pin-dot");
    var status = pad.querySelector("[data-pin-dots]");
    var digits = "", busy = false;

    function show() {
      for (var i = 0; i < dots.length; i++) {
        dots[i].classList.toggle("is-filled", i < digits.length);
      }
      status.setAttribute("aria-label", "Введено цифр: " + digits.length + " из 4");
    }
    function press(digit) {
      if (busy || digits.length >= 4) { return; }
      digits += digit;
      show();
      if (digits.length === 4) {
        var pin = digits;
        busy = true;
        pad.classList.add("is-busy");
        window.setTimeout(function () { onComplete(pin); }, 150);  // the fourth dot shows
      }
    }
    function erase() {
      if (busy) { return; }
      digits = digits.slice(0, -1);
      show();
    }
    pad.addEventListener("click", function (event) {
      var key = event.target.closest("button");
      if (!key) { return; }
      if (key.hasAttribute("data-erase")) { erase(); } else { press(key.dataset.digit); }
    });
    document.addEventListener("keydown", function (event) {
      if (pad.closest("[hidden]") || event.ctrlKey || event.metaKey || event.altKey) { return; }
      if (/^[0-9]$/.test(event.key)) {
        event.preventDefault();
        press(event.key);
      } else if (event.key === "Backspace") {
        event.preventDefault();
        erase();
      }
    });
    this.reset = function () {
      digits = "";
      busy = false;
      pad.classList.remove("is-busy");
      show();
    };
  }

  function say(element, text) { if (element) { element.textContent = text || ""; } }

  /* -- «Создание PIN-кода» and the choice of biometrics ----------------------------------- */
  function welcome(root) {
    var prompt = root.querySelector("[data-pin-prompt]");
    var error = root.querySelector("[data-pin-error]");
    var first = null;
    var firstPrompt = prompt.textContent;
    var keypad = new Keypad(root, function (pin) {
      if (first === null) {
        first = pin;
        say(error, "");
        say(prompt, "Повторите PIN-код");
        keypad.reset();
        return;
      }
      if (pin !== first) {
        first = null;
        say(prompt, firstPrompt);
        say(error, root.dataset.mismatch);
        keypad.reset();
        return;
      }
      bind(pin).then(function (answer) {
        if (!answer.ok) {
          first = null;
          say(prompt, firstPrompt);
          say(error, answer.data.detail || FAILED);
          keypad.reset();
          return;
        }
        return offerBiometrics(root, answer.data.biometrics);
      }).catch(function () { say(error, FAILED); first = null; keypad.reset(); });
    });
  }

  function bind(pin) {
    var pair;
    return newKeys().then(function (made) {
      pair = made;
      return crypto.subtle.exportKey("spki", made.publicKey);
    }).then(function (spki) {
      return storeKeys(pair).then(function () {
        return post("/app/api/device/bind", {public_key: toBase64(spki), pin: pin});
      });
    });
  }

  function platformAuthenticator() {
    if (!window.PublicKeyCredential ||
        !PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable) {
      return Promise.resolve(false);
    }
    return PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable()
      .catch(function () { return false; });
  }

  function offerBiometrics(root, serverOffers) {
    var home = root.dataset.home;
    return (serverOffers ? platformAuthenticator() : Promise.resolve(false)).then(function (can) {
      if (!can) { window.location.assign(home); return; }
      root.querySelector('[data-step="pin"]').hidden = true;
      var step = root.querySelector('[data-step="method"]');
      var error = root.querySelector("[data-method-error]");
      step.hidden = false;
      step.querySelector("h1").setAttribute("tabindex", "-1");
      step.querySelector("h1").focus();
      step.querySelector('[data-choose="pin"]').addEventListener("click", function () {
        post("/app/api/device/method", {method: "pin"}).then(function (answer) {
          if (answer.ok) { window.location.assign(home); } else { say(error, answer.data.detail); }
        }).catch(function () { say(error, FAILED); });
      });
      step.querySelector('[data-choose="biometrics"]').addEventListener("click", function () {
        say(error, "");
        registerBiometrics().then(function (answer) {
          if (answer.ok) { window.location.assign(home); } else { say(error, answer.data.detail); }
        }).catch(function () {
          say(error, "Не удалось настроить вход по отпечатку пальца или Face ID. " +
                     "Попробуйте ещё раз или выберите вход по PIN-коду.");
        });
      });
    });
  }

  /* -- WebAuthn ----------------------------------------------------------------------------- */
  function creationOptions(options) {
    var made = Object.assign({}, options);
    made.challenge = fromBase64url(options.challenge);
    made.user = Object.assign({}, options.user, {id: fromBase64url(options.user.id)});
    made.excludeCredentials = (options.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, {id: fromBase64url(c.id)});
    });
    return made;
  }

  function requestOptions(options) {
    var made = Object.assign({}, options);
    made.challenge = fromBase64url(options.challenge);
    made.allowCredentials = (options.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, {id: fromBase64url(c.id)});
    });
    return made;
  }

  function credentialJson(credential) {
    var response = credential.response, out = {};
    Object.keys({clientDataJSON: 1, attestationObject: 1, authenticatorData: 1, signature: 1,
                 userHandle: 1}).forEach(function (name) {
      if (response[name]) { out[name] = toBase64url(response[name]); }
    });
    if (response.getTransports) { out.transports = response.getTransports(); }
    return {id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type,
            response: out, clientExtensionResults: credential.getClientExtensionResults(),
            authenticatorAttachment: credential.authenticatorAttachment || undefined};
  }

  function registerBiometrics() {
    return post("/app/api/device/webauthn/register/options").then(function (answer) {
      if (!answer.ok) { return answer; }
      return navigator.credentials.create({publicKey: creationOptions(answer.data.options)})
        .then(function (credential) {
          return post("/app/api/device/webauthn/register",
                      {challenge: answer.data.challenge, credential: credentialJson(credential)});
        });
    });
  }

  /* -- the quick login screen ---------------------------------------------------------------- */
  function unlock(root) {
    var error = root.querySelector("[data-pin-error]");
    var home = root.dataset.home;

    function answered(answer) {
      if (answer.ok) { window.location.assign(answer.data.next || home); return true; }
      say(error, answer.data.detail || FAILED);
      if (answer.data.next) {  // the device is no longer bound: only the full login is left
        root.querySelectorAll('[data-step="pin"], [data-biometrics-box]').forEach(function (e) {
          e.hidden = true;
        });
      }
      return false;
    }

    var keypad = new Keypad(root, function (pin) {
      say(error, "");
      Promise.all([post("/app/api/device/challenge"), loadKeys()]).then(function (got) {
        var answer = got[0], pair = got[1];
        if (!answer.ok) { return answer; }
        if (!pair) {
          return {ok: false, data: {detail: "На этом устройстве нет ключа быстрого входа " +
                                            "(данные браузера очищены): войдите с паролем.",
                                    next: root.dataset.login}};
        }
        var message = SIGNED_PREFIX + "\n" + answer.data.device_id + "\n" + answer.data.challenge;
        return crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, pair.privateKey,
                                  new TextEncoder().encode(message)).then(function (signature) {
          return post("/app/api/device/unlock", {challenge: answer.data.challenge,
                                                 signature: toBase64url(signature), pin: pin});
        });
      }).then(function (answer) {
        if (!answered(answer)) { keypad.reset(); }
      }).catch(function () { say(error, FAILED); keypad.reset(); });
    });

    var biometrics = root.querySelector("[data-unlock-biometrics]");
    if (biometrics) {
      biometrics.addEventListener("click", function () {
        say(error, "");
        post("/app/api/device/webauthn/login/options").then(function (answer) {
          if (!answer.ok) { return answer; }
          return navigator.credentials.get({publicKey: requestOptions(answer.data.options)})
            .then(function (credential) {
              return post("/app/api/device/webauthn/login",
                          {challenge: answer.data.challenge,
                           credential: credentialJson(credential)});
            });
        }).then(answered).catch(function () {
          say(error, "Не удалось подтвердить вход отпечатком пальца или Face ID. " +
                     "Попробуйте ещё раз или введите PIN-код.");
        });
      });
      root.querySelector("[data-show-pin]").addEventListener("click", function () {
        root.querySelector('[data-step="pin"]').hidden = false;
        root.querySelector("[data-pin-pad] .pin-key").focus();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-quick-login]");
    if (!root) { return; }
    if (root.dataset.quickLogin === "welcome") { welcome(root); } else { unlock(root); }
  });
})();
