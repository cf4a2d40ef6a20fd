// simapp-sync review page: filter by status, search, j/k (or n/p) between patches, and
// unified / side-by-side interdiffs. No network, no dependencies.
(function () {
  "use strict";
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.patch"));
  var rows = {};
  Array.prototype.forEach.call(document.querySelectorAll("tr[data-patch]"), function (row) {
    rows[row.getAttribute("data-patch")] = row;
  });
  var boxes = Array.prototype.slice.call(document.querySelectorAll("#filters input"));
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var texts = sections.map(function (section) { return section.textContent.toLowerCase(); });
  var current = -1;

  function apply() {
    var active = {};
    boxes.forEach(function (box) { if (box.checked) { active[box.value] = true; } });
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    sections.forEach(function (section, index) {
      var visible = !!active[section.getAttribute("data-status")] &&
        words.every(function (word) { return texts[index].indexOf(word) >= 0; });
      section.hidden = !visible;
      if (rows[section.id]) { rows[section.id].hidden = !visible; }
      if (visible) { count += 1; }
    });
    shown.textContent = count + " of " + sections.length + " patches shown";
    document.body.setAttribute("data-shown", String(count));
    if (current >= 0 && sections[current].hidden) { select(-1); }
  }

  function select(index) {
    if (current >= 0) { sections[current].classList.remove("current"); }
    current = index;
    document.body.setAttribute("data-current", index >= 0 ? sections[index].id : "");
    if (index < 0) { return; }
    sections[index].classList.add("current");
    sections[index].scrollIntoView({ block: "start" });
    sections[index].focus({ preventScroll: true });
  }

  function move(step) {
    var visible = sections.filter(function (section) { return !section.hidden; });
    if (!visible.length) { return; }
    var at = current >= 0 ? visible.indexOf(sections[current]) : -1;
    var next = at < 0 ? (step > 0 ? 0 : visible.length - 1) : at + step;
    next = Math.max(0, Math.min(visible.length - 1, next));
    select(sections.indexOf(visible[next]));
  }

  function setView(split) {
    document.body.classList.toggle("split", split);
    document.getElementById("view-unified").setAttribute("aria-pressed", String(!split));
    document.getElementById("view-split").setAttribute("aria-pressed", String(split));
  }

  function toggleCurrent() {
    if (current < 0) { return; }
    var details = sections[current].querySelector("details");
    if (details) { details.open = !details.open; }
  }

  document.addEventListener("keydown", function (event) {
    if (event.target === search) {
      if (event.key === "Escape" || event.key === "Enter") { search.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var actions = {
      j: function () { move(1); }, n: function () { move(1); },
      k: function () { move(-1); }, p: function () { move(-1); },
      "/": function () { search.focus(); search.select(); },
      u: function () { setView(false); }, s: function () { setView(true); },
      o: toggleCurrent,
      Escape: function () { select(-1); }
    };
    if (actions[event.key]) {
      event.preventDefault();
      actions[event.key]();
    }
  });
  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  search.addEventListener("input", apply);
  document.getElementById("view-unified").addEventListener("click", function () {
    setView(false);
  });
  document.getElementById("view-split").addEventListener("click", function () {
    setView(true);
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-only]"), function (button) {
    button.addEventListener("click", function () {
      var wanted = button.getAttribute("data-only").split(" ");
      boxes.forEach(function (box) {
        box.checked = wanted[0] === "*" || wanted.indexOf(box.value) >= 0;
      });
      apply();
    });
  });
  sections.forEach(function (section, index) {
    section.addEventListener("click", function () {
      if (current !== index) {
        if (current >= 0) { sections[current].classList.remove("current"); }
        current = index;
        section.classList.add("current");
        document.body.setAttribute("data-current", section.id);
      }
    });
  });
  apply();
  document.body.setAttribute("data-ready", "1");
})();
