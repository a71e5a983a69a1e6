// The log explorer's enhancements. The pages work without it (search, paging, links, zoom
// links per bar); this adds: no empty URL parameters, local times, click-to-expand rows,
// drag-to-zoom and visible bar names on the histogram, live tail, copy-link buttons.
"use strict";


function stripEmptyFields(form) {
  // Disabled fields are not submitted: the URL carries only what the user filled in.
  form.addEventListener("submit", () => {
    for (const field of form.elements) {
      // A select at its first choice is at its default (newest first, any minimum level).
      const atDefault = field.value === "" || (field.tagName === "SELECT" && field.selectedIndex === 0);
      if (field.name && !field.disabled && field.type !== "checkbox" && atDefault) {
        field.disabled = true;
      }
    }
  });
  // Back/forward cache: give the fields back.
  window.addEventListener("pageshow", () => {
    for (const field of form.elements) field.disabled = false;
  });
  // Day and From/To exclude each other: typing one clears the other.
  const day = form.elements.namedItem("date");
  const ends = ["from", "to"].map((name) => form.elements.namedItem(name)).filter(Boolean);
  if (day) {
    day.addEventListener("input", () => { if (day.value) for (const end of ends) end.value = ""; });
    for (const end of ends) end.addEventListener("input", () => { if (end.value) day.value = ""; });
  }
}

function pad(number, width = 2) {
  return String(number).padStart(width, "0");
}

function localText(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function showTimes(local, root = document) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    if (!time.dataset.utc) time.dataset.utc = time.textContent;
    time.textContent = local ? localText(new Date(time.getAttribute("datetime"))) : time.dataset.utc;
  }
  const zone = local ? Intl.DateTimeFormat().resolvedOptions().timeZone || "local" : "UTC";
  for (const label of document.querySelectorAll(".tz-name")) {
    label.textContent = label.textContent.startsWith("(") ? `(${zone})` : zone;
  }
}

function localTimeChosen() {
  return document.body.dataset.localTime === "1";
}

function csrfToken() {
  const cookie = document.cookie.split("; ").find((item) => item.startsWith("csrftoken="));
  return cookie ? cookie.slice("csrftoken=".length) : "";
}

function timeZoneSwitch() {
  const box = document.getElementById("local-time");
  if (!box) {
    showTimes(localTimeChosen());
    return;
  }
  document.getElementById("tz-switch").hidden = false;
  box.checked = localTimeChosen();
  showTimes(box.checked);
  box.addEventListener("change", () => {
    // Kept with the account (any browser the user logs in from), not in this browser.
    document.body.dataset.localTime = box.checked ? "1" : "0";
    fetch(document.body.dataset.timePreferenceUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
      body: new URLSearchParams({ local_time: document.body.dataset.localTime }),
    });
    showTimes(box.checked);
  });
}

function expandableRows(table) {
  table.addEventListener("click", (event) => {
    if (event.target.closest("a, button, input, summary, details[open] dl, pre")) return;
    const row = event.target.closest("tr[data-expandable]");
    const details = row && row.querySelector("details");
    if (details) details.open = !details.open;
  });
}

function histogram(figure) {
  const svg = figure.querySelector("svg");
  const bars = [...svg.querySelectorAll("a[data-start]")];
  const tip = document.getElementById("bar-tip");
  for (const bar of bars) {
    const name = () => { tip.textContent = bar.getAttribute("aria-label"); };
    bar.addEventListener("focus", name);
    bar.addEventListener("mouseenter", name);
  }
  const barAt = (x) => bars.find((bar) => {
    const box = bar.querySelector("rect.hit").getBoundingClientRect();
    return x >= box.left && x <= box.right;
  });
  let from = null;
  let to = null;
  let dragged = false;
  const selection = document.createElementNS("http://www.w3.org/2000/svg", "rect");
  selection.setAttribute("class", "selection");
  selection.setAttribute("y", "0");
  selection.setAttribute("height", svg.viewBox.baseVal.height);
  const draw = () => {
    const [first, last] = [bars.indexOf(from), bars.indexOf(to)].sort((a, b) => a - b);
    const left = bars[first].querySelector("rect.hit");
    const right = bars[last].querySelector("rect.hit");
    const x = Number(left.getAttribute("x"));
    selection.setAttribute("x", x);
    selection.setAttribute("width", Number(right.getAttribute("x")) + Number(right.getAttribute("width")) - x);
    if (!selection.isConnected) svg.appendChild(selection);
  };
  svg.addEventListener("pointerdown", (event) => {
    from = barAt(event.clientX) || null;
    to = from;
    dragged = false;
  });
  svg.addEventListener("pointermove", (event) => {
    if (!from) return;
    const over = barAt(event.clientX);
    if (over && over !== to) {
      to = over;
      dragged = true;
      draw();
    }
  });
  svg.addEventListener("pointerup", () => {
    if (!from) return;
    if (dragged && to !== from) {
      const [first, last] = [bars.indexOf(from), bars.indexOf(to)].sort((a, b) => a - b);
      const url = new URL(bars[first].getAttribute("href"), window.location.href);
      url.searchParams.set("to", bars[last].dataset.end);
      window.location.assign(url);
    }
    from = null;
  });
  // A drag ends with a click on its last bar: the drag's range wins.
  svg.addEventListener("click", (event) => {
    if (dragged) {
      event.preventDefault();
      dragged = false;
    }
  });
}

