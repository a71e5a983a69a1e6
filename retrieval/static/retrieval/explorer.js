// The log explorer's enhancements. The pages work without it (search, paging, links, zoom
// links per bar, the histogram in a frame); this adds: no empty URL parameters, local times
// (shown, and typed into the form), a form folded away on phones, click-to-expand rows, the
// histogram loaded after the rows with drag-to-zoom and visible bar names, live tail,
// copy-link buttons.
"use strict";


function stripEmptyFields(form) {
  // Disabled fields are not submitted: the URL carries only what the user filled in.
  form.addEventListener("submit", () => {
    if (localTimeChosen()) typedTimesToLocal(form);
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

function localDay(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function localMinute(date) {
  return `${localDay(date)} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function localText(date) {
  return `${localMinute(date)}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function localIso(date) {
  // The same moment as local time with its offset (2023-08-28T01:26:07+05:30): the server reads the offset.
  const minutes = -date.getTimezoneOffset();
  const offset = `${minutes < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
  const millis = date.getMilliseconds() ? `.${pad(date.getMilliseconds(), 3)}` : "";
  return `${localDay(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${millis}${offset}`;
}

function utcIso(date) {
  return date.toISOString().replace(".000Z", "Z");
}

function zoneName(local) {
  return local ? Intl.DateTimeFormat().resolvedOptions().timeZone || "local" : "UTC";
}

// An absolute time as From/To take it: a day, a time, fractions of a second, an optional zone.
const ABSOLUTE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

function typedMoment(text, local) {
  // The moment an absolute From/To names; without a zone it is UTC, or local time while local time is shown.
  const match = ABSOLUTE.exec(text.trim());
  if (!match) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", fraction = "0", zone] = match;
  const millis = Math.floor(Number(`0.${fraction}`) * 1000);
  if (zone) {
    const offset = zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
    return new Date(Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${pad(s)}.${pad(millis, 3)}${offset}`));
  }
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), millis];
  return local ? new Date(...parts) : new Date(Date.UTC(...parts));
}

function typedTimesToLocal(form) {
  // The form's times are local while local time is shown: From/To carry their offset, and a Day
  // becomes the From/To of that local day (its midnights), since the server's Day is a UTC day.
  const day = form.elements.namedItem("date");
  const [from, to] = ["from", "to"].map((name) => form.elements.namedItem(name));
  if (day && day.value && from && to && ABSOLUTE.test(day.value) && day.value.length === 10) {
    const start = typedMoment(day.value, true);
    from.value = localIso(start);
    to.value = localIso(new Date(start.getFullYear(), start.getMonth(), start.getDate() + 1));
    day.value = "";
  }
  for (const end of [from, to]) {
    const moment = end && typedMoment(end.value, true);
    if (moment) end.value = localIso(moment);
  }
}

function showTimes(local, root = document) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    if (!time.dataset.utc) time.dataset.utc = time.textContent;
    time.textContent = local ? localText(new Date(time.getAttribute("datetime"))) : time.dataset.utc;
  }
  const zone = zoneName(local);
  for (const label of document.querySelectorAll(".tz-name")) {
    label.textContent = label.textContent.startsWith("(") ? `(${zone})` : zone;
  }
  // The bars' names (and so their tips): their range in the zone shown.
  for (const bar of root.querySelectorAll("a[data-start][data-counts]")) {
    if (!bar.dataset.utcLabel) bar.dataset.utcLabel = bar.getAttribute("aria-label");
    const [start, end] = [new Date(bar.dataset.start), new Date(bar.dataset.end)];
    const range = `${localMinute(start)} to ${pad(end.getHours())}:${pad(end.getMinutes())} ${zone}`;
    bar.setAttribute("aria-label", local ? `${range}: ${bar.dataset.counts}` : bar.dataset.utcLabel);
  }
}

function showFormTimes(form, local) {
  // From/To as the zone shown: the same moment (a bar's From too), written with its offset.
  for (const name of ["from", "to"]) {
    const field = form && form.elements.namedItem(name);
    const moment = field && typedMoment(field.value, !local);
    if (moment) field.value = local ? localIso(moment) : utcIso(moment);
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
  const form = document.querySelector("form.search");
  if (!box) {
    showTimes(localTimeChosen());
    return;
  }
  document.getElementById("tz-switch").hidden = false;
  box.checked = localTimeChosen();
  showTimes(box.checked);
  if (box.checked) showFormTimes(form, true);
  box.addEventListener("change", () => {
    // Kept with the account (any browser the user logs in from), not in this browser.
    document.body.dataset.localTime = box.checked ? "1" : "0";
    fetch(document.body.dataset.timePreferenceUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
      body: new URLSearchParams({ local_time: document.body.dataset.localTime }),
    });
    showTimes(box.checked);
    showFormTimes(form, box.checked);
  });
}

