// alertsync console: the little behaviour the server-rendered pages need.
//  * /runs: live counts and rows (server-sent events from /console/events);
//  * /runs/{id}: the node panel, iterations, rerun buttons, reload while the run runs;
//  * /playbooks: the enable/disable switches;
//  * JSON trees: expand all, collapse all, raw JSON.
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  function say(text, isError) {
    var box = $("#action-message");
    if (!box) { return; }
    box.textContent = text;
    box.classList.toggle("error", !!isError);
    box.hidden = false;
  }

  // POSTs to the API (same origin: the session cookie, or no token, authenticates).
  function post(url) {
    return fetch(url, { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.text().then(function (text) {
          var body = {};
          try { body = text ? JSON.parse(text) : {}; } catch (e) { body = {}; }
          if (!response.ok) {
            var detail = typeof body.detail === "string" ? body.detail : (body.error || response.statusText);
            throw new Error(detail || ("HTTP " + response.status));
          }
          return body;
        });
      });
  }

  // Server-sent events naming run changes; `onRuns` gets the parsed data.
  // Each connection starts with the current state; only changes are passed on, the first
  // state included.
  function followRuns(query, onRuns) {
    if (!window.EventSource) { return; }
    var last = null;
    var source = new EventSource("/console/events" + (query ? "?" + query : ""));
    source.addEventListener("runs", function (event) {
      if (event.data === last) { return; }
      var first = last === null;
      last = event.data;
      var data = null;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      onRuns(data, first);
    });
  }

  // ----- /runs -----
  function runsPage() {
    var table = $("table#runs");
    if (!table) { return; }
    var tbody = $("tbody", table);
    var params = new URLSearchParams(window.location.search);
    var filterQuery = table.getAttribute("data-query") || "";
    var paged = params.has("before");

    function refreshRows() {
      var query = new URLSearchParams(window.location.search);
      query.set("fragment", "rows");
      query.delete("rerun_of");
      return fetch("/runs?" + query.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var known = {};
          $all("tr[data-run-id]", tbody).forEach(function (row) { known[row.getAttribute("data-run-id")] = row.getAttribute("data-status"); });
          tbody.innerHTML = html;
          $all("tr[data-run-id]", tbody).forEach(function (row) {
            var id = row.getAttribute("data-run-id");
            if (!(id in known) || known[id] !== row.getAttribute("data-status")) { row.classList.add("fresh"); }
          });
        });
    }

    followRuns(filterQuery, function (data) {
      if (data.counts) {
        Object.keys(data.counts).forEach(function (status) {
          var span = $('#run-counts .count[data-status="' + status + '"]');
          if (span) { span.textContent = String(data.counts[status]); }
        });
      }
      if (!paged) { refreshRows(); }
    });

    var form = $("#run-filters");
    if (form) {
      $all("select", form).forEach(function (select) {
        select.addEventListener("change", function () { form.submit(); });
      });
    }
  }

  // ----- /runs/{id} -----
  function runPage() {
    var panel = $("#node-panel");
    if (!panel) { return; }

    function showRecord(seq) {
      $all(".record", panel).forEach(function (record) {
        record.hidden = record.getAttribute("data-seq") !== seq;
      });
      $all("ol.iterations a", panel).forEach(function (link) {
        link.classList.toggle("current", link.getAttribute("data-seq") === seq);
      });
    }

    function open(nodeId, seq) {
      var template = null;
      $all("template.node-detail").forEach(function (t) {
        if (t.getAttribute("data-node-id") === nodeId) { template = t; }
      });
      if (!template) { return; }
      panel.textContent = "";
      panel.appendChild(document.importNode(template.content, true));
      panel.setAttribute("data-node-id", nodeId);
      panel.hidden = false;
      $all("#graph g.node").forEach(function (g) {
        g.classList.toggle("selected", g.getAttribute("data-node-id") === nodeId);
      });
      $all("ol.iterations a", panel).forEach(function (link) {
        link.addEventListener("click", function (event) {
          event.preventDefault();
          showRecord(link.getAttribute("data-seq"));
        });
      });
      var close = $(".close", panel);
      if (close) {
        close.addEventListener("click", function () {
          panel.hidden = true;
          $all("#graph g.node.selected").forEach(function (g) { g.classList.remove("selected"); });
          if (window.history && window.history.replaceState) {
            window.history.replaceState(null, "", window.location.pathname + window.location.search);
          }
        });
      }
      if (seq && $('.record[data-seq="' + seq + '"]', panel)) { showRecord(seq); }
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "#node-" + encodeURIComponent(nodeId));
      }
    }

    $all("#graph g.node").forEach(function (g) {
      var id = g.getAttribute("data-node-id");
      g.addEventListener("click", function () { open(id); });
      g.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(id); }
      });
    });
    $all("a.open-node").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        open(link.getAttribute("data-node-id"), link.getAttribute("data-seq"));
        panel.scrollIntoView({ block: "nearest" });
      });
    });

    // `#node-<id>` in the address opens that node, so a node's detail can be linked to.
    var hash = window.location.hash;
    if (hash.indexOf("#node-") === 0) {
      try { open(decodeURIComponent(hash.slice(6))); } catch (e) { /* a malformed address opens nothing */ }
    }

    function rerun(button, onlyFailed) {
      if (!button) { return; }
      button.addEventListener("click", function () {
        var runId = button.getAttribute("data-run-id");
        var playbookId = button.getAttribute("data-playbook-id");
        button.disabled = true;
        post("/api/v1/runs/" + encodeURIComponent(runId) + "/rerun" + (onlyFailed ? "?only=failed" : ""))
          .then(function () {
            window.location.href = "/runs?playbook=" + encodeURIComponent(playbookId) + "&rerun_of=" + encodeURIComponent(runId);
          })
          .catch(function (error) {
            button.disabled = false;
            say("Rerun refused: " + error.message, true);
          });
      });
    }
    rerun($("#rerun-all"), false);
    rerun($("#rerun-failed"), true);

    // A dead letter nobody will replay is dismissed: it no longer makes the service unhealthy.
    var dismiss = $("#dismiss");
    if (dismiss) {
      dismiss.addEventListener("click", function () {
        dismiss.disabled = true;
        post("/api/v1/runs/" + encodeURIComponent(dismiss.getAttribute("data-run-id")) + "/dismiss")
          .then(function () { window.location.reload(); })
          .catch(function (error) {
            dismiss.disabled = false;
            say("Dismiss refused: " + error.message, true);
          });
      });
    }

    // While the run runs, reload the page when runs of its playbook change.
    var header = $("#run");
    if (header && header.getAttribute("data-status") === "running") {
      followRuns("playbook=" + encodeURIComponent(header.getAttribute("data-playbook-id") || ""), function (data, first) {
        if (!first) { window.location.reload(); }
      });
    }
  }

  // ----- /playbooks -----
  function playbookToggles() {
    $all("button.toggle[data-playbook-id]").forEach(function (button) {
      button.addEventListener("click", function () {
        var id = button.getAttribute("data-playbook-id");
        var enable = button.getAttribute("data-enabled") !== "true";
        button.disabled = true;
        post("/api/v1/playbooks/" + encodeURIComponent(id) + "/" + (enable ? "enable" : "disable"))
          .then(function () { window.location.reload(); })
          .catch(function (error) {
            button.disabled = false;
            say("Could not " + (enable ? "enable" : "disable") + " the playbook: " + error.message, true);
          });
      });
    });
  }

  // ----- JSON trees (anywhere, the node panel's copies included) -----
  function jsonTools() {
    document.addEventListener("click", function (event) {
      var button = event.target && event.target.closest ? event.target.closest(".json-tools button[data-json]") : null;
      if (!button) { return; }
      var box = button.closest(".json");
      var what = button.getAttribute("data-json");
      if (what === "raw") {
        var raw = $(".json-raw", box);
        var tree = $(".json-tree", box);
        var showRaw = raw.hidden;
        raw.hidden = !showRaw;
        tree.hidden = showRaw;
        button.setAttribute("aria-pressed", String(showRaw));
        return;
      }
      $all("details.j", box).forEach(function (details) { details.open = what === "expand"; });
    });
  }

  function start() {
    runsPage();
    runPage();
    playbookToggles();
    jsonTools();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
