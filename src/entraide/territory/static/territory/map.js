// The welfare map. The server does the work (need-to-know, clustering, small-count
// suppression); this draws what it sends with Leaflet and asks again when the view or a
// filter changes. Words and addresses come from the page (#map-config).
(function () {
  "use strict";

  const element = document.getElementById("welfare-map");
  const configNode = document.getElementById("map-config");
  if (!element || !configNode || !window.L) {
    return;
  }
  const config = JSON.parse(configNode.textContent);
  const text = config.text;
  const form = document.getElementById("map-filters");
  const status = document.getElementById("map-status");
  const panel = document.getElementById("map-panel");
  const servicesBox = document.getElementById("map-services");
  const servicesNote = document.getElementById("map-services-note");
  const narrow = window.matchMedia("(max-width: 900px)");
  const lang = document.documentElement.lang || undefined;
  const compact = new Intl.NumberFormat(lang, { notation: "compact" });
  const DEBOUNCE_MS = 250;
  const NAMES_ZOOM = 10;

  // On a phone the filters and the legend start folded so the map gets the screen.
  if (narrow.matches) {
    document.getElementById("map-filters-box").open = false;
  }

  function say(template, n) {
    return template.replace("%(n)s", Number(n).toLocaleString(lang));
  }

  function setStatus(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", Boolean(isError));
  }

  function node(tag, className, content) {
    const made = document.createElement(tag);
    if (className) {
      made.className = className;
    }
    if (content !== undefined) {
      made.textContent = content;
    }
    return made;
  }

  function swatch(level) {
    return node("span", `map-swatch map-level-${Number(level)}`, String(Number(level)));
  }

  function levelLabel(level) {
    return config.levels[String(level)].label;
  }

  // --- the map and its background ------------------------------------------------------

  const map = L.map(element, { minZoom: 3, maxZoom: 19 });
  if (config.tiles.url) {
    L.tileLayer(config.tiles.url, { attribution: config.tiles.attribution, maxZoom: 19 })
      .addTo(map);
  }
  if (config.extent) {
    const [west, south, east, north] = config.extent;
    map.fitBounds([[south, west], [north, east]], { padding: [16, 16], maxZoom: 15 });
  } else {
    map.setView([20, 0], 3);
  }

  const legend = document.getElementById("map-legend");
  if (legend) {
    const Legend = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd() {
        legend.hidden = false;
        legend.open = !narrow.matches;
        L.DomEvent.disableClickPropagation(legend);
        L.DomEvent.disableScrollPropagation(legend);
        return legend;
      },
    });
    new Legend().addTo(map);
  }

  // GeoJSON from one of the page's own routes; a refusal or an error rejects.
  function getGeoJson(url, signal) {
    return fetch(url, { signal: signal, credentials: "same-origin",
      headers: { Accept: "application/geo+json, application/json" } })
      .then((response) => {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      });
  }

  // Communes are drawn even when no tile server answers: with them the points still read.
  // Their names sit under their outline, not over the households inside it.
  const communeNames = L.layerGroup();
  const communes = L.geoJSON(null, {
    interactive: false,
    style: { color: "#4a5361", weight: 1.2, fillColor: "#ffffff", fillOpacity: 0.35 },
    onEachFeature(feature, layer) {
      const bounds = layer.getBounds();
      communeNames.addLayer(L.tooltip({
        permanent: true, direction: "bottom", className: "map-commune-name", interactive: false,
      }).setLatLng([bounds.getSouth(), bounds.getCenter().lng])
        .setContent(node("span", "", feature.properties.name)));
    },
  }).addTo(map);
  getGeoJson(config.urls.communes)
    .then((data) => {
      communes.addData(data);
      nameCommunes();
    })
    .catch(() => {});
  // Names only from the zoom where a territory's communes no longer crowd each other.
  function nameCommunes() {
    if (map.getZoom() >= NAMES_ZOOM) {
      communeNames.addTo(map);
    } else {
      map.removeLayer(communeNames);
    }
  }
  map.on("zoomend", nameCommunes);

  // --- households (or counts per commune), reloaded with the view ---------------------------

  let drawn = L.layerGroup().addTo(map);
  const markers = new Map();
  let selected = null;
  let controller = null;
  let timer = null;

  // The filters as query parameters, without the empty ones.
  function formParams() {
    const params = new URLSearchParams();
    new FormData(form).forEach((value, key) => {
      if (value !== "") {
        params.append(key, value);
      }
    });
    return params;
  }

  function filterParams() {
    const params = formParams();
    params.delete("services");
    return params;
  }

  function layerUrl() {
    const params = filterParams();
    const bounds = map.getBounds();
    const clamp = (value, limit) => Math.min(limit, Math.max(-limit, value));
    params.set("bbox", [clamp(bounds.getWest(), 180), clamp(bounds.getSouth(), 90),
      clamp(bounds.getEast(), 180), clamp(bounds.getNorth(), 90)]
      .map((value) => value.toFixed(5)).join(","));
    params.set("zoom", String(map.getZoom()));
    return `${config.urls.layer}?${params}`;
  }

  function load() {
    if (controller) {
      controller.abort();
    }
    const mine = new AbortController();
    controller = mine;
    element.dataset.state = "loading";
    element.setAttribute("aria-busy", "true");
    getGeoJson(layerUrl(), mine.signal)
      .then((data) => {
        if (config.points) {
          drawHouseholds(data);
        } else {
          drawCells(data);
        }
        element.dataset.state = "ready";
      })
      .catch((error) => {
        if (error.name !== "AbortError") {
          element.dataset.state = "error";
          setStatus(text.failed, true);
        }
      })
      .finally(() => {
        if (controller === mine) {
          controller = null;
          element.removeAttribute("aria-busy");
        }
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(load, DEBOUNCE_MS);
  }

  function replaceDrawn(group) {
    map.removeLayer(drawn);
    drawn = group.addTo(map);
  }

  function householdTip(p) {
    const box = node("div", "map-tip");
    const head = node("p", "map-tip-head");
    head.append(swatch(p.level), ` ${levelLabel(p.level)}`);
    const reasons = node("ul", "map-tip-reasons");
    p.reasons.forEach((reason) => reasons.append(node("li", "", reason)));
    box.append(head, reasons);
    return box;
  }

  function householdIcon(p) {
    const classes = [`map-hh map-level-${Number(p.level)}`];
    if (p.alert) {
      classes.push("has-alert");
    }
    if (p.id === selected) {
      classes.push("selected");
    }
    return L.divIcon({ className: classes.join(" "), html: String(Number(p.level)),
      iconSize: [24, 24] });
  }

  // A group is a box (one household is a disc): its number says how many households, the
  // bar under it their mix of levels, most serious first.
  function mix(levels, total) {
    let start = 0;
    const stops = [];
    [4, 3, 2, 1].forEach((level) => {
      const n = levels[String(level)] || 0;
      if (n > 0 && total > 0) {
        const end = start + (100 * n) / total;
        const colour = config.levels[String(level)].colour;
        stops.push(`${colour} ${start.toFixed(1)}% ${end.toFixed(1)}%`);
        start = end;
      }
    });
    return stops.length ? `linear-gradient(90deg, ${stops.join(", ")})` : "#6b7686";
  }

  function groupIcon(className, count, levels, shown) {
    const digits = compact.format(count);
    const html = `<span class="map-count">${digits}</span>`
      + `<span class="map-mix" style="background:${mix(levels, shown)}"></span>`;
    return L.divIcon({ className, html, iconSize: [Math.max(30, 14 + 8 * digits.length), 30] });
  }

  function levelList(levels) {
    const list = node("ul", "map-tip-levels");
    [4, 3, 2, 1].forEach((level) => {
      const n = levels[String(level)];
      const item = node("li");
      const count = n === null ? say(text.suppressed, config.small_count)
        : Number(n).toLocaleString(lang);
      item.append(swatch(level), ` ${levelLabel(level)}: `, node("strong", "", count));
      list.append(item);
    });
    return list;
  }

  function clusterTip(p) {
    const box = node("div", "map-tip");
    box.append(node("p", "map-tip-head", say(text.cluster, p.count)), levelList(p.levels));
    return box;
  }

  // Markers are buttons for the keyboard: each one says in words what its colour means.
  function labelMarkers(labels) {
    labels.forEach(([marker, label]) => {
      const icon = marker.getElement();
      if (icon) {
        icon.setAttribute("aria-label", label);
      }
    });
  }

  // Households closer than this on screen are drawn as one group that a click opens up,
  // so that a street of markers stays readable; from STREET_ZOOM on each is drawn alone.
  const GROUP_PX = 32;
  const STREET_ZOOM = 17;

  // Greedy: a household joins the first group anchored less than GROUP_PX away (looked up
  // in a grid of that size), else anchors a new one; anchors never overlap each other.
  // The household shown in the panel always stays on its own.
  function closeTogether(features) {
    const zoom = map.getZoom();
    if (zoom >= STREET_ZOOM) {
      return features.map((feature) => ({ anchor: null, members: [feature] }));
    }
    const groups = [];
    const grid = new Map();
    features.forEach((feature) => {
      if (feature.properties.id === selected) {
        groups.push({ anchor: null, members: [feature] });
        return;
      }
      const [lon, lat] = feature.geometry.coordinates;
      const at = map.project([lat, lon], zoom);
      const cx = Math.floor(at.x / GROUP_PX);
      const cy = Math.floor(at.y / GROUP_PX);
      let found = null;
      for (let dx = -1; dx <= 1 && !found; dx += 1) {
        for (let dy = -1; dy <= 1 && !found; dy += 1) {
          found = (grid.get(`${cx + dx}:${cy + dy}`) || []).find((group) =>
            Math.abs(group.at.x - at.x) < GROUP_PX && Math.abs(group.at.y - at.y) < GROUP_PX);
        }
      }
      if (found) {
        found.members.push(feature);
        return;
      }
      const group = { at, anchor: L.latLng(lat, lon), members: [feature] };
      groups.push(group);
      const key = `${cx}:${cy}`;
      grid.set(key, (grid.get(key) || []).concat([group]));
    });
    return groups;
  }

  function groupLabel(p) {
    const parts = [4, 3, 2, 1].filter((level) => p.levels[String(level)])
      .map((level) => `${level} ${levelLabel(level)}: ${p.levels[String(level)]}`);
    return `${say(text.cluster, p.count)} (${parts.join(", ")})`;
  }

  function addGroup(group, labels, p, latlng, zoomIn) {
    const marker = L.marker(latlng, {
      icon: groupIcon(`map-cluster map-level-${Number(p.level)}`, p.count, p.levels, p.count),
      riseOnHover: true,
    });
    marker.bindTooltip(() => clusterTip(p), { direction: "top", offset: [0, -14] });
    marker.on("click", zoomIn);
    labels.push([marker, groupLabel(p)]);
    group.addLayer(marker);
  }

  function addHousehold(group, labels, feature) {
    const p = feature.properties;
    const [lon, lat] = feature.geometry.coordinates;
    const marker = L.marker([lat, lon], { icon: householdIcon(p), riseOnHover: true });
    marker.bindTooltip(() => householdTip(p), { direction: "top", offset: [0, -12] });
    marker.on("click", () => openHousehold(p));
    markers.set(p.id, { marker, p });
    labels.push([marker, `${p.level} ${levelLabel(p.level)}: ${p.reasons.join("; ")}`]);
    group.addLayer(marker);
  }

  function drawHouseholds(data) {
    const group = L.layerGroup();
    const labels = [];
    let grouped = false;
    markers.clear();
    if (data.properties.clustered) {
      data.features.forEach((feature) => {
        const [lon, lat] = feature.geometry.coordinates;
        addGroup(group, labels, feature.properties, [lat, lon],
          () => map.setView([lat, lon], Math.min(map.getZoom() + 2, STREET_ZOOM)));
      });
    } else {
      closeTogether(data.features).forEach(({ anchor, members }) => {
        if (members.length === 1) {
          addHousehold(group, labels, members[0]);
          return;
        }
        grouped = true;
        const levels = { 1: 0, 2: 0, 3: 0, 4: 0 };
        const places = members.map((feature) => {
          levels[feature.properties.level] += 1;
          const [lon, lat] = feature.geometry.coordinates;
          return L.latLng(lat, lon);
        });
        const bounds = L.latLngBounds(places);
        const p = { count: members.length, levels,
          level: Math.max(...members.map((feature) => feature.properties.level)) };
        addGroup(group, labels, p, anchor,
          () => map.fitBounds(bounds.pad(0.3), { maxZoom: STREET_ZOOM }));
      });
    }
    replaceDrawn(group);
    labelMarkers(labels);
    const total = data.properties.total;
    element.dataset.total = String(total);
    if (!total) {
      setStatus(text.none);
    } else if (data.properties.clustered) {
      setStatus(say(text.clustered, total));
    } else {
      setStatus(say(text.points, total) + (grouped ? ` ${text.grouped}` : ""));
    }
  }

  function openHousehold(p) {
    [selected, p.id].forEach((id) => {
      const icon = markers.has(id) && markers.get(id).marker.getElement();
      if (icon) {
        icon.classList.toggle("selected", id === p.id);
      }
    });
    selected = p.id;
    htmx.ajax("GET", config.urls.household.replace("/0/", `/${Number(p.id)}/`),
      { target: panel, swap: "innerHTML" });
  }

  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target === panel && narrow.matches) {
      panel.scrollIntoView({ block: "start" });  // on a phone the panel is below the map
    }
  });
  document.body.addEventListener("htmx:responseError", (event) => {
    if (event.detail.target === panel) {
      const refused = event.detail.xhr.status === 403;
      panel.replaceChildren(node("p", "msg error", refused ? text.summary_refused
        : text.summary_failed));
    }
  });

  // --- managers: households per commune, small counts hidden ------------------------------

  function showCell(p) {
    const title = node("h2", "", p.name);
    const total = node("p", "", say(text.households, p.count));
    panel.replaceChildren(title, total, levelList(p.levels));
    if (narrow.matches) {
      panel.scrollIntoView({ block: "start" });
    }
  }

  function cellTip(p) {
    const box = node("div", "map-tip");
    box.append(node("p", "map-tip-head", `${p.name} · ${say(text.households, p.count)}`),
      levelList(p.levels));
    return box;
  }

  function drawCells(data) {
    const group = L.layerGroup();
    const labels = [];
    data.features.forEach((feature) => {
      const p = feature.properties;
      const shown = Object.values(p.levels).reduce((sum, n) => sum + (n || 0), 0);
      if (feature.geometry.type !== "Point") {
        const area = L.geoJSON(feature, {
          style: { color: "#12355b", weight: 2, fillColor: "#12355b", fillOpacity: 0.08 },
        });
        area.on("click", () => showCell(p));
        group.addLayer(area);
      }
      const [lon, lat] = p.centre;
      const label = L.marker([lat, lon], {
        icon: groupIcon("map-cluster map-cell", p.count, p.levels, shown), riseOnHover: true,
      });
      label.bindTooltip(() => cellTip(p), { direction: "top", offset: [0, -14] });
      label.on("click", () => showCell(p));
      labels.push([label, `${p.name}: ${say(text.households, p.count)}`]);
      group.addLayer(label);
    });
    replaceDrawn(group);
    labelMarkers(labels);
    element.dataset.total = String(data.features.length);
    const parts = [say(text.cells, data.features.length)];
    if (data.properties.hidden_cells) {
      parts.push(say(text.hidden, data.properties.small_count));
    }
    setStatus(parts.join(" "));
  }

  // --- the service directory, on request ---------------------------------------------------

  // Services have their own pane, above the households, so that none hides under them.
  map.createPane("services").style.zIndex = 620;
  const services = L.layerGroup();
  let servicesLoaded = false;

  function servicePopup(p) {
    const box = node("div", "map-tip");
    box.append(node("p", "map-tip-head", p.name));
    const facts = [p.category_label || p.category, p.commune].filter(Boolean);
    box.append(node("p", "", facts.join(" · ")));
    if (p.opening_hours) {
      box.append(node("p", "", `${text.hours}: ${p.opening_hours}`));
    }
    if (p.phone) {
      const line = node("p", "", `${text.phone}: `);
      const call = node("a", "", p.phone);
      call.href = `tel:${p.phone.replace(/[^+\d]/g, "")}`;
      line.append(call);
      box.append(line);
    }
    if (p.url && /^(https?:\/\/|\/(?!\/))/.test(p.url)) {
      const link = node("a", "", text.service_page);
      link.href = p.url;
      box.append(link);
    }
    return box;
  }

  function loadServices() {
    getGeoJson(config.urls.services)
      .then((data) => {
        servicesLoaded = true;
        const features = (data && data.features) || [];
        features.forEach((feature) => {
          const [lon, lat] = feature.geometry.coordinates;
          const marker = L.marker([lat, lon], {
            icon: L.divIcon({ className: "map-service", html: "<span></span>",
              iconSize: [20, 20] }),
            pane: "services",
            title: feature.properties.name,
          });
          marker.bindPopup(() => servicePopup(feature.properties));
          services.addLayer(marker);
        });
        servicesNote.textContent = features.length ? "" : text.services_none;
      })
      .catch(() => {
        servicesBox.checked = false;
        map.removeLayer(services);
        servicesNote.textContent = text.services_failed;
        remember();
      });
  }

  function showServices(on) {
    if (!on) {
      map.removeLayer(services);
      return;
    }
    services.addTo(map);
    if (!servicesLoaded) {
      loadServices();
    }
  }

  // --- filters --------------------------------------------------------------------------

  // The address keeps the filters, so that a reload or a shared link shows the same map.
  function remember() {
    const query = formParams().toString();
    window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
  }

  form.addEventListener("change", (event) => {
    if (event.target === servicesBox) {
      showServices(servicesBox.checked);
    } else {
      schedule();
    }
    remember();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });

  map.on("moveend", schedule);
  showServices(servicesBox.checked);
  load();
}());
