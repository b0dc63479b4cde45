/* The site's own pages between builds. Each talk carries the instants the
 * page was built with (data-start, data-end); as the visitor's clock passes
 * them, talks move from "next" to "live" to "past", the following talk up
 * into the cue, and at the end the between-seasons block shows. It also
 * spells the visitor's zone as the page's zone list does (JST, not GMT+9),
 * and on Android leads the Google button to the address. Without it the
 * page is right as built. No globals; talk text moves only as text or
 * cloned nodes, never as markup. */
(function () {
  "use strict";

  var ENGLISH = "en-US";
  var STATES = ["is-upcoming", "is-live", "is-past"];

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function instant(node, name) {
    var value = Date.parse(node.getAttribute(name) || "");
    return isNaN(value) ? null : value;
  }

  /* The same rule as the server's talk_state: a postponed talk is still to
     come; a cancelled one is never live. */
  function stateAt(article, now) {
    var start = instant(article, "data-start");
    var end = instant(article, "data-end");
    if (start === null || end === null || article.classList.contains("is-postponed")) return null;
    if (end <= now) return "past";
    return start <= now && !article.classList.contains("is-cancelled") ? "live" : "upcoming";
  }

  function stateOf(article) {
    for (var i = 0; i < STATES.length; i++) {
      if (article.classList.contains(STATES[i])) return STATES[i].slice(3);
    }
    return null;
  }

  /* --- the visitor's zone, spelled as the page spells it ------------------- */

  function viewerZone() {
    try { return new Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  function parts(date, zone) {
    var options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
    if (zone) options.timeZone = zone;
    var out = {};
    new Intl.DateTimeFormat(ENGLISH, options).formatToParts(date).forEach(function (part) {
      out[part.type] = part.value;
    });
    return out;
  }

  /* The page's own name of the visitor's zone at `date` (from the tz
     database, in a zone list of the page), else the browser's. */
  function zoneName(date, scope) {
    var zone = viewerZone();
    var listed = null;
    (scope || document).querySelectorAll(".zones li[data-zone][data-abbr]").forEach(function (li) {
      if (li.getAttribute("data-zone") === zone) listed = li.getAttribute("data-abbr");
    });
    return listed || parts(date).timeZoneName;
  }

  function spellZones() {
    document.querySelectorAll("article.talk[data-start]").forEach(function (article) {
      var slot = article.querySelector(".when .yourtime");
      var start = instant(article, "data-start");
      if (!slot || !slot.textContent || start === null) return;
      var date = new Date(start);
      var browser = " " + parts(date).timeZoneName + ",";
      var ours = " " + zoneName(date, article) + ",";
      if (browser !== ours) slot.textContent = slot.textContent.replace(browser, ours);
    });
  }

  /* --- the cue's words: "in 6 days", "today at 17:00", "until 18:00" -------- */

  function clock(date, zone) {
    var mine = parts(date);
    var text = mine.hour + ":" + mine.minute;
    var theirs = zone ? parts(date, zone) : mine;
    if (theirs.hour !== mine.hour || theirs.minute !== mine.minute || theirs.day !== mine.day) {
      text += " " + zoneName(date);
    }
    return text;
  }

  function dayNumber(date) {
    var mine = parts(date);
    return Math.round(Date.UTC(+mine.year, +mine.month - 1, +mine.day) / 864e5);
  }

  function countdown(start, end, now, zone) {
    if (now >= end) return "";
    if (now >= start) return "until " + clock(new Date(end), zone);
    var days = dayNumber(new Date(start)) - dayNumber(new Date(now));
    if (days === 0) return "today at " + clock(new Date(start), zone);
    if (days === 1) return "tomorrow at " + clock(new Date(start), zone);
    return "in " + days + " days";
  }

  /* --- one talk's state ------------------------------------------------------ */

  function whenTime(article) {
    var time = article.querySelector(".when time");
    var copy = time ? time.cloneNode(true) : el("time", "", article.getAttribute("data-day"));
    copy.removeAttribute("data-zone");
    copy.removeAttribute("data-end");
    return copy;
  }

  function setState(article, state) {
    STATES.forEach(function (name) { article.classList.remove(name); });
    article.classList.add("is-" + state);
    article.querySelectorAll(":scope > .status.live, :scope > .status.past").forEach(function (node) {
      node.remove();
    });
    if (article.classList.contains("is-cancelled")) {
      var off = article.querySelector(":scope > .status.cancelled");
      if (off && state === "past" && off.lastChild) off.lastChild.textContent = ": this talk did not take place.";
      return;
    }
    var status;
    if (state === "live") {
      status = el("p", "status live");
      status.append(el("strong", "", "Live now"), " until " + (article.getAttribute("data-until") || ""));
    } else if (state === "past") {
      status = el("p", "status past", "This talk took place on ");
      status.append(whenTime(article), ".");
      /* Nothing left to attend, add or convert. */
      article.querySelectorAll(".attend, details.zones").forEach(function (node) { node.remove(); });
      var added = document.getElementById("add");
      if (added && article.parentNode.tagName === "MAIN") added.remove();
    } else {
      return;
    }
    var anchor = article.querySelector(":scope > .when") || article.querySelector(".title");
    article.insertBefore(status, anchor);
    if (state === "past") {
      var when = article.querySelector(":scope > .when");
      if (when) when.remove();
    }
  }

  /* --- the series page ------------------------------------------------------- */

  function byline(article) {
    return Array.prototype.map.call(article.querySelectorAll(".speakers li"), function (li) {
      var name = li.querySelector(".name, a");
      var affiliation = li.querySelector(".affiliation");
      var text = name ? name.textContent : li.textContent;
      if (affiliation) text += " (" + affiliation.textContent.replace(/^,\s*/, "") + ")";
      return text;
    }).join(", ");
  }

  /* An ended talk leaves the upcoming list for the top of the past ones,
     compact, under its year. */
  function moveToPast(article, season) {
    var cancelled = article.classList.contains("is-cancelled");
    var day = article.getAttribute("data-day") || "";
    var item = el("li", "past-talk" + (cancelled ? " is-cancelled" : ""));
    var when = el("p", "past-when");
    var time = el("time", "", day);
    time.setAttribute("datetime", article.getAttribute("data-start"));
    when.append(time);
    if (cancelled) when.append(" ", el("span", "badge", "Cancelled"));
    var title = el("h4", "past-title");
    var link = article.querySelector(".title a");
    title.append(link ? link.cloneNode(true) : el("span", "", ""));
    item.append(when, title);
    var who = byline(article);
    if (who) item.append(el("p", "past-who", who));
    article.remove();
    item.id = article.id;

    var past = document.getElementById("past");
    if (!past) return;
    var year = day.split(" ").pop();
    var heading = past.querySelector("h3.year");
    var list;
    if (heading && heading.textContent.trim() === year) {
      list = heading.nextElementSibling;
    } else {
      heading = el("h3", "year", year);
      list = el("ol", "past-list");
      var first = past.querySelector("h3.year");
      past.insertBefore(heading, first || null);
      past.insertBefore(list, first || null);
      past.querySelectorAll(":scope > .empty").forEach(function (node) { node.remove(); });
    }
    list.insertBefore(item, list.firstElementChild);
    document.querySelectorAll(".past-count").forEach(function (node) {
      node.textContent = String(past.querySelectorAll("li.past-talk").length);
    });

    if (!cancelled && season && link) {
      var last = season.querySelector(".season-last");
      if (last) {
        var dd = last.querySelector("dd");
        dd.replaceChildren(link.cloneNode(true), ", ", time.cloneNode(true));
        last.hidden = false;
      }
      var cue = document.querySelector(".season-cue .cue-last");
      if (cue) {
        cue.querySelector("a").textContent = day;
        cue.hidden = false;
      }
    }
  }

  function updateCue(next, now) {
    var cue = document.querySelector(".next-cue");
    var quiet = document.querySelector(".season-cue");
    if (!cue) return;
    if (!next) {
      cue.hidden = true;
      if (quiet) quiet.hidden = false;
      return;
    }
    var live = stateAt(next, now) === "live";
    cue.hidden = false;
    if (quiet) quiet.hidden = true;
    cue.classList.toggle("is-live", live);
    cue.querySelector(".cue-label").textContent = live ? "Live now" : "Next talk";
    var title = cue.querySelector(".cue-title");
    var source = next.querySelector(".title a");
    if (title && source) {
      title.textContent = source.textContent;
      title.href = source.href;
    }
    var join = cue.querySelector(".cue-join[data-talk-anchor]");
    if (join && source) join.href = source.href + "#" + join.getAttribute("data-talk-anchor");
    var slot = cue.querySelector(".cue-when");
    var count = cue.querySelector(".countdown");
    var old = slot.querySelector("time");
    if (old) old.remove();
    slot.insertBefore(whenTime(next), count);
    count.setAttribute("data-start", next.getAttribute("data-start"));
    count.setAttribute("data-end", next.getAttribute("data-end"));
    var zone = (next.querySelector(".when time") || count).getAttribute("data-zone");
    try {
      count.textContent = countdown(instant(next, "data-start"), instant(next, "data-end"), now, zone);
    } catch (error) { /* an unknown zone: keep the date only */ }
  }

  function updateHome(now) {
    var upcoming = document.getElementById("upcoming");
    var season = document.getElementById("season-break");
    if (!upcoming) return;
    upcoming.querySelectorAll("article.talk[data-end]").forEach(function (article) {
      var state = stateAt(article, now);
      if (state === "past") moveToPast(article, season);
      else if (state && state !== stateOf(article)) setState(article, state);
    });
    var left = upcoming.querySelectorAll("article.talk");
    var next = null;
    for (var i = 0; i < left.length && !next; i++) {
      if (!left[i].classList.contains("is-cancelled") && !left[i].classList.contains("is-postponed")) {
        next = left[i];
      }
    }
    updateCue(next, now);
    if (!left.length) {
      upcoming.querySelectorAll(".zone-note").forEach(function (node) { node.hidden = true; });
      if (season) season.hidden = false;
    }
  }

  /* --- a talk's own page ----------------------------------------------------- */

  function updateTalk(now) {
    var article = document.querySelector("main > article.talk[data-end]");
    if (!article) return;
    var state = stateAt(article, now);
    if (state && state !== stateOf(article)) setState(article, state);
  }

  /* --- Android: Google's subscribe link fails in the Calendar app ------------ */

  function android() {
    if (!/Android/i.test(navigator.userAgent || "")) return;
    var quick = document.querySelector(".quick-subscribe a.button[data-app='google']");
    if (!quick) return;
    quick.textContent = "On Android: copy the calendar address";
    quick.href = "#calendar-url";
  }

  /* --- start ------------------------------------------------------------- */

  function update() {
    var now = Date.now();
    updateHome(now);
    updateTalk(now);
  }

  /* The talks move as soon as the document is parsed ("interactive"), in
     the same task, before the first paint and before the deferred embed.js:
     a stale page never shows its old state, so nothing shifts. The zones'
     spelling waits for embed.js's local times (DOMContentLoaded). */
  var moved = false;

  var root = document.documentElement;
  var staleAfter = instant(root, "data-stale-after");
  if (staleAfter !== null && staleAfter <= Date.now()) root.classList.add("feeds-moving");

  function move() {
    if (moved) return;
    moved = true;
    try {
      android();
      update();
    } finally {
      root.classList.remove("feeds-moving");
    }
    setInterval(update, 30000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) update();
    });
  }

  function finish() {
    move();
    update(); /* again, after embed.js: the cue's line is this script's */
    spellZones();
    document.documentElement.setAttribute("data-page-ready", "");
  }

  if (document.readyState === "loading") {
    document.addEventListener("readystatechange", function () {
      if (document.readyState !== "loading") move();
    });
    document.addEventListener("DOMContentLoaded", finish);
  } else {
    finish();
  }
})();
