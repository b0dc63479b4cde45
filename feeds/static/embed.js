/* The one script of the feeds site.
 *
 * On the site's own pages (loaded with data-mode="page") it adds each talk's
 * time in the viewer's own zone ("11:00 EDT your time") and the copy buttons.
 *
 * On any other site, <script src=".../embed.js" data-limit="3"></script>
 * renders the schedule right after the script tag, from talks.json, inside a
 * shadow root so that neither page's styles reach the other. Options:
 * data-show="upcoming|past|all", data-limit="N", data-theme="light|dark".
 *
 * Everything lives inside this function: no globals are created. Talk data
 * only ever reaches the page as text (textContent), never as markup. */
(function () {
  "use strict";

  var script = document.currentScript;
  var DAY = { year: "numeric", month: "2-digit", day: "2-digit" };

  /* --- the viewer's own time --------------------------------------------- */

  function dayIn(date, zone) {
    var options = Object.assign({}, DAY, zone ? { timeZone: zone } : {});
    return new Intl.DateTimeFormat("en-CA", options).format(date);
  }

  /* "11:00 EDT your time", led by the weekday ("Tue 00:00 GMT+9 your time")
     when the viewer's day differs from the day in the talk's own zone. */
  function yourTime(date, zone) {
    var parts = {};
    new Intl.DateTimeFormat(undefined, {
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
    }).formatToParts(date).forEach(function (part) { parts[part.type] = part.value; });
    var text = parts.hour + ":" + parts.minute + " " + parts.timeZoneName;
    if (dayIn(date) !== dayIn(date, zone)) {
      text = new Intl.DateTimeFormat("en", { weekday: "short" }).format(date) + " " + text;
    }
    return text + " your time";
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

  /* --- copy buttons ------------------------------------------------------ */

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

  function say(button, message) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = message;
    setTimeout(function () { button.textContent = label; }, 2000);
  }

  function addCopyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var done = navigator.clipboard && window.isSecureContext
          ? navigator.clipboard.writeText(textOf(source))
          : Promise.reject(new Error("no clipboard"));
        done.then(function () { say(button, "Copied"); }, function () {
          selectAll(source);
          say(button, "Press Ctrl+C");
        });
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

  function choice(name, allowed, fallback) {
    var value = script.getAttribute("data-" + name);
    if (value === null) return fallback;
    if (allowed.indexOf(value) >= 0) return value;
    console.warn("feeds embed.js: data-" + name + " must be one of " + allowed.join(", "));
    return fallback;
  }

  function options() {
    var raw = script.getAttribute("data-limit");
    var limit = raw === null ? Infinity : Number(raw);
    if (!(Number.isInteger(limit) && limit > 0) && limit !== Infinity) {
      console.warn("feeds embed.js: data-limit must be a whole number above 0");
      limit = Infinity;
    }
    return {
      show: choice("show", ["upcoming", "past", "all"], "upcoming"),
      theme: choice("theme", ["light", "dark"], "light"),
      limit: limit
    };
  }

  /* The same choice as the server's /embed: upcoming soonest first, then
     past newest first; the limit caps the total. */
  function groups(talks, opts, now) {
    var upcoming = talks.filter(function (t) { return Date.parse(t.end) > now; });
    var past = talks.filter(function (t) { return Date.parse(t.end) <= now; }).reverse();
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

  function talkItem(talk) {
    var item = el("li", "fe-talk" + (talk.status === "cancelled" ? " fe-cancelled" : ""));
    var when = el("p", "fe-when");
    var time = el("time", "", talk.when);
    time.setAttribute("datetime", talk.start);
    time.setAttribute("data-zone", talk.timezone);
    when.append(time, " ", el("span", "yourtime"));
    var title = el("p", "fe-title");
    title.append(link(talk.url, talk.title));
    if (talk.status === "cancelled") title.append(" ", el("strong", "fe-badge", "Cancelled"));
    item.append(when, title);
    if (talk.byline) item.append(el("p", "fe-who", talk.byline));
    return item;
  }

  function render(box, data, opts) {
    var series = data.series;
    var title = el("p", "fe-series");
    title.append(link(series.url, series.title));
    var parts = [title];
    var chosen = groups(data.talks, opts, Date.now());
    chosen.forEach(function (group) {
      var list = el("ol", "fe-talks");
      group[1].forEach(function (talk) { list.append(talkItem(talk)); });
      parts.push(el("p", "fe-group", group[0]), list);
    });
    if (!chosen.length) {
      parts.push(el("p", "fe-empty", opts.show === "past" ? "No past talks yet."
        : "No talk is scheduled right now: the next talk will be announced here."));
    }
    var more = el("p", "fe-more");
    more.append(link(series.url, "Full schedule"), " · ", link(series.url + "#subscribe", "Subscribe"));
    parts.push(more);
    box.replaceChildren.apply(box, parts);
    box.querySelectorAll("a").forEach(function (a) { a.target = "_blank"; a.rel = "noopener"; });
    addLocalTimes(box);
  }

  function embed() {
    var opts = options();
    var host = el("div", "feeds-embed-host");
    script.parentNode.insertBefore(host, script.nextSibling);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var style = el("link");
    style.rel = "stylesheet";
    style.href = new URL("static/embed.css", script.src).href;
    var box = el("div", "feeds-embed", "Loading talks…");
    box.setAttribute("data-theme", opts.theme);
    root.append(style, box);
    fetch(new URL("talks.json", script.src).href, { credentials: "omit" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) { render(box, data, opts); })
      .catch(function (error) {
        box.textContent = "The talks could not be loaded (" + error.message + ").";
      });
  }

  /* --- start ------------------------------------------------------------- */

  function whenReady(run) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  if (!script) return;
  if (script.getAttribute("data-mode") === "page") {
    whenReady(function () { addLocalTimes(document); addCopyButtons(document); });
  } else {
    embed();
  }
})();
