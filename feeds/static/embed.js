/* The one script of the feeds site.
 *
 * On the site's own pages (loaded with data-mode="page") it adds each talk's
 * time in the viewer's own zone ("Tue 8 Dec, 01:00 GMT+9, your time", and
 * nothing where the viewer's clock shows the series' time), the countdown
 * to the next talk, the copy buttons and the click-to-play recordings.
 *
 * On any other site, a box <div data-feeds-embed data-limit="3"> followed by
 * <script async src=".../embed.js"> gets the schedule, from embed.json, in a
 * shadow root so that neither page's styles reach the other; the box keeps
 * its reserved height, so the host page does not move. Without a box, the
 * list goes right after the script tag (the older snippet). Options, on the
 * box or on the script: data-show="upcoming|past|all", data-limit="N",
 * data-theme="auto|light|dark" (auto follows prefers-color-scheme); a hub's
 * embed.js also data-series="a,b" (slugs) and data-tag="x", or the same as
 * ?series=a,b&tag=x on the script's address.
 * embed.json holds the upcoming talks and the recent past ones; a list that
 * asks for more (show=past|all) loads embed-all.json. When nothing is
 * upcoming, the list says so with the season break: the series' rhythm,
 * the last talk, the latest talks and a prompt to subscribe.
 *
 * In the frame page (/embed/), the script moves talks from upcoming to live
 * to past by the visitor's clock (the page was right when it was built) and
 * tells the host page its height; on a host page, it fits every
 * <iframe data-feeds-frame> of the feeds site to that height.
 *
 * Everything lives inside this function: no globals are created. Talk data
 * only ever reaches the page as text (textContent), never as markup. */
