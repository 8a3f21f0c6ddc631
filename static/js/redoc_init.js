// Starts Redoc on the API reference page (templates/api/redoc.html) without an inline script.
// Its run-time styles carry the page's nonce (config/api_docs.py), which the page's policy
// allows. Search runs in a Web Worker built from a blob: URL, which our CSP refuses: it is
// turned off (the browser's find-in-page works on the rendered reference).
(function () {
  "use strict";
  var container = document.getElementById("redoc-container");
  if (!container || !window.Redoc) { return; }

  // The side menu's "API docs by Redocly" link shows a logo from cdn.redoc.ly: a request to a
  // third party that our img-src refuses (and that fails offline). It gets an empty image.
  var EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";
  function local(value) {
    return String(value).indexOf("https://cdn.redoc.ly/") === 0 ? EMPTY_IMAGE : value;
  }
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    return setAttribute.call(this, name, this instanceof HTMLImageElement && name === "src" ? local(value) : value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) { src.set.call(this, local(value)); }
  });

  window.Redoc.init(
    container.getAttribute("data-schema-url"),
    { disableSearch: true, nonce: container.getAttribute("data-style-nonce") },
    container
  );
})();
