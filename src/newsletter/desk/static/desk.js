/* The desk's own script: saves each change through the JSON API (If-Match + CSRF token),
 * reorders items (drag and drop, or the Move up / Move down buttons), previews the editorial,
 * and reloads the preview when files change, never while the editor is typing.
 * No framework, no build step; every text shown comes translated from the page
 * (the JSON block #desk-messages). Without this script the pages stay readable. */
(function () {
  "use strict";

  var body = document.body;
  var messages = {};
  try {
    messages = JSON.parse(document.getElementById("desk-messages").textContent || "{}");
  } catch (e) { messages = {}; }
  var lang = document.documentElement.lang || "fr";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") || "" : "";
  var api = body.dataset.api || "";
  var day = body.dataset.date || "";
  var state = {
    etag: body.dataset.etag || "",
    version: body.dataset.version || "",
    conflict: false,
    lastKey: 0,
    busy: 0,
    writes: 0  // answers to our writes so far: a read begun before one of them is stale
  };
  var TYPING_MS = 3000;
  var pollMs = Number(body.dataset.poll) || 700;
  var unsavedKey = "desk-unsaved:" + day;
  var scrollKey = "desk-scroll:" + location.pathname;

  function t(key, values) {
    var text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    if (values) {
      Object.keys(values).forEach(function (name) {
        text = text.split("{" + name + "}").join(String(values[name]));
      });
    }
    return text;
  }

  function plural(n, one, other) {
    var single = lang.indexOf("fr") === 0 ? n < 2 : n === 1;
    return t(single ? one : other, { n: n });
  }

  // An ISO time as the page shows it ("jeudi 3 décembre 2026 à 09:20"), in the project's zone.
  function moment(iso) {
    if (!iso) { return ""; }
    var when = new Date(iso);
    if (isNaN(when.getTime())) { return iso; }
    try {
      return new Intl.DateTimeFormat(lang, {
        dateStyle: "full", timeStyle: "short", timeZone: body.dataset.timezone || undefined
      }).format(when);
    } catch (e) { return iso; }
  }

  function clock() {
    var now = new Date();
    function two(v) { return (v < 10 ? "0" : "") + v; }
    return two(now.getHours()) + ":" + two(now.getMinutes()) + ":" + two(now.getSeconds());
  }

  // -- announcements: #etat (polite) for progress, #erreurs (assertive) for refusals ------
  function say(text) {
    var region = document.getElementById("etat");
    if (region) { region.textContent = text; }
  }

  function clearError() {
    var region = document.getElementById("erreurs");
    if (region) { region.hidden = true; region.textContent = ""; }
  }

  function showError(text, options) {
    var region = document.getElementById("erreurs");
    if (!region) { return; }
    region.textContent = "";
    var p = document.createElement("p");
    p.className = "alert-text";
    p.textContent = text;
    region.appendChild(p);
    if (options && options.lines && options.lines.length) {
      var ul = document.createElement("ul");
      options.lines.forEach(function (line) {
        var li = document.createElement("li");
        li.textContent = line;
        ul.appendChild(li);
      });
      region.appendChild(ul);
    }
    if (options && options.reload) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = t("reload");
      button.addEventListener("click", function () { keepUnsaved(); location.reload(); });
      region.appendChild(button);
    }
    if (options && options.login) {
      var link = document.createElement("a");
      link.href = "/connexion?suite=" + encodeURIComponent(location.pathname);
      link.textContent = t("login");
      region.appendChild(document.createTextNode(" "));
      region.appendChild(link);
    }
    region.hidden = false;
  }

  // -- fields: their saved value, what is typed but not saved yet -----------------------
  function fields() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-field]"));
  }

  function valueOf(el) { return el.type === "checkbox" ? el.checked : el.value; }

  function isText(el) {
    return el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "checkbox");
  }

  function fieldKey(el) {
    var item = el.closest("[data-item-id]");
    return (item ? item.getAttribute("data-item-id") : "") + "|" + el.getAttribute("data-field");
  }

  function dirty(el) { return valueOf(el) !== el._saved; }

  function typing() {
    if (Date.now() - state.lastKey < TYPING_MS) { return true; }
    return fields().some(function (el) { return isText(el) && dirty(el); });
  }

  function readUnsaved() {
    try { return JSON.parse(sessionStorage.getItem(unsavedKey) || "{}"); } catch (e) { return {}; }
  }

  function writeUnsaved(map) {
    try {
      if (Object.keys(map).length) { sessionStorage.setItem(unsavedKey, JSON.stringify(map)); }
      else { sessionStorage.removeItem(unsavedKey); }
    } catch (e) { /* private mode: the fields still hold the text */ }
  }

  // Everything typed and not saved goes to sessionStorage, so a reload (after a conflict,
  // say) puts it back in its field instead of losing it.
  function keepUnsaved() {
    var map = {};
    fields().forEach(function (el) {
      if (isText(el) && dirty(el)) { map[fieldKey(el)] = el.value; }
    });
    writeUnsaved(map);
  }

  function restoreUnsaved() {
    var map = readUnsaved();
    var restored = false;
    fields().forEach(function (el) {
      var key = fieldKey(el);
      if (isText(el) && Object.prototype.hasOwnProperty.call(map, key) && map[key] !== el.value) {
        el.value = map[key];
        el.classList.add("unsaved");
        restored = true;
        if (el.dataset.preview) { preview(el); }
      }
    });
    if (restored) { say(t("restored")); }
  }

  // -- writes: one at a time, each with the ETag of the answer before it -----------------
  var queue = Promise.resolve();

  function send(method, url, payload, isForm) {
    var headers = { "Accept": "application/json", "X-CSRF-Token": csrf };
    if (state.etag) { headers["If-Match"] = state.etag; }
    if (!isForm) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {
      method: method,
      headers: headers,
      body: isForm ? payload : JSON.stringify(payload),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = {}; }
        return { ok: response.ok, status: response.status, data: data,
                 etag: response.headers.get("ETag") };
      });
    });
  }

  function write(method, url, payload, isForm) {
    var run = function () {
      if (state.conflict) {
        showError(t("conflict"), { reload: true });
        return { ok: false, status: 412, data: {}, local: true };
      }
      state.busy += 1;
      say(t("saving"));
      return send(method, url, payload, isForm).then(function (answer) {
        state.busy -= 1;
        state.writes += 1;
        handle(answer);
        return answer;
      }, function () {
        state.busy -= 1;
        showError(t("network"));
        return { ok: false, status: 0, data: {} };
      });
    };
    queue = queue.then(run, run);
    return queue;
  }

  function handle(answer) {
    var data = answer.data || {};
    if (answer.ok) {
      if (answer.etag) { state.etag = answer.etag; }
      clearError();
      if (data.items || data.findings) { apply(data); }
      say(t("saved", { time: clock() }));
      return;
    }
    if (answer.status === 412 || answer.status === 428) {
      state.conflict = true;
      keepUnsaved();
      say("");
      showError(t("conflict"), { reload: true });
    } else if (answer.status === 401) {
      keepUnsaved();
      showError(t("session"), { login: true });
    } else if (answer.status === 409) {
      showError(data.message || t("approve_refused"), { lines: findingLines(data.findings) });
    } else {
      showError(data.message || t("failed", { status: answer.status }));
    }
    say("");
  }

  function findingLines(findings) {
    var all = findings || [];
    var errors = all.filter(function (f) { return f.level === "error"; });
    return (errors.length ? errors : all).map(function (f) {
      var where = f.file ? f.file + (f.line ? ":" + f.line : "") + " : " : "";
      return where + f.message;
    });
  }

  // -- what an answer says: status, counts, findings --------------------------------------
  function statusLabel(data) {
    if (data.status === "sent") {
      return { css: "sent", label: t("status_sent", { date: data.sent_on || "" }) };
    }
    if (data.status === "approved") { return { css: "approved", label: t("status_approved") }; }
    if (data.status === "draft") { return { css: "draft", label: t("status_draft") }; }
    return { css: "invalid", label: data.status || t("status_invalid") };
  }

  function itemElement(id) {
    var found = null;
    document.querySelectorAll("li.item[data-item-id]").forEach(function (li) {
      if (li.getAttribute("data-item-id") === id) { found = li; }
    });
    return found;
  }

  function apply(data) {
    var badge = document.getElementById("statut");
    if (badge && data.status) {
      var shown = statusLabel(data);
      badge.className = "badge " + shown.css;
      badge.textContent = shown.label;
    }
    var approval = document.getElementById("approbation");
    if (approval) {
      approval.textContent = data.approved_by
        ? t("approved_by", { who: data.approved_by, when: moment(data.approved_at) }) : "";
    }
    if (data.items) {
      var included = data.items.filter(function (i) { return i.include; }).length;
      var count = document.getElementById("articles-compte");
      if (count) {
        count.textContent = t("included", { n: included, total: data.items.length });
      }
    }
    if (data.findings) { showFindings(data.findings); }
  }

  function showFindings(findings) {
    var list = document.getElementById("constats-liste");
    if (!list) { return; }
    list.textContent = "";
    var errors = 0;
    var byItem = {};
    findings.forEach(function (f) {
      if (f.level === "error") { errors += 1; }
      var li = document.createElement("li");
      li.className = f.level;
      var level = document.createElement("span");
      level.className = "level";
      level.textContent = t(f.level === "error" ? "level_error" : "level_warning");
      li.appendChild(level);
      li.appendChild(document.createTextNode(" "));
      var target = f.item ? itemElement(f.item) : null;
      if (target) {
        var a = document.createElement("a");
        a.href = "#" + target.id;
        a.setAttribute("data-focus", target.id);
        a.textContent = f.message;
        li.appendChild(a);
        (byItem[f.item] = byItem[f.item] || []).push(f);
      } else {
        li.appendChild(document.createTextNode(f.message));
      }
      if (f.file) {
        var where = document.createElement("span");
        where.className = "where";
        where.textContent = " " + f.file + (f.line ? ":" + f.line : "");
        li.appendChild(where);
      }
      list.appendChild(li);
    });
    var count = document.getElementById("constats-compte");
    if (count) {
      count.textContent = plural(errors, "errors_one", "errors_other") + ", " +
        plural(findings.length - errors, "warnings_one", "warnings_other");
    }
    var empty = document.getElementById("constats-vide");
    if (empty) { empty.hidden = findings.length > 0; }
    document.querySelectorAll("li.item[data-item-id]").forEach(function (li) {
      var mine = byItem[li.getAttribute("data-item-id")] || [];
      li.classList.toggle("has-findings", mine.length > 0);
      var ul = li.querySelector("ul.item-findings");
      if (!mine.length) { if (ul) { ul.remove(); } return; }
      if (!ul) { ul = document.createElement("ul"); ul.className = "item-findings"; li.appendChild(ul); }
      ul.textContent = "";
      mine.forEach(function (f) {
        var entry = document.createElement("li");
        entry.className = f.level;
        entry.textContent = t("finding", {
          level: t(f.level === "error" ? "level_error" : "level_warning"), message: f.message });
        ul.appendChild(entry);
      });
    });
  }

  // -- saving a field ----------------------------------------------------------------------
  function save(el) {
    if (!api || !el.hasAttribute("data-field")) { return; }
    var value = valueOf(el);
    if (value === el._saved || value === el._pending) { return; }
    var item = el.closest("[data-item-id]");
    var payload = {};
    payload[el.getAttribute("data-field")] = value;
    var url = item ? api + "/items/" + encodeURIComponent(item.getAttribute("data-item-id")) : api;
    el._pending = value;
    el.classList.add("unsaved");
    write("PATCH", url, payload).then(function (answer) {
      el._pending = undefined;
      if (!answer.ok) {
        el.classList.add("refused");
        el.setAttribute("aria-invalid", "true");
        if (!isText(el)) { el._restoreOnReload = true; }
        return;
      }
      el._saved = value;
      el.classList.remove("refused");
      el.removeAttribute("aria-invalid");
      if (valueOf(el) === value) { el.classList.remove("unsaved"); }
      keepUnsaved();
      if (item && el.getAttribute("data-field") === "include") {
        item.classList.toggle("excluded", !value);
      }
      if (item && el.getAttribute("data-field") === "section") { moveToSection(item, value); }
    });
  }

  function moveToSection(item, section) {
    var target = null;
    document.querySelectorAll("ol.items[data-section]").forEach(function (ol) {
      if (ol.getAttribute("data-section") === section) { target = ol; }
    });
    if (!target) { return; }
    if (item.parentNode !== target) {
      target.appendChild(item);
      item.classList.add("flash");
      setTimeout(function () { item.classList.remove("flash"); }, 1500);
    }
  }

  // -- order: Move up / Move down, and drag and drop -------------------------------------
  function idsOf(ol) {
    return Array.prototype.map.call(ol.querySelectorAll(":scope > li.item[data-item-id]"),
      function (li) { return li.getAttribute("data-item-id"); });
  }

  function saveOrder(lists) {
    var sections = {};
    lists.forEach(function (ol) { sections[ol.getAttribute("data-section")] = idsOf(ol); });
    return write("PUT", api + "/order", { sections: sections });
  }

  function titleOf(li) {
    var input = li.querySelector('[data-field="title"]');
    return input ? input.value : li.getAttribute("data-item-id");
  }

  function positionOf(li) {
    return Array.prototype.indexOf.call(li.parentNode.children, li) + 1;
  }

  function move(li, direction, button) {
    var sibling = direction < 0 ? li.previousElementSibling : li.nextElementSibling;
    if (!sibling) {
      say(t(direction < 0 ? "already_first" : "already_last", { title: titleOf(li) }));
      return;
    }
    if (direction < 0) { li.parentNode.insertBefore(li, sibling); }
    else { li.parentNode.insertBefore(sibling, li); }
    if (button) { button.focus(); }
    saveOrder([li.parentNode]).then(function (answer) {
      if (answer.ok) {
        say(t("moved", { title: titleOf(li), position: positionOf(li) }));
      }
    });
  }

  var dragged = null;

  function clearMarks() {
    document.querySelectorAll(".drop-before, .drop-after").forEach(function (el) {
      el.classList.remove("drop-before", "drop-after");
    });
  }

  function dropPlace(event) {
    var over = event.target.closest ? event.target.closest("li.item") : null;
    var list = event.target.closest ? event.target.closest("ol.items") : null;
    if (over && over !== dragged) {
      var box = over.getBoundingClientRect();
      return { list: over.parentNode, before: event.clientY < box.top + box.height / 2 ? over : over.nextElementSibling, over: over };
    }
    if (list && !over) { return { list: list, before: null, over: null }; }
    return null;
  }

  function setupDrag() {
    document.addEventListener("dragstart", function (event) {
      var grip = event.target.closest ? event.target.closest(".grip") : null;
      if (!grip) { return; }
      dragged = grip.closest("li.item");
      dragged.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.getAttribute("data-item-id"));
      try { event.dataTransfer.setDragImage(dragged, 20, 20); } catch (e) { /* optional */ }
    });
    document.addEventListener("dragover", function (event) {
      if (!dragged) { return; }
      var place = dropPlace(event);
      if (!place) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      clearMarks();
      if (place.over) {
        place.over.classList.add(place.before === place.over ? "drop-before" : "drop-after");
      }
    });
    document.addEventListener("drop", function (event) {
      if (!dragged) { return; }
      var place = dropPlace(event);
      if (!place) { return; }
      event.preventDefault();
      var item = dragged;
      var from = item.parentNode;
      clearMarks();
      if (place.before === item) { return; }
      place.list.insertBefore(item, place.before);
      var to = place.list;
      var section = to.getAttribute("data-section");
      if (from !== to) {
        var select = item.querySelector('[data-field="section"]');
        if (select) { select.value = section; select._saved = section; }
        var url = api + "/items/" + encodeURIComponent(item.getAttribute("data-item-id"));
        write("PATCH", url, { section: section });
        saveOrder([from, to]);
      } else {
        saveOrder([to]).then(function (answer) {
          if (answer.ok) { say(t("moved", { title: titleOf(item), position: positionOf(item) })); }
        });
      }
    });
    document.addEventListener("dragend", function () {
      if (dragged) { dragged.classList.remove("dragging"); }
      dragged = null;
      clearMarks();
    });
  }

  // -- the editorial's live preview: a small Markdown subset, built as DOM nodes ----------
  var INLINE = /(\*\*[^*]+\*\*|__[^_]+__|\*[^*\s][^*]*\*|_[^_\s][^_]*_|`[^`]+`|\[[^\]]+\]\([^)\s]+\))/;

  function safeHref(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }

  function inline(parent, text) {
    text.split(INLINE).forEach(function (part, index) {
      if (!part) { return; }
      if (index % 2 === 0) { parent.appendChild(document.createTextNode(part)); return; }
      var node;
      if (/^(\*\*|__)/.test(part)) {
        node = document.createElement("strong");
        inline(node, part.slice(2, -2));
      } else if (part.charAt(0) === "`") {
        node = document.createElement("code");
        node.textContent = part.slice(1, -1);
      } else if (part.charAt(0) === "[") {
        var m = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(part);
        var href = m ? safeHref(m[2]) : null;
        node = document.createElement(href ? "a" : "span");
        if (href) { node.href = href; node.rel = "noopener noreferrer"; node.target = "_blank"; }
        inline(node, m ? m[1] : part);
      } else {
        node = document.createElement("em");
        inline(node, part.slice(1, -1));
      }
      parent.appendChild(node);
    });
  }

  function renderMarkdown(target, source) {
    target.textContent = "";
    source.replace(/\r\n?/g, "\n").split(/\n\s*\n/).forEach(function (block) {
      var lines = block.split("\n").filter(function (l) { return l.trim() !== ""; });
      if (!lines.length) { return; }
      var heading = /^(#{1,6})\s+(.*)$/.exec(lines[0]);
      if (heading && lines.length === 1) {
        var h = document.createElement("h" + Math.min(6, heading[1].length + 2));
        inline(h, heading[2]);
        target.appendChild(h);
        return;
      }
      var bullet = /^\s*[-*+]\s+/, numbered = /^\s*\d+[.)]\s+/;
      if (lines.every(function (l) { return bullet.test(l); }) ||
          lines.every(function (l) { return numbered.test(l); })) {
        var list = document.createElement(bullet.test(lines[0]) ? "ul" : "ol");
        lines.forEach(function (l) {
          var li = document.createElement("li");
          inline(li, l.replace(bullet, "").replace(numbered, ""));
          list.appendChild(li);
        });
        target.appendChild(list);
        return;
      }
      var quote = lines.every(function (l) { return /^\s*>/.test(l); });
      var p = document.createElement("p");
      inline(p, lines.map(function (l) { return quote ? l.replace(/^\s*>\s?/, "") : l.trim(); }).join(" "));
      if (quote) {
        var bq = document.createElement("blockquote");
        bq.appendChild(p);
        target.appendChild(bq);
      } else {
        target.appendChild(p);
      }
    });
  }

  function preview(el) {
    var target = document.getElementById(el.dataset.preview);
    if (target) { renderMarkdown(target, el.value); }
  }

  // -- live reload: poll the version; reload the preview, or the page when the files changed
  // under us; never while the editor is typing or a save is on its way ------------------
  var live = document.getElementById("live");

  function liveShow(ok) {
    if (!live) { return; }
    live.textContent = ok ? t("live") : (live.getAttribute("data-off") || t("offline"));
    live.className = ok ? "muted" : "off";
  }

  function saveScroll() {
    var positions = { page: window.scrollY };
    document.querySelectorAll("iframe").forEach(function (f) {
      try { positions[f.id] = f.contentWindow.scrollY; } catch (e) { /* not loaded */ }
    });
    try { sessionStorage.setItem(scrollKey, JSON.stringify(positions)); } catch (e) { /* ignore */ }
  }

  function restoreScroll() {
    var saved = {};
    try { saved = JSON.parse(sessionStorage.getItem(scrollKey) || "{}"); } catch (e) { saved = {}; }
    try { sessionStorage.removeItem(scrollKey); } catch (e) { /* ignore */ }
    if (saved.page) { window.scrollTo(0, saved.page); }
    document.querySelectorAll("iframe").forEach(function (f) {
      f.addEventListener("load", function () {
        try { if (saved[f.id]) { f.contentWindow.scrollTo(0, saved[f.id]); } } catch (e) { /* ignore */ }
      }, { once: true });
    });
  }

  function reloadPage() {
    keepUnsaved();
    saveScroll();
    location.reload();
  }

  function refreshPreview() {
    var frames = document.querySelectorAll("iframe");
    if (!frames.length && api) { reloadPage(); return; }
    frames.forEach(function (f) {
      var y = 0;
      try { y = f.contentWindow.scrollY; } catch (e) { y = 0; }
      f.addEventListener("load", function () {
        try { f.contentWindow.scrollTo(0, y); } catch (e) { /* ignore */ }
      }, { once: true });
      try { f.contentWindow.location.reload(); } catch (e) { f.src = f.src; }
    });
    var text = document.getElementById("texte");
    if (text && day) {
      fetch("/" + day + "/email.txt", { cache: "no-store", credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (value) { text.textContent = value; })
        .catch(function () { /* the next poll tries again */ });
    }
  }

  function changed(seen) {
    if (!api) { reloadPage(); return Promise.resolve(); }
    // The issue page: did the files change, or only what renders it?
    var writes = state.writes;
    return fetch(api, { cache: "no-store", credentials: "same-origin",
                        headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        var etag = r.headers.get("ETag");
        return r.json().then(function (data) {
          // One of our writes answered meanwhile: this read may predate it; the next poll
          // looks again (the version is left as it was).
          if (state.writes !== writes || state.busy) { return; }
          if (etag && etag !== state.etag) {
            if (typing()) { return; }
            reloadPage();
            return;
          }
          state.version = seen;
          apply(data);
          refreshPreview();
        });
      });
  }

  function poll() {
    var url = body.dataset.versionUrl;
    if (!url) { return; }
    fetch(url, { cache: "no-store", credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.text();
    }).then(function (seen) {
      liveShow(true);
      seen = seen.trim();
      if (seen === state.version || state.conflict || state.busy || typing()) {
        setTimeout(poll, pollMs);
        return null;
      }
      return changed(seen).then(function () { setTimeout(poll, pollMs); });
    }).catch(function () {
      liveShow(false);
      setTimeout(poll, pollMs * 3);
    });
  }

  // -- wiring --------------------------------------------------------------------------------
  function setup() {
    // The script restores the scroll itself (after a reload, or to a new item): the
    // browser's own restoration would undo it once the page has loaded.
    if ("scrollRestoration" in history) { history.scrollRestoration = "manual"; }
    fields().forEach(function (el) { el._saved = valueOf(el); });
    restoreUnsaved();
    restoreScroll();

    document.addEventListener("keydown", function (event) {
      if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-field")) {
        state.lastKey = Date.now();
      }
    });
    document.addEventListener("input", function (event) {
      var el = event.target;
      if (!el.hasAttribute || !el.hasAttribute("data-field")) { return; }
      state.lastKey = Date.now();
      if (isText(el)) { el.classList.toggle("unsaved", dirty(el)); }
      if (el.dataset.preview) { preview(el); }
      keepUnsaved();
    });
    document.addEventListener("change", function (event) {
      if (event.target.hasAttribute && event.target.hasAttribute("data-field")) { save(event.target); }
    });
    document.addEventListener("focusout", function (event) {
      var el = event.target;
      if (el.hasAttribute && el.hasAttribute("data-field") && isText(el)) { save(el); }
    });
    document.addEventListener("click", function (event) {
      var target = event.target.closest ? event.target.closest("button, a[data-focus]") : null;
      if (!target) { return; }
      if (target.hasAttribute("data-move")) {
        var li = target.closest("li.item");
        if (li) { move(li, target.getAttribute("data-move") === "up" ? -1 : 1, target); }
      } else if (target.getAttribute("data-action") === "test") {
        sendTest(target);
      } else if (target.getAttribute("data-action") === "approve") {
        approve(target);
      } else if (target.hasAttribute("data-focus")) {
        event.preventDefault();
        focusItem(target.getAttribute("data-focus"));
      }
    });
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.id === "ajout") { event.preventDefault(); addFromLink(form); }
      else if (form.classList.contains("image-form")) { event.preventDefault(); uploadImage(form); }
    });
    setupDrag();
    if (location.hash) { focusItem(location.hash.slice(1), true); }
    setTimeout(poll, pollMs);
  }

  function focusItem(id, quiet) {
    var li = document.getElementById(id);
    if (!li || !li.classList.contains("item")) { return; }
    var field = li.querySelector('[data-field="title"]') || li;
    li.scrollIntoView({ block: "center" });
    field.focus({ preventScroll: true });
    li.classList.add("flash");
    setTimeout(function () { li.classList.remove("flash"); }, 2000);
    if (!quiet) { history.replaceState(null, "", "#" + id); }
  }

  function flush() {
    // Saves what is typed in the focused field before an action that reads the files.
    var active = document.activeElement;
    if (active && active.hasAttribute && active.hasAttribute("data-field")) { save(active); }
  }

  function withButton(button, promise) {
    button.disabled = true;
    return promise.then(function (answer) { button.disabled = false; return answer; });
  }

  function sendTest(button) {
    flush();
    withButton(button, write("POST", api + "/test", {})).then(function (answer) {
      if (!answer.ok) { return; }
      var test = answer.data.test || {};
      if (test.error) { showError(t("test_failed", { error: test.error })); return; }
      var to = (test.recipients || []).join(", ");
      say(to ? t("test_sent_to", { to: to }) : t("test_sent"));
    });
  }

  function approve(button) {
    flush();
    withButton(button, write("POST", api + "/approve", {})).then(function (answer) {
      if (answer.ok) { say(t("approved")); }
    });
  }

  // After an add or an upload the page is made again by the server; what is typed and not
  // saved yet in other fields goes along (keepUnsaved) and comes back after the reload.
  function reloadAfter(message) {
    say(message);
    queue.then(function () { if (!state.conflict) { reloadPage(); } });
  }

  function addFromLink(form) {
    var input = form.querySelector('input[name="url"]');
    var button = form.querySelector('button[type="submit"]');
    flush();
    withButton(button, write("POST", api + "/items", { url: input.value.trim() })).then(function (answer) {
      if (!answer.ok) { return; }
      input.value = "";
      var known = {};
      document.querySelectorAll("li.item[data-item-id]").forEach(function (li) {
        known[li.getAttribute("data-item-id")] = true;
      });
      var created = answer.data.created;
      if (!created) {
        var fresh = (answer.data.items || []).filter(function (i) { return !known[i.id]; })[0];
        created = fresh ? fresh.id : null;
      }
      if (created) { try { sessionStorage.setItem("desk-focus:" + day, created); } catch (e) { /* ignore */ } }
      reloadAfter(t("added"));
    });
  }

  function uploadImage(form) {
    var button = form.querySelector('button[type="submit"]');
    var data = new FormData(form);
    data.set("item", form.getAttribute("data-item"));
    flush();
    withButton(button, write("POST", api + "/images", data, true)).then(function (answer) {
      if (answer.ok) { reloadAfter(t("uploaded")); }
    });
  }

  function focusAdded() {
    var id = null;
    try { id = sessionStorage.getItem("desk-focus:" + day); sessionStorage.removeItem("desk-focus:" + day); } catch (e) { id = null; }
    if (!id) { return; }
    var li = itemElement(id);
    if (li) { focusItem(li.id, true); }
  }

  setup();
  focusAdded();
}());