function foldedOnPhones(details) {
  // Results first on a phone: the form folds away (its summary opens it), unless it has errors to show.
  if (window.matchMedia("(max-width: 600px)").matches && !("errors" in details.dataset)) details.open = false;
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

async function loadHistogram(slot) {
  // After the rows: the page shows them first, then the chart, its total and "of 2,345".
  try {
    const response = await fetch(slot.dataset.src, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const figure = document.adoptNode(doc.querySelector("figure.histogram"));
    slot.replaceChildren(figure);
    showTimes(localTimeChosen(), figure);
    histogram(figure);
    const position = document.getElementById("position");
    // A partial histogram's total is a lower bound: no "of N" then.
    if (position && !figure.querySelector("#histogram-partial")) {
      const total = Math.max(Number(figure.dataset.total), Number(position.dataset.last));
      position.textContent += ` of ${total.toLocaleString("en-US")}`;
    }
  } catch (error) {
    slot.textContent = `The histogram could not be loaded (${error.message}); reload the page to try again.`;
  } finally {
    slot.removeAttribute("aria-busy");
    // A zoom's link leads to the chart: it stays in view once it has its height.
    if (window.location.hash === "#histogram") slot.scrollIntoView();
  }
}

const AWAY = "while you read further down; back at the newest rows it goes on.";

function liveTail(box) {
  document.getElementById("tail-switch").hidden = false;
  if (box.disabled) return;  // the range does not run to now: the switch says why
  const bar = document.getElementById("tail-bar");
  const state = document.getElementById("tail-state");
  const counter = document.getElementById("tail-new");
  const status = document.getElementById("tail-status");
  const pause = document.getElementById("tail-pause");
  const tbody = document.querySelector("#results tbody");
  let after = box.dataset.after;
  let timer = null;
  let inFlight = false;
  let paused = false;
  let added = 0;
  let delay = 2000;
  // Scrolled past the newest rows: new ones would land out of sight and move what is being read.
  const scrolledAway = () => tbody.getBoundingClientRect().top < 0;
  const show = (live, text) => {
    state.textContent = live ? "Live" : "Paused";
    counter.textContent = `${added.toLocaleString("en-US")} new`;
    pause.textContent = paused ? "Resume" : "Pause";
    status.textContent = text;
  };
  const schedule = (ms) => {
    clearTimeout(timer);
    timer = box.checked && !paused && !document.hidden ? setTimeout(poll, ms) : null;
  };
  const take = (fragment) => {
    // Newest first, as on the page; ids already shown (the page's own newest rows) are skipped.
    const rows = [...fragment.rows].filter((row) => !document.getElementById(row.id));
    tbody.prepend(...rows.map((row) => document.adoptNode(row)));
    for (const row of rows) showTimes(localTimeChosen(), row);
    // Bounded: the oldest rows go as new ones come.
    while (tbody.rows.length > Number(box.dataset.maxRows)) tbody.lastElementChild.remove();
    if (rows.length) document.getElementById("empty")?.remove();
    added += rows.length;
  };
  async function poll() {
    timer = null;
    if (inFlight) return;
    if (scrolledAway()) {
      show(false, AWAY);
      return;  // the scroll listener polls again
    }
    inFlight = true;
    try {
      const url = new URL(box.dataset.url, window.location.href);
      url.searchParams.set("after", after);
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.status === 429 || response.status === 503) {
        const wait = Number(response.headers.get("Retry-After"));
        delay = Number.isFinite(wait) && wait > 0 ? wait * 1000 : Math.min(delay * 2, 60000);
        show(true, `Server busy: trying again in ${Math.round(delay / 1000)} s.`);
        schedule(delay);
        return;
      }
      if (!response.ok) {
        box.checked = false;
        show(false, `Live tail stopped: the server answered ${response.status}.`);
        return;
      }
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fragment = doc.querySelector("tbody");
      take(fragment);
      after = fragment.dataset.cursor;
      delay = 1000 * Number(fragment.dataset.pollSeconds);
      const full = fragment.dataset.full === "1";
      const partial = fragment.dataset.partial === "1" ? " MongoDB did not answer: asking again." : "";
      show(true, `${full ? "Catching up" : `Updated ${new Date().toLocaleTimeString()}`}.${partial}`);
      // A full page: more are waiting, ask at once rather than fall behind.
      schedule(full ? 0 : delay);
    } catch (error) {
      delay = Math.min(delay * 2, 60000);
      show(true, `No answer (${error.message}); trying again in ${Math.round(delay / 1000)} s.`);
      schedule(delay);
    } finally {
      inFlight = false;
    }
  }
  box.addEventListener("change", () => {
    bar.hidden = !box.checked;
    paused = false;
    show(box.checked, box.checked ? "Waiting for new logs." : "");
    schedule(0);
  });
  pause.addEventListener("click", () => {
    paused = !paused;
    show(!paused, paused ? "Resume to go on from where it stopped." : "Going on.");
    schedule(0);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      if (box.checked) show(false, "while the tab is hidden.");
    } else {
      schedule(0);
    }
  });
  window.addEventListener("scroll", () => {
    if (!box.checked || paused) return;
    if (scrolledAway()) {
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
        show(false, AWAY);
      }
    } else if (!inFlight && timer === null) {
      schedule(0);
    }
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
  const searchForm = document.getElementById("search-form");
  if (searchForm) foldedOnPhones(searchForm);
  timeZoneSwitch();
  for (const table of document.querySelectorAll("table.logs")) expandableRows(table);
  const slot = document.getElementById("histogram");
  if (slot && slot.dataset.src) loadHistogram(slot);
  const tail = document.getElementById("live-tail");
  if (tail) liveTail(tail);
  copyLinks();
  document.documentElement.dataset.js = "ready";
});
