// The depositor page's resumable uploads: the tus 1.0 core protocol with `creation`
// (POST, then PATCH in chunks at Upload-Offset; after a failed chunk, HEAD and resume).
"use strict";
(function () {
  var form = document.getElementById("upload");
  if (!form) return;
  var CHUNK = 256 * 1024, TUS = "1.0.0";
  var list = document.getElementById("progress");
  function b64(text) {
    var bytes = new TextEncoder().encode(text), s = "";
    bytes.forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s);
  }
  function headers(more) {
    var h = { "Tus-Resumable": TUS, "X-CSRF-Token": form.dataset.csrf };
    Object.keys(more || {}).forEach(function (k) { h[k] = more[k]; });
    return h;
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  async function problem(response) {
    try { return (await response.json()).code || String(response.status); }
    catch (e) { return String(response.status); }
  }
  function row(file) {
    var li = document.createElement("li"), name = document.createElement("span");
    var bar = document.createElement("progress"), note = document.createElement("span");
    li.className = "upload"; name.className = "title"; note.className = "meta";
    name.textContent = file.name; bar.max = file.size || 1; bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    li.append(name, bar, note); list.append(li);
    return { li: li, bar: bar, note: note };
  }
  function fail(ui, code) {
    ui.li.dataset.state = "refused"; ui.li.dataset.code = code;
    ui.note.textContent = form.dataset.msgFailed + " (" + code + ")";
  }
  async function send(file) {
    var ui = row(file);
    var meta = "filename " + b64(file.name) + ",content_type " + b64("application/dicom");
    var created = await fetch(form.dataset.uploads, { method: "POST",
      headers: headers({ "Upload-Length": String(file.size), "Upload-Metadata": meta }) });
    if (created.status !== 201) return fail(ui, await problem(created));
    var at = created.headers.get("Location"), offset = 0, tries = 0;
    while (offset < file.size) {
      try {
        var sent = await fetch(at, { method: "PATCH", body: file.slice(offset, offset + CHUNK),
          headers: headers({ "Upload-Offset": String(offset),
            "Content-Type": "application/offset+octet-stream" }) });
        if (sent.status === 204) {
          offset = Number(sent.headers.get("Upload-Offset")); ui.bar.value = offset; tries = 0;
          continue;
        }
        if (sent.status !== 409 && sent.status < 500) return fail(ui, await problem(sent));
      } catch (e) { /* the connection dropped: resume below */ }
      if (++tries > 5) return fail(ui, "gave_up");
      ui.note.textContent = form.dataset.msgRetry;
      await sleep(300 * tries);
      var asked = await fetch(at, { method: "HEAD", headers: headers() });
      if (!asked.ok) return fail(ui, String(asked.status));
      offset = Number(asked.headers.get("Upload-Offset"));
    }
    ui.bar.value = file.size; ui.li.dataset.state = "received";
    ui.note.textContent = form.dataset.msgDone;
  }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var files = Array.prototype.slice.call(form.querySelector("input[type=file]").files);
    for (var i = 0; i < files.length; i++) await send(files[i]);
    form.dataset.finished = "true";
  });
})();
