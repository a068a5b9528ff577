// The day plan's map: the route from the office through each numbered visit and back,
// drawn on tiles when some are configured and on a plain background otherwise.
(function () {
  "use strict";

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  var element = document.getElementById("plan-map");
  var source = document.getElementById("plan-data");
  if (!element || !source || !window.L) return;
  var data = JSON.parse(source.textContent);

  var map = L.map(element, { scrollWheelZoom: false, zoomSnap: 0.25,
                             attributionControl: !!data.tiles });
  if (data.tiles) {
    L.tileLayer(data.tiles, { attribution: data.attribution, maxZoom: 19 }).addTo(map);
  }

  // Built as elements, never as HTML strings: addresses are data, not markup.
  function badge(text, className) {
    var span = document.createElement("span");
    span.textContent = text;
    return L.divIcon({ className: className, html: span, iconSize: [28, 28], iconAnchor: [14, 14] });
  }
  function label(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  var office = [data.office.lat, data.office.lon];
  var stops = data.stops.filter(function (s) { return s.lat !== null && s.lon !== null; });
  var line = [office].concat(stops.map(function (s) { return [s.lat, s.lon]; }), [office]);
  L.polyline(line, { color: "#12355b", weight: 6, opacity: 0.25 }).addTo(map);
  L.polyline(line, { color: "#0b5cad", weight: 3, dashArray: "6 6" }).addTo(map);

  L.marker(office, { icon: badge("⌂", "route-marker office"), keyboard: false })
    .bindTooltip(label(data.office.label)).addTo(map);
  stops.forEach(function (s) {
    L.marker([s.lat, s.lon], { icon: badge(String(s.n), "route-marker" + (s.done ? " done" : "")),
                               keyboard: false, zIndexOffset: 100 })
      .bindTooltip(label(s.n + ". " + s.label)).addTo(map);
  });
  // Without tiles, the scale is what tells a short hop from a long drive.
  L.control.scale({ imperial: false }).addTo(map);

  function fit() {
    map.invalidateSize();
    map.fitBounds(L.latLngBounds(line), { padding: [24, 24], maxZoom: 16 });
  }
  fit();
  // The printed page is wider than the screen's column: fit the route to it, and back.
  window.addEventListener("beforeprint", fit);
  window.addEventListener("afterprint", fit);
})();
