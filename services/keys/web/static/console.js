// The Coding page's behaviour: dialogs, writes with the CSRF token, list refreshes.
// A new key lives only in the key dialog's DOM until it closes; nothing is stored anywhere.
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const texts = document.getElementById("texts");

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, name) => (name in values ? values[name] : ""));
  }

  async function call(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = csrfMeta ? csrfMeta.content : "";
    }
    let response;
    try {
      response = await fetch(url, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin", cache: "no-store",
      });
    } catch (err) {
      throw new Error(fill(texts.dataset.error, { detail: String(err.message || err) }));
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : "HTTP " + response.status;
      throw new Error(fill(texts.dataset.error, { detail }));
    }
    return data;
  }

  function showError(dialog, message) {
    const box = dialog.querySelector(".error");
    box.textContent = message;
    box.hidden = !message;
  }

  function notice(message) {
    const box = document.getElementById("notice");
    if (box) { box.textContent = message; }
  }

  async function refreshList() {
    const section = document.getElementById("people");
    if (!section) { return; }
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (response.ok) { section.innerHTML = await response.text(); }
  }

  function formValues(form) {
    const data = {};
    for (const [name, value] of new FormData(form).entries()) {
      if (value !== "") { data[name] = value; }
    }
    return data;
  }

  // ---- one user's key ----
  const keyDialog = document.getElementById("key-dialog");
  let keyTarget = null;

  function forgetKey() {
    const slot = document.getElementById("key-slot");
    while (slot.firstChild) { slot.removeChild(slot.firstChild); }
    keyDialog.querySelector(".copied").textContent = "";
    document.getElementById("key-result").hidden = true;
    document.getElementById("key-form").hidden = false;
    keyTarget = null;
  }

  function openKeyDialog(button) {
    forgetKey();
    keyTarget = { user: button.dataset.user, replace: button.dataset.replace === "1" };
    const title = keyTarget.replace ? texts.dataset.replaceTitle : texts.dataset.newTitle;
    document.getElementById("key-dialog-title").textContent = fill(title, { name: button.dataset.name });
    for (const label of keyDialog.querySelectorAll("label[data-template]")) {
      label.textContent = fill(label.dataset.template, { zone: button.dataset.zone });
    }
    showError(keyDialog, "");
    keyDialog.showModal();
    document.getElementById("key-budget").focus();
  }

  async function saveKey(event) {
    event.preventDefault();
    const values = formValues(event.target);
    values.replace = keyTarget.replace;
    try {
      const made = await call("POST", "/console/api/users/" + encodeURIComponent(keyTarget.user) + "/keys", values);
      const code = document.createElement("code");
      code.id = "new-key";
      code.textContent = made.key;
      document.getElementById("key-slot").appendChild(code);
      document.getElementById("key-form").hidden = true;
      document.getElementById("key-result").hidden = false;
      showError(keyDialog, "");
      document.getElementById("copy-key").focus();
      refreshList();
    } catch (err) {
      showError(keyDialog, err.message);
    }
  }

  async function copyKey() {
    const code = document.getElementById("new-key");
    if (!code) { return; }
    try {
      await navigator.clipboard.writeText(code.textContent);
      keyDialog.querySelector(".copied").textContent = texts.dataset.copied;
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(code);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
    }
  }

  // ---- confirmations (one key, a group's keys) ----
  const confirmDialog = document.getElementById("confirm-dialog");
  let onConfirm = null;

  function askConfirmation(message, count, action) {
    document.getElementById("confirm-text").textContent = message;
    showError(confirmDialog, "");
    onConfirm = count > 0 ? action : null;
    const yes = document.getElementById("confirm-yes");
    yes.disabled = count === 0;
    confirmDialog.showModal();
    (count > 0 ? yes : confirmDialog.querySelector("[data-close]")).focus();
  }

  async function confirmed() {
    if (!onConfirm) { return; }
    try {
      const result = await onConfirm();
      onConfirm = null;
      confirmDialog.close();
      notice(result.message);
      await refreshList();
    } catch (err) {
      showError(confirmDialog, err.message);
    }
  }

  async function revokeOne(button) {
    const key = encodeURIComponent(button.dataset.key);
    try {
      const preview = await call("GET", "/console/api/keys/" + key + "/revocation");
      askConfirmation(preview.message, preview.count,
        () => call("POST", "/console/api/keys/" + key + "/revoke", {}));
    } catch (err) { notice(err.message); }
  }

  async function revokeGroup(button) {
    const group = encodeURIComponent(button.dataset.group);
    try {
      const preview = await call("GET", "/console/api/groups/" + group + "/revocation");
      askConfirmation(preview.message, preview.count, () => call(
        "POST", "/console/api/groups/" + group + "/revocation",
        { confirmation_token: preview.confirmation_token }));
    } catch (err) { notice(err.message); }
  }

  // ---- a group's keys and their PDF sheet ----
  const groupDialog = document.getElementById("group-dialog");
  let groupSpec = null;
  let sheetUrl = null;

  function resetGroupDialog() {
    if (sheetUrl) { URL.revokeObjectURL(sheetUrl); sheetUrl = null; }
    const link = document.getElementById("sheet-link");
    link.removeAttribute("download");
    link.setAttribute("href", "#");
    groupSpec = null;
    document.getElementById("group-form").hidden = false;
    document.getElementById("group-plan").hidden = true;
    document.getElementById("group-done").hidden = true;
    showError(groupDialog, "");
  }

  function openGroupDialog() {
    resetGroupDialog();
    groupDialog.showModal();
    document.getElementById("group-budget").focus();
  }

  // What the administrator chose, in the form's own (translated) labels.
  function describe(form) {
    const parts = [];
    for (const field of form.querySelectorAll("input, select")) {
      const label = form.querySelector('label[for="' + field.id + '"]');
      const value = field.tagName === "SELECT" ? field.selectedOptions[0].textContent : field.value;
      if (label && value) { parts.push(label.textContent + ": " + value.replace("T", " ")); }
    }
    return parts.join(" · ");
  }

  async function planGroup(event) {
    event.preventDefault();
    groupSpec = formValues(event.target);
    const group = encodeURIComponent(groupDialog.dataset.group);
    try {
      const plan = await call("GET", "/console/api/groups/" + group + "/plan");
      document.getElementById("plan-spec").textContent = describe(event.target);
      document.getElementById("plan-text").textContent = plan.message;
      document.getElementById("plan-skipped").textContent = plan.skipped_message;
      document.getElementById("group-create").disabled = plan.count === 0;
      document.getElementById("group-form").hidden = true;
      document.getElementById("group-plan").hidden = false;
      showError(groupDialog, "");
      document.getElementById(plan.count === 0 ? "plan-text" : "group-create").focus();
    } catch (err) { showError(groupDialog, err.message); }
  }

  function deliver(made) {
    const bytes = Uint8Array.from(atob(made.sheet_pdf_base64), (c) => c.charCodeAt(0));
    sheetUrl = URL.createObjectURL(new Blob([bytes], { type: "application/pdf" }));
    const link = document.getElementById("sheet-link");
    link.href = sheetUrl;
    link.download = made.filename;
    link.click();  // started from the administrator's own click: no popup blocker stops it
  }

  async function createGroupKeys() {
    const button = document.getElementById("group-create");
    button.disabled = true;
    const group = encodeURIComponent(groupDialog.dataset.group);
    try {
      const made = await call("POST", "/console/api/groups/" + group + "/keys", groupSpec);
      document.getElementById("done-text").textContent = made.message;
      document.getElementById("group-plan").hidden = true;
      document.getElementById("group-done").hidden = false;
      deliver(made);
      document.getElementById("sheet-link").focus();
      refreshList();
    } catch (err) {
      showError(groupDialog, err.message);
      button.disabled = false;
    }
  }

  // ---- wiring (delegated: the list is replaced after every change) ----
  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-action], [data-close]");
    if (!target) { return; }
    if (target.hasAttribute("data-close")) {
      const dialog = target.closest("dialog");
      // Forget at once, not only when "close" is dispatched (Escape still goes that way).
      if (dialog === keyDialog) { forgetKey(); }
      if (dialog === groupDialog) { resetGroupDialog(); }
      dialog.close();
      return;
    }
    const action = target.dataset.action;
    if (action === "key") { openKeyDialog(target); }
    if (action === "revoke") { revokeOne(target); }
    if (action === "group-revoke") { revokeGroup(target); }
    if (action === "group-keys") { groupDialog.dataset.group = target.dataset.group; openGroupDialog(); }
  });
  if (keyDialog) {
    document.getElementById("key-form").addEventListener("submit", saveKey);
    document.getElementById("copy-key").addEventListener("click", copyKey);
    keyDialog.addEventListener("close", forgetKey);
  }
  if (confirmDialog) {
    document.getElementById("confirm-yes").addEventListener("click", confirmed);
    confirmDialog.addEventListener("close", () => { onConfirm = null; });
  }
  if (groupDialog) {
    document.getElementById("group-form").addEventListener("submit", planGroup);
    document.getElementById("group-create").addEventListener("click", createGroupKeys);
    groupDialog.addEventListener("close", resetGroupDialog);
  }
  for (const select of document.querySelectorAll("select#group, select#school")) {
    select.addEventListener("change", () => select.form.submit());
  }
})();
