(function () {
  "use strict";
  const root = "/_emulator";
  const select = document.getElementById("user-select");
  const chat = document.getElementById("chat");
  const errorBox = document.getElementById("error");
  const stateBox = document.getElementById("user-state");
  const toast = document.getElementById("toast");
  const STATES = {new: "ещё не запускал бота", active: "бот запущен", stopped: "бот остановлен"};
  let current = new URLSearchParams(location.search).get("user") || "";
  let lastSnapshot = "";
  let seenNotes = null;

  async function call(method, path, body) {
    const response = await fetch(root + path, {method: method,
      headers: body === undefined ? {} : {"Content-Type": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) { throw new Error(data.message || ("HTTP " + response.status)); }
    return data;
  }

  function act(promise) {
    errorBox.textContent = "";
    return promise.then(refresh).catch(function (e) { errorBox.textContent = e.message; });
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function keyboardNode(item) {
    const box = el("div", "keyboard");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Кнопки сообщения");
    item.keyboard.forEach(function (row) {
      const line = el("div", "krow");
      row.forEach(function (button) { line.appendChild(buttonNode(item, button)); });
      box.appendChild(line);
    });
    return box;
  }

  function buttonNode(item, button) {
    if (button.type === "link") {
      const a = el("a", "", button.text + " ↗");
      a.href = button.url; a.target = "_blank"; a.rel = "noopener noreferrer";
      return a;
    }
    const b = el("button", "", button.text);
    b.type = "button";
    if (button.type === "callback") {
      b.addEventListener("click", function () {
        act(call("POST", "/users/" + current + "/press", {mid: item.mid, payload: button.payload}));
      });
    } else if (button.type === "request_contact") {
      b.addEventListener("click", function () {
        act(call("POST", "/users/" + current + "/share-contact"));
      });
    } else {
      b.disabled = true; b.title = "Кнопка типа " + button.type + " не эмулируется";
    }
    return b;
  }

  function itemNode(item) {
    if (item.kind === "notification") { return el("p", "note", "🔔 " + item.text); }
    const box = el("div", "msg " + item.from);
    const who = item.from === "bot" ? "Бот" : "Вы";
    box.setAttribute("aria-label", "Сообщение: " + who);
    if (item.contact) {
      const tel = ((item.contact.vcf_info || "").match(/TEL[^:]*:(.*)/) || ["", ""])[1].trim();
      box.appendChild(el("span", "", "📇 Контакт: " + ((item.contact.max_info || {}).name || "") +
        (tel ? "\n+" + tel.replace(/^\+/, "") : "")));
    } else if (item.text) {
      box.appendChild(el("span", "", item.text));
    }
    (item.files || []).forEach(function (file) {
      const link = el("a", "file", "Файл: " + file.filename + " (" + Math.ceil(file.size / 1024) + " КБ)");
      link.href = file.url; link.setAttribute("download", file.filename);
      box.appendChild(link);
    });
    if (item.attachments.length && !item.contact && !(item.files || []).length) {
      box.appendChild(el("span", "meta", "вложения: " + item.attachments.join(", ")));
    }
    const time = new Date(item.timestamp).toLocaleTimeString("ru-RU", {hour: "2-digit", minute: "2-digit"});
    box.appendChild(el("span", "meta", time + (item.edited ? " · изменено" : "")));
    if (item.keyboard) { box.appendChild(keyboardNode(item)); }
    return box;
  }

  function showToasts(items) {
    const notes = items.filter(function (i) { return i.kind === "notification"; });
    const keys = notes.map(function (n) { return n.timestamp + ":" + n.text; });
    if (seenNotes !== null) {
      const fresh = notes.filter(function (n, i) { return !seenNotes.has(keys[i]); });
      if (fresh.length) {
        toast.textContent = fresh[fresh.length - 1].text; toast.style.display = "block";
        setTimeout(function () { toast.style.display = "none"; }, 4000);
      }
    }
    seenNotes = new Set(keys);
  }

  function renderChat(data) {
    const snapshot = JSON.stringify(data);
    if (snapshot === lastSnapshot) { return; }
    lastSnapshot = snapshot;
    stateBox.textContent = "Состояние: " + STATES[data.user.state] +
      (data.user.phone ? " · телефон " + data.user.phone : " · телефон не указан");
    chat.replaceChildren();
    if (!data.items.length) { chat.appendChild(el("p", "empty", "Сообщений пока нет.")); }
    data.items.forEach(function (item) { chat.appendChild(itemNode(item)); });
    chat.scrollTop = chat.scrollHeight;
    showToasts(data.items);
  }

  async function loadUsers() {
    const data = await call("GET", "/users");
    const chosen = current;
    select.replaceChildren(el("option", "", "— выберите пользователя —"));
    select.firstChild.value = "";
    data.users.forEach(function (u) {
      const option = el("option", "", u.name + (u.phone ? " (" + u.phone + ")" : "") + " · id " + u.user_id);
      option.value = String(u.user_id);
      select.appendChild(option);
    });
    select.value = chosen;
  }

  async function refresh() {
    if (!current) { return; }
    try { renderChat(await call("GET", "/users/" + current + "/chat")); }
    catch (e) { errorBox.textContent = e.message; }
  }

  function choose(userId) {
    current = userId; lastSnapshot = ""; seenNotes = null;
    const url = new URL(location.href);
    if (userId) { url.searchParams.set("user", userId); } else { url.searchParams.delete("user"); }
    history.replaceState(null, "", url);
    refresh();
  }

  function startPayload(text) {
    text = text.trim();
    if (!text) { return null; }
    if (/^https?:\/\//i.test(text)) {
      try { return new URL(text).searchParams.get("start"); } catch (e) { return null; }
    }
    return text;
  }

  select.addEventListener("change", function () { choose(select.value); });
  document.getElementById("new-user").addEventListener("submit", function (event) {
    event.preventDefault();
    const name = document.getElementById("new-name").value;
    const phone = document.getElementById("new-phone").value.trim();
    act(call("POST", "/users", {name: name, phone: phone || null}).then(function (user) {
      return loadUsers().then(function () { select.value = String(user.user_id); choose(String(user.user_id)); });
    }));
  });
  document.getElementById("start-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current) { errorBox.textContent = "Сначала выберите пользователя"; return; }
    act(call("POST", "/users/" + current + "/start",
      {payload: startPayload(document.getElementById("deep-link").value)}));
  });
  document.getElementById("stop").addEventListener("click", function () {
    if (current) { act(call("POST", "/users/" + current + "/stop")); }
  });
  document.getElementById("share").addEventListener("click", function () {
    if (current) { act(call("POST", "/users/" + current + "/share-contact")); }
  });
  document.getElementById("write-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const input = document.getElementById("write-text");
    if (!current || !input.value.trim()) { return; }
    act(call("POST", "/users/" + current + "/messages", {text: input.value}).then(function () { input.value = ""; }));
  });

  loadUsers().then(function () { choose(current); }).catch(function (e) { errorBox.textContent = e.message; });
  setInterval(refresh, 1500);
  setInterval(function () { loadUsers().catch(function () {}); }, 10000);
})();
