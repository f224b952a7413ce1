// Swagger UI on our OpenAPI document; a file of ours so that no inline script is needed.
"use strict";

window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.dataset.openapiUrl,
    domNode: container,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
