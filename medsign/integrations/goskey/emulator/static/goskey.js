  // Ask before refusing: a refusal cannot be undone.
  document.querySelectorAll("form.refuse").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm("Отказаться от подписания документов?")) { event.preventDefault(); }
    });
  });
