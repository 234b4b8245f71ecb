// Starts Swagger UI on /api/docs. A file, not an inline script: the page's CSP allows only
// scripts from the service itself. validatorUrl null: no badge fetched from swagger.io.
(function () {
  "use strict";
  window.addEventListener("DOMContentLoaded", function () {
    window.ui = window.SwaggerUIBundle({
      url: "/api/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  });
})();
