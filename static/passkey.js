// Latch: passkeys (WebAuthn). Loaded only by the sign-in page and Settings; served from this
// site (the page CSP allows `script-src 'self'` and `connect-src 'self'`, nothing else).
//
// Sign-in page: <button id="passkey-signin" hidden> becomes visible when the browser has
// WebAuthn; pressing it asks the server for a challenge, the browser for any passkey of this
// site, and posts the signed answer back. Settings: <form id="passkey-add"> does the same
// to register a new passkey under the name typed. The server answers JSON: {"redirect": path}
// on success, {"error": message} otherwise.
(function () {
  "use strict";

  function b64urlToBuf(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          throw new Error(data.error || (res.status === 429
            ? "Too many attempts. Wait a little and try again."
            : "Something went wrong. Reload the page and try again."));
        }
        return data;
      });
    });
  }

  function say(el, message) {
    if (!el) return;
    el.textContent = message;
    el.hidden = !message;
  }

  // The browser refused or the person cancelled: say so plainly.
  function browserMessage(err) {
    if (err && err.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
    if (err && err.name === "InvalidStateError") return "This device already has a passkey for your account.";
    return (err && err.message) || "The passkey could not be used.";
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  function signIn(button) {
    var form = document.querySelector("form[action='/login']");
    var csrf = form && form.querySelector("input[name='csrf']");
    var next = form && form.querySelector("input[name='next']");
    var status = document.getElementById("passkey-status");
    say(status, "");
    button.disabled = true;
    post("/login/passkey/begin", { csrf: csrf ? csrf.value : "" })
      .then(function (options) {
        var pk = options.publicKey;
        pk.challenge = b64urlToBuf(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
        return navigator.credentials.get({ publicKey: pk });
      })
      .then(function (cred) {
        var r = cred.response;
        return post("/login/passkey/finish", {
          csrf: csrf ? csrf.value : "",
          next: next ? next.value : "/",
          credential: {
            id: cred.id,
            rawId: bufToB64url(cred.rawId),
            type: cred.type,
            response: {
              authenticatorData: bufToB64url(r.authenticatorData),
              clientDataJSON: bufToB64url(r.clientDataJSON),
              signature: bufToB64url(r.signature),
              userHandle: r.userHandle ? bufToB64url(r.userHandle) : null
            },
            extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
          }
        });
      })
      .then(function (data) { window.location.assign(data.redirect || "/"); })
      .catch(function (err) {
        button.disabled = false;
        say(status, browserMessage(err));
      });
  }

  function register(form) {
    var csrf = form.querySelector("input[name='csrf']");
    var name = form.querySelector("input[name='name']");
    var status = document.getElementById("passkey-add-status");
    var button = form.querySelector("button[type='submit']");
    say(status, "");
    if (button) button.disabled = true;
    post("/dashboard/settings/passkeys/begin", { csrf: csrf.value })
      .then(function (options) {
        var pk = options.publicKey;
        pk.challenge = b64urlToBuf(pk.challenge);
        pk.user.id = b64urlToBuf(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
        return navigator.credentials.create({ publicKey: pk });
      })
      .then(function (cred) {
        var r = cred.response;
        return post("/dashboard/settings/passkeys/finish", {
          csrf: csrf.value,
          name: name.value,
          credential: {
            id: cred.id,
            rawId: bufToB64url(cred.rawId),
            type: cred.type,
            response: {
              attestationObject: bufToB64url(r.attestationObject),
              clientDataJSON: bufToB64url(r.clientDataJSON)
            },
            extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
          }
        });
      })
      .then(function (data) { window.location.assign(data.redirect || "/dashboard/settings/security"); })
      .catch(function (err) {
        if (button) button.disabled = false;
        say(status, browserMessage(err));
      });
  }

  function init() {
    var button = document.getElementById("passkey-signin");
    if (button && supported) {
      var group = document.getElementById("passkey-signin-group");
      if (group) group.hidden = false;
      button.addEventListener("click", function () { signIn(button); });
    }
    var form = document.getElementById("passkey-add");
    if (form) {
      if (!supported) return;
      var note = document.getElementById("passkey-unsupported");
      if (note) note.hidden = true;
      form.hidden = false;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        register(form);
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
