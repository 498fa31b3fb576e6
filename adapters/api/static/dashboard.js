// Quorum dashboard: log in, the action buttons, panel refreshes and the live feed.
// No library. Every call is same-origin: the session cookie (HttpOnly) authenticates it,
// so this script never sees a token. A refusal is shown as the server's "CODE: message".
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const FEED_MAX = 100;
  const REFRESH_MS = 60000; // each refresh is an audited read

  async function call(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      return { ok: false, status: 0, error: { code: "NETWORK", message: "NETWORK: " + err } };
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (response.ok) return { ok: true, status: response.status, data };
    const error = (data && data.error) || { code: "HTTP_" + response.status, message: response.statusText };
    return { ok: false, status: response.status, error };
  }

  function flash(text, kind, code) {
    const el = $("#flash");
    if (!el) return;
    el.textContent = text;
    el.className = "flash " + (kind || "info");
    if (code) el.dataset.code = code; else delete el.dataset.code;
    el.hidden = false;
    el.title = "click to dismiss";
    el.onclick = () => { el.hidden = true; }; // it is sticky: out of the way on demand
  }

  async function refresh(names) {
    for (const name of names) {
      const el = document.querySelector('[data-panel="' + name + '"]');
      if (!el) continue;
      const response = await fetch("/ui/panels/" + name, { credentials: "same-origin" });
      if (response.status === 401) { window.location.reload(); return; }
      if (response.ok) el.innerHTML = await response.text();
    }
  }

  // -- the dialog: a reason and/or a TOTP code, then the call -------------------------------
  function ask(options) {
    const dialog = $("#ask");
    $("#ask-title").textContent = options.title;
    $("#ask-text").textContent = options.text || "";
    const reason = $("#ask-reason"), totp = $("#ask-totp"), error = $("#ask-error");
    reason.value = ""; totp.value = ""; error.hidden = true;
    reason.hidden = $("#ask-reason-label").hidden = !options.reason;
    reason.required = !!options.reason;
    totp.hidden = $("#ask-totp-label").hidden = !options.totp;
    totp.required = !!options.totp;
    dialog.onsubmit = async (event) => {
      event.preventDefault();
      const result = await options.send({ reason: reason.value.trim(), totp: totp.value.trim() });
      if (result.ok) {
        dialog.close();
        flash(result.data.message, "ok");
        await refresh(options.refresh);
      } else {
        error.textContent = result.error.message;
        error.dataset.code = result.error.code;
        error.hidden = false;
        flash(result.error.message, "error", result.error.code);
      }
    };
    $("#ask-cancel").onclick = () => dialog.close();
    dialog.showModal();
    (options.reason ? reason : totp).focus();
  }

  function onClick(event) {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.trading) {
      const action = button.dataset.trading;
      const needsTotp = button.dataset.totp === "1";
      ask({
        title: action[0].toUpperCase() + action.slice(1),
        text: needsTotp ? "Needs an admin and a fresh one-time code." : "Kept in the audit.",
        reason: true,
        totp: needsTotp,
        refresh: ["state"],
        send: (v) => call("POST", "/api/v1/trading/" + action,
          needsTotp ? { reason: v.reason, totp: v.totp } : { reason: v.reason }),
      });
    } else if (button.dataset.approve) {
      const id = button.dataset.approve;
      ask({
        title: "Approve " + id,
        text: "Applies it as a new configuration version. Needs a fresh one-time code.",
        totp: true,
        refresh: ["proposals", "state"],
        send: (v) => call("POST", "/api/v1/proposals/" + encodeURIComponent(id) + "/approve", { totp: v.totp }),
      });
    } else if (button.dataset.reject) {
      const id = button.dataset.reject;
      ask({
        title: "Reject " + id,
        reason: true,
        refresh: ["proposals"],
        send: (v) => call("POST", "/api/v1/proposals/" + encodeURIComponent(id) + "/reject", { reason: v.reason }),
      });
    }
  }

  // -- the live feed ----------------------------------------------------------------------
  function feed() {
    const list = $("#feed-list"), status = $("#feed-status");
    if (!list || !window.EventSource) return;
    const source = new EventSource("/api/v1/feed");
    source.addEventListener("a2a", (event) => {
      const m = JSON.parse(event.data);
      const li = document.createElement("li");
      li.dataset.kind = m.kind;
      const head = document.createElement("span");
      head.className = "sender";
      head.textContent = m.desk + " · " + m.sender;
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = m.kind;
      if (m.says.startsWith(m.kind)) li.append(head, " " + m.says);
      else li.append(head, " ", kind, " " + m.says);
      list.prepend(li);
      while (list.children.length > FEED_MAX) list.lastChild.remove();
    });
    source.addEventListener("ready", (event) => {
      const info = JSON.parse(event.data);
      status.textContent = "live via " + info.via;
      status.dataset.live = "1";
    });
    source.addEventListener("heartbeat", (event) => {
      const info = JSON.parse(event.data);
      status.textContent = "live via " + info.via + " · " + new Date().toLocaleTimeString();
    });
    source.onerror = () => { status.textContent = "reconnecting…"; status.dataset.live = "0"; };
  }

  // -- log in / out -----------------------------------------------------------------------
  function loginForm() {
    const form = $("#login-form");
    if (!form) return false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = await call("POST", "/login", { token: $("#token").value.trim() });
      if (result.ok) { window.location.reload(); return; }
      const error = $("#login-error");
      error.textContent = result.error.message;
      error.dataset.code = result.error.code;
      error.hidden = false;
    });
    return true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (loginForm()) return;
    document.addEventListener("click", onClick);
    const logout = $("#logout-button");
    if (logout) logout.onclick = async () => { await call("POST", "/logout"); window.location.reload(); };
    const again = $("#refresh-button");
    if (again) again.onclick = () => refresh(["state", "charts", "positions", "proposals", "desks"]);
    window.setInterval(() => refresh(["state"]), REFRESH_MS);
    feed();
  });
})();
