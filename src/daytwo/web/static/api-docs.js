// Swagger UI from the vendored bundle; no inline script, no CDN.
// Collapsed tags, no schema section and no syntax highlighting: the reference is usable as
// soon as the document is read; an operation renders when it is opened.
(function () {
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    docExpansion: "none",
    defaultModelsExpandDepth: -1,
    syntaxHighlight: false,
    persistAuthorization: true,
    displayRequestDuration: true,
    tryItOutEnabled: false,
  });
})();