function cell(className, ...children) {
  const td = document.createElement("td");
  td.className = className;
  td.append(...children);
  return td;
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function tailRow(log) {
  // The same cells as the server's rows (templates/retrieval/_rows.html), built as text: never as HTML.
  const row = element("tr", { id: `log-${log.id}`, "data-id": log.id, "data-expandable": "", class: "tailed" });
  const time = element("time", { datetime: log.timestamp }, log.timestamp.replace("T", " ").replace("Z", ""));
  const details = element("details", { class: "fields" });
  details.append(element("summary", {}, "All fields"));
  const fields = element("dl", {});
  const context = log.context ? element("pre", { class: "context" }, JSON.stringify(log.context, null, 2)) : "none";
  const links = element("dd", {});
  links.append(element("a", { href: `/logs/${log.id}` }, "This log"), " · ",
    element("a", { href: `/logs/${log.id}/around#log-${log.id}` }, "Logs around this one"));
  for (const [name, value] of [["id", log.id], ["logger", log.logger || "none"], ["context", context],
    ["source", log.source]]) {
    const dd = element("dd", {});
    dd.append(value);
    fields.append(element("dt", {}, name), dd);
  }
  fields.append(element("dt", {}, "links"), links);
  details.append(fields);
  const message = cell("message", log.message, details);
  row.append(cell("time", time), cell("level", element("span", { class: `badge ${log.level}` }, log.level)),
    cell("user", String(log.user_id)), message);
  return row;
}

function liveTail(box) {
  const switchLabel = document.getElementById("tail-switch");
  const status = document.getElementById("tail-status");
  const tbody = document.querySelector("#results tbody");
  switchLabel.hidden = false;
  let after = box.dataset.after || "";
  let timer = null;
  let inFlight = false;
  let delay = 2000;
  // Scrolled past the newest rows: new ones would land out of sight and move what is being read.
  const scrolledAway = () => tbody.getBoundingClientRect().top < 0;
  const schedule = (ms) => {
    clearTimeout(timer);
    timer = box.checked && !document.hidden ? setTimeout(poll, ms) : null;
  };
  async function poll() {
    if (inFlight) return;
    if (scrolledAway()) {
      status.textContent = "Paused while you read further down; back at the newest rows it resumes.";
      schedule(1000);
      return;
    }
    inFlight = true;
    try {
      const url = new URL(box.dataset.url, window.location.href);
      if (after) url.searchParams.set("after", after);
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 429 || response.status === 503) {
        const wait = Number(response.headers.get("Retry-After"));
        delay = Number.isFinite(wait) && wait > 0 ? wait * 1000 : Math.min(delay * 2, 60000);
        status.textContent = `Server busy: trying again in ${Math.round(delay / 1000)} s.`;
        schedule(delay);
        return;
      }
      if (!response.ok) {
        status.textContent = `Live tail stopped: the server answered ${response.status}.`;
        box.checked = false;
        return;
      }
      const body = await response.json();
      // Oldest first: each prepended above the one before, the newest ends on top. The first
      // poll (no cursor) also sends the newest rows already on the page: those are skipped.
      const rows = (body.results || []).filter((log) => !document.getElementById(`log-${log.id}`));
      for (const log of rows) {
        const row = tailRow(log);
        tbody.prepend(row);
        showTimes(localTimeChosen(), row);
      }
      after = body.cursor || after;
      delay = 1000 * (body.poll_seconds || 2);
      status.textContent = `Live: ${rows.length ? `${rows.length} new` : "no new logs"} at ${new Date().toLocaleTimeString()}.`;
      schedule(delay);
    } catch (error) {
      delay = Math.min(delay * 2, 60000);
      status.textContent = `Live tail: no answer (${error.message}); trying again in ${Math.round(delay / 1000)} s.`;
      schedule(delay);
    } finally {
      inFlight = false;
    }
  }
  box.addEventListener("change", () => {
    status.textContent = box.checked ? "Live: waiting for new logs." : "";
    schedule(0);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      if (box.checked) status.textContent = "Stopped while the tab is hidden.";
    } else {
      schedule(0);
    }
  });
  window.addEventListener("scroll", () => {
    if (box.checked && !scrolledAway() && status.textContent.startsWith("Paused")) schedule(0);
  }, { passive: true });
}

function copyLinks() {
  for (const button of document.querySelectorAll("button.copy-link")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const link = new URL(button.dataset.link, window.location.href).href;
      try {
        await navigator.clipboard.writeText(link);
        button.textContent = "Link copied";
      } catch {
        window.prompt("Copy this link:", link);
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-strip-empty]")) stripEmptyFields(form);
  timeZoneSwitch();
  for (const table of document.querySelectorAll("table.logs")) expandableRows(table);
  const figure = document.getElementById("histogram");
  if (figure) histogram(figure);
  const tail = document.getElementById("live-tail");
  if (tail) liveTail(tail);
  copyLinks();
  document.documentElement.dataset.js = "ready";
});