(function () {
  "use strict";

  var script = document.currentScript;
  var ENGLISH = "en-US"; /* the pages are English: one way to write dates and zones */

  /* --- the viewer's own time --------------------------------------------- */

  function fields(date, zone) {
    var options = {
      weekday: "short", year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
    };
    if (zone) options.timeZone = zone;
    var out = {};
    new Intl.DateTimeFormat(ENGLISH, options).formatToParts(date).forEach(function (part) {
      out[part.type] = part.value;
    });
    return out;
  }

  function sameDay(a, b) {
    return a.year === b.year && a.month === b.month && a.day === b.day;
  }

  function sameClock(a, b) {
    return sameDay(a, b) && a.hour === b.hour && a.minute === b.minute;
  }

  /* "11:00 EDT, your time"; led by the viewer's date when it differs from
     the date in the talk's zone ("Tue 8 Dec, 01:00 GMT+9, your time"); ""
     when the viewer's clock shows the talk's own time. */
  function yourTime(date, zone) {
    var mine = fields(date);
    var theirs = fields(date, zone);
    if (sameClock(mine, theirs)) return "";
    var clock = mine.hour + ":" + mine.minute + " " + mine.timeZoneName;
    if (!sameDay(mine, theirs)) clock = mine.weekday + " " + mine.day + " " + mine.month + ", " + clock;
    return clock + ", your time";
  }

  function addLocalTimes(root) {
    root.querySelectorAll("time[data-zone]").forEach(function (time) {
      var slot = time.nextElementSibling;
      var date = new Date(time.getAttribute("datetime"));
      if (!slot || !slot.classList.contains("yourtime") || isNaN(date)) return;
      try {
        slot.textContent = yourTime(date, time.getAttribute("data-zone"));
      } catch (error) { /* an unknown zone: keep the server's times only */ }
    });
  }

  /* --- what's next: "in 6 days", "today at 17:00", "Live now" ------------ */

  function dayNumber(date) {
    var f = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit" });
    return Math.round(Date.parse(f.format(date) + "T00:00:00Z") / 864e5);
  }

  function countdownText(start, end, now, zone) {
    if (now >= end) return "";
    if (now >= start) return "Live now";
    var mine = fields(start);
    var clock = mine.hour + ":" + mine.minute;
    if (zone && !sameClock(mine, fields(start, zone))) clock += " " + mine.timeZoneName;
    var days = dayNumber(start) - dayNumber(now);
    if (days === 0) return "today at " + clock;
    if (days === 1) return "tomorrow at " + clock;
    return "in " + days + " days";
  }

  function addCountdowns(root) {
    root.querySelectorAll(".countdown[data-start][data-end]").forEach(function (node) {
      var start = new Date(node.getAttribute("data-start"));
      var end = new Date(node.getAttribute("data-end"));
      if (isNaN(start) || isNaN(end)) return;
      try {
        node.textContent = countdownText(start, end, new Date(), node.getAttribute("data-zone"));
      } catch (error) { /* keep the server's date only */ }
    });
  }

  /* --- copy buttons ------------------------------------------------------ */

  var MAC = /Mac|iPhone|iPad|iPod/.test((navigator.platform || "") + " " + (navigator.userAgent || ""));

  function textOf(node) {
    return node.tagName === "INPUT" || node.tagName === "TEXTAREA" ? node.value : node.textContent;
  }

  function selectAll(node) {
    if (node.select) { node.focus(); node.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function announce(message) {
    var region = document.getElementById("announce");
    if (!region) return;
    region.textContent = "";
    setTimeout(function () { region.textContent = message; }, 50);
  }

  function say(button, message) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = message;
    setTimeout(function () { button.textContent = label; }, 2000);
  }

  function addCopyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var what = button.getAttribute("data-what") || "text";
      if (!source) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var done = navigator.clipboard && window.isSecureContext
          ? navigator.clipboard.writeText(textOf(source))
          : Promise.reject(new Error("no clipboard"));
        done.then(function () {
          say(button, "Copied");
          announce("Copied the " + what + ".");
        }, function () {
          selectAll(source);
          var keys = MAC ? "\u2318C" : "Ctrl+C";
          say(button, "Press " + keys);
          announce("The " + what + " is selected: press " + keys + " to copy it.");
        });
      });
    });
  }

  /* --- recordings: the player loads only on a click ---------------------- */

  function addPlayers(root) {
    root.querySelectorAll(".player[data-player]").forEach(function (box) {
      var button = box.querySelector("button.play");
      if (!button) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var frame = document.createElement("iframe");
        frame.src = box.getAttribute("data-player");
        frame.title = box.getAttribute("data-title") || "Recording";
        frame.allow = "autoplay; encrypted-media; fullscreen; picture-in-picture";
        frame.allowFullscreen = true;
        frame.referrerPolicy = "strict-origin-when-cross-origin";
        box.classList.add("is-playing");
        box.replaceChildren(frame);
        frame.focus();
      });
    });
  }

  /* --- the schedule on another site -------------------------------------- */

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function link(href, text) {
    var a = el("a", "", text);
    a.href = href;
    return a;
  }

  function choice(source, name, allowed, fallback) {
    var value = source.getAttribute("data-" + name);
    if (value === null) return fallback;
    if (allowed.indexOf(value) >= 0) return value;
    console.warn("feeds embed.js: data-" + name + " must be one of " + allowed.join(", "));
    return fallback;
  }

  function options(source) {
    var raw = source.getAttribute("data-limit");
    var limit = raw === null ? Infinity : Number(raw);
    if (!(Number.isInteger(limit) && limit > 0) && limit !== Infinity) {
      console.warn("feeds embed.js: data-limit must be a whole number above 0");
      limit = Infinity;
    }
    var query = new URL(script.src).searchParams;
    var series = source.getAttribute("data-series") || query.get("series") || "";
    return {
      show: choice(source, "show", ["upcoming", "past", "all"], "upcoming"),
      theme: choice(source, "theme", ["auto", "light", "dark"], "auto"),
      limit: limit,
      series: series.split(",").filter(function (slug) { return slug; }),
      tag: source.getAttribute("data-tag") || query.get("tag") || ""
    };
  }

  /* A hub's talks name their series and tags; a series' own never filter. */
  function chosenTalks(talks, opts) {
    return talks.filter(function (t) {
      return (!opts.series.length || opts.series.indexOf(t.series) >= 0) &&
        (!opts.tag || (t.tags || []).indexOf(opts.tag) >= 0);
    });
  }

  /* A postponed talk is still to come, whatever its old slot. */
  function ended(talk, now) {
    return talk.status !== "postponed" && Date.parse(talk.end) <= now;
  }

  /* The same choice as the server's /embed: upcoming soonest first, then
     past newest first; the limit caps the total. */
  function groups(talks, opts, now) {
    var upcoming = talks.filter(function (t) { return !ended(t, now); });
    var past = talks.filter(function (t) { return ended(t, now); }).reverse();
    var wanted = [];
    if (opts.show !== "past") wanted.push(["Upcoming talks", upcoming]);
    if (opts.show !== "upcoming") wanted.push(["Past talks", past]);
    var left = opts.limit;
    return wanted.map(function (group) {
      var chosen = group[1].slice(0, left);
      left -= chosen.length;
      return [group[0], chosen];
    }).filter(function (group) { return group[1].length > 0; });
  }

  function talkItem(talk, series, now) {
    var cancelled = talk.status === "cancelled";
    var over = ended(talk, now);
    var live = !cancelled && !over && talk.status !== "postponed" &&
      Date.parse(talk.start) <= now;
    var item = el("li", "fe-talk" + (cancelled ? " fe-cancelled" : "") +
      (live ? " fe-live" : over ? " fe-past" : " fe-upcoming"));
    var when = el("p", "fe-when");
    if (live) when.append(el("strong", "fe-badge fe-live-badge", "Live now"), " ");
    var time = el("time", "", talk.when);
    time.setAttribute("datetime", talk.start);
    time.setAttribute("data-zone", talk.timezone);
    when.append(time);
    if (!over) when.append(" ", el("span", "yourtime")); /* a record needs no "your time" */
    var title = el("p", "fe-title");
    title.append(link(talk.url, talk.title));
    if (cancelled) title.append(" ", el("strong", "fe-badge", "Cancelled"));
    item.append(when, title);
    if (talk.notice && !cancelled) item.append(el("p", "fe-notice", talk.notice));
    var who = [talk.series_title, talk.byline].filter(function (part) { return part; });
    if (who.length) item.append(el("p", "fe-who", who.join(" \u00b7 ")));
    if (talk.recording) {
      var recording = el("p", "fe-recording");
      var watch = link(talk.recording, "\u25b6 Watch the recording");
      watch.append(el("span", "fe-hidden", ": " + talk.title));
      recording.append(watch);
      item.append(recording);
    }
    if (!cancelled && !over) {
      var where = el("p", "fe-where", talk.location);
      if (series.attend) where.append(" \u00b7 ", el("span", "fe-attend", series.attend));
      item.append(where);
    }
    return item;
  }

  /* Nothing upcoming: say so, and that the group is alive. */
  function seasonBreak(data, opts, now) {
    var series = data.series;
    var empty = el("p", "fe-empty");
    empty.append(el("strong", "", "No talk is scheduled right now."), " The next talk will be announced here.");
    var parts = [empty];
    if (series.rhythm) parts.push(el("p", "fe-rhythm", series.rhythm));
    var past = data.talks.filter(function (t) { return ended(t, now) && t.status !== "cancelled"; }).reverse();
    if (past.length) parts.push(el("p", "fe-last", "The last talk was on " + dayOf(past[0]) + "."));
    if (opts.show === "upcoming" && past.length) {
      var list = el("ol", "fe-talks");
      past.slice(0, Math.min(SEASON_LATEST, opts.limit)).forEach(function (talk) {
        list.append(talkItem(talk, series, now));
      });
      parts.push(el("p", "fe-group", "Latest talks"), list);
    }
    var prompt = el("p", "fe-subscribe");
    prompt.append(link(series.url + "#subscribe", "Subscribe to the calendar"),
      " and the next talk will appear in it by itself.");
    parts.push(prompt);
    return parts;
  }

  var SEASON_LATEST = 3; /* as the frame page's season break */

  /* "Mon 8 June 2026": the day of `talk` in its own zone. */
  function dayOf(talk) {
    var f = fields(new Date(talk.start), talk.timezone);
    var month = new Intl.DateTimeFormat(ENGLISH, { month: "long", timeZone: talk.timezone })
      .format(new Date(talk.start));
    return f.weekday + " " + Number(f.day) + " " + month + " " + f.year;
  }

  function render(box, data, opts) {
    var series = data.series;
    var now = Date.now();
    var title = el("p", "fe-series");
    title.append(link(series.url, series.title));
    var parts = [title];
    var chosen = groups(chosenTalks(data.talks, opts), opts, now);
    chosen.forEach(function (group) {
      var list = el("ol", "fe-talks");
      group[1].forEach(function (talk) { list.append(talkItem(talk, series, now)); });
      parts.push(el("p", "fe-group", group[0]), list);
    });
    var noneAhead = !chosen.some(function (group) { return group[0] === "Upcoming talks"; });
    if (opts.show !== "past" && noneAhead) {
      parts.splice.apply(parts, [1, 0].concat(seasonBreak(data, opts, now)));
    } else if (!chosen.length) {
      parts.push(el("p", "fe-empty", "No past talks yet."));
    }
    var more = el("p", "fe-more");
    more.append(link(series.url, "Full schedule"), " \u00b7 ", link(series.url + "#subscribe", "Subscribe"));
    parts.push(more);
    box.replaceChildren.apply(box, parts);
    box.querySelectorAll("a").forEach(function (a) { a.target = "_blank"; a.rel = "noopener"; });
    addLocalTimes(box);
  }

  var loaded = {}; /* one fetch of each file for every box this script fills */

  function load(name) {
    if (!loaded[name]) {
      loaded[name] = fetch(new URL(name, script.src).href, { credentials: "omit" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        });
    }
    return loaded[name];
  }

  /* Whether the list `opts` asks for needs talks embed.json left out. */
  function wantsMore(data, opts, now) {
    var out = data.left_out || { upcoming: 0, past: 0 };
    /* A hub's list of some series or a tag: embed.json's counts are the whole hub's. */
    if ((opts.series.length || opts.tag) && (out.upcoming > 0 || out.past > 0)) return true;
    var ahead = data.talks.filter(function (t) { return !ended(t, now); }).length;
    var behind = data.talks.length - ahead;
    return (opts.show !== "past" && out.upcoming > 0 && opts.limit > ahead) ||
      (opts.show !== "upcoming" && out.past > 0 && opts.limit > behind);
  }

  function talks(opts) {
    return load("embed.json").then(function (data) {
      return wantsMore(data, opts, Date.now()) ? load("embed-all.json") : data;
    });
  }

  function fill(host, source) {
    var opts = options(source);
    host.setAttribute("data-feeds-ready", "");
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var style = el("link");
    var styled = new Promise(function (resolve) {
      style.addEventListener("load", resolve);
      style.addEventListener("error", resolve);
    });
    style.rel = "stylesheet";
    style.href = new URL("static/embed.css", script.src).href;
    var box = el("div", "feeds-embed", "Loading talks\u2026");
    box.setAttribute("data-theme", opts.theme === "auto" ? declaredScheme(host) || "auto" : opts.theme);
    box.style.visibility = "hidden"; /* shown once styled: no flash, no shift */
    root.append(style, box);
    Promise.all([talks(opts), styled])
      .then(function (results) {
        render(box, results[0], opts);
        /* The snippet's reserved space was a guess: fit the list. */
        if (host.hasAttribute("data-feeds-embed")) host.style.minHeight = "0";
      })
      .catch(function (error) {
        box.textContent = "The talks could not be loaded (" + error.message + ").";
      })
      .then(function () { box.style.visibility = ""; });
  }

  /* --- frames of the feeds site on a host page: fitted to their content -- */

  /* "dark" or "light" where the host page declares only that color-scheme
     for `node`, else "" (then theme=auto follows the visitor). */
  function declaredScheme(node) {
    var words = (getComputedStyle(node).colorScheme || "").split(/\s+/);
    var dark = words.indexOf("dark") >= 0, light = words.indexOf("light") >= 0;
    return dark && !light ? "dark" : light && !dark ? "light" : "";
  }

  function fitFrames() {
    var origin = new URL(script.src).origin;
    var frames = [];
    document.querySelectorAll("iframe[data-feeds-frame]:not([data-feeds-fitted])").forEach(function (frame) {
      var src;
      try { src = new URL(frame.src, document.baseURI); } catch (error) { return; }
      if (src.origin !== origin) return;
      frame.setAttribute("data-feeds-fitted", "");
      frames.push(frame);
    });
    if (!frames.length) return;
    window.addEventListener("message", function (event) {
      if (event.origin !== origin || !event.data || typeof event.data.feedsEmbedHeight !== "number") return;
      frames.forEach(function (frame) {
        if (frame.contentWindow !== event.source) return;
        var height = Math.max(80, Math.min(4000, Math.ceil(event.data.feedsEmbedHeight)));
        frame.style.height = height + "px";
        /* A frame in theme=auto takes the host's declared scheme, if any:
           a frame whose scheme differs from its host's is painted opaque. */
        var scheme = declaredScheme(frame);
        if (scheme) event.source.postMessage({ feedsHostScheme: scheme }, origin);
      });
    });
    /* A frame that loaded before this script listened has told its height
       already: ask each to tell it again (one still loading tells it anyway). */
    frames.forEach(function (frame) {
      if (frame.contentWindow) frame.contentWindow.postMessage({ feedsMeasure: true }, origin);
    });
  }

  function embed() {
    fitFrames();
    var boxes = document.querySelectorAll("[data-feeds-embed]:not([data-feeds-ready])");
    boxes.forEach(function (box) { fill(box, box); });
    /* A page with boxes or frames uses the new snippets: never add a list after a script. */
    if (document.querySelector("[data-feeds-embed], iframe[data-feeds-frame]") ||
        script.hasAttribute("data-feeds-ready")) return;
    script.setAttribute("data-feeds-ready", "");
    var host = el("div", "feeds-embed-host");
    script.parentNode.insertBefore(host, script.nextSibling);
    fill(host, script);
  }

  /* --- the frame page between builds -------------------------------------- */

  /* The frame page was right when it was built: move its talks by the
     visitor's clock (upcoming, live, past), keep its limit with the hidden
     spares, and show the season break once nothing is upcoming. */
  function settleFrame(section, now) {
    var upcoming = section.querySelector('ol[data-group="upcoming"]');
    if (!upcoming) return;
    var past = section.querySelector('ol[data-group="past"], ol[data-group="latest"]');
    var limit = Number(section.getAttribute("data-limit")) || Infinity;
    var over = [];
    Array.prototype.slice.call(upcoming.children).forEach(function (item) {
      var status = item.getAttribute("data-status");
      var start = Date.parse(item.getAttribute("data-start"));
      var end = Date.parse(item.getAttribute("data-end"));
      if (status !== "postponed" && end <= now) { over.push(item); return; }
      if (status === "postponed" || status === "cancelled" || start > now) return;
      if (!item.querySelector(".fe-live-badge")) {
        item.querySelector(".fe-when").prepend(el("strong", "fe-badge fe-live-badge", "Live now"), " ");
      }
      item.classList.remove("fe-upcoming");
      item.classList.add("fe-live");
    });
    over.forEach(function (item) {
      item.classList.remove("fe-upcoming", "fe-live");
      item.classList.add("fe-past");
      item.querySelectorAll(".fe-live-badge, .yourtime, .fe-where").forEach(function (n) { n.remove(); });
      if (past) past.prepend(item); else item.remove();
    });
    var shown = 0;
    Array.prototype.slice.call(upcoming.children).forEach(function (item) {
      item.hidden = shown >= limit;
      if (!item.hidden) shown += 1;
    });
    if (past) {
      var keep = past.getAttribute("data-group") === "latest"
        ? Number(past.getAttribute("data-keep")) || SEASON_LATEST : limit - shown;
      Array.prototype.slice.call(past.children).forEach(function (item, index) {
        item.hidden = index >= keep;
      });
    }
    if (shown || !over.length) return;
    upcoming.hidden = true;
    var heading = section.querySelector(".fe-upcoming-heading");
    if (heading) heading.hidden = true;
    var season = section.querySelector(".fe-season");
    if (season) season.hidden = false;
    var last = section.querySelector(".fe-last");
    var newest = over.filter(function (i) { return i.getAttribute("data-status") !== "cancelled"; }).pop();
    if (last && newest) {
      last.querySelector(".fe-last-day").textContent = newest.getAttribute("data-day");
      last.hidden = false;
    }
  }

  /* Tell the host page how tall the list is (embed.js there fits the frame);
     in theme=auto, take the scheme the host declares, which it answers. */
  function reportHeight(section) {
    if (window.parent === window) return;
    var last = -1;
    var send = function () {
      var height = Math.ceil(section.getBoundingClientRect().height);
      if (height === last) return;
      last = height;
      window.parent.postMessage({ feedsEmbedHeight: height }, "*");
    };
    window.addEventListener("message", function (event) {
      if (event.source !== window.parent || !event.data) return;
      if (event.data.feedsMeasure) {  /* the host's script has just started listening */
        last = -1;
        send();
        return;
      }
      var scheme = event.data.feedsHostScheme;
      if ((scheme !== "dark" && scheme !== "light") || section.getAttribute("data-theme") !== "auto") return;
      section.setAttribute("data-theme", scheme);
      var meta = document.querySelector('meta[name="color-scheme"]');
      if (meta) meta.setAttribute("content", scheme);
    });
    send();
    window.addEventListener("resize", send);
    if (window.ResizeObserver) new ResizeObserver(send).observe(section);
  }

  /* --- start ------------------------------------------------------------- */

  function whenReady(run) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  if (!script) return;
  if (script.getAttribute("data-mode") === "page") {
    var start = function () {
      var frame = document.querySelector("body.embed-page .feeds-embed");
      if (frame) settleFrame(frame, Date.now());
      addLocalTimes(document);
      addCountdowns(document);
      addCopyButtons(document);
      addPlayers(document);
      if (frame) reportHeight(frame);
      if (script.src) fitFrames(); /* the webmasters' page previews the frame */
      document.documentElement.setAttribute("data-feeds-ready", "");
    };
    /* Inline at the end of the frame page, the list is already there: add
       the local times before the first paint, so that nothing moves. */
    if (script.src) whenReady(start);
    else start();
  } else {
    embed();
  }
})();
