// labelloop: start Swagger UI on the API reference page (/api/v1/docs).
(function () {
  "use strict";
  const el = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: el.dataset.openapi, dom_id: "#swagger-ui", deepLinking: true });
})();
