// Keygate console: passkey registration and sign-in (WebAuthn). Loaded only by the
// pages that offer passkeys; no inline script, so the Content-Security-Policy holds.
// The server speaks JSON with binary fields in base64url; the browser's WebAuthn API
// wants ArrayBuffers. Each ceremony: ask the server for options, ask the browser for
// a credential, send it back, and go where the server says.
"use strict";

(function () {
  function fromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () {
        return {};
      }).then(function (data) {
        if (!response.ok) {
          throw new Error(data.message || "Something went wrong. Try again.");
        }
        return data;
      });
    });
  }

  function credentialIds(list) {
    (list || []).forEach(function (c) {
      c.id = fromBase64url(c.id);
    });
  }

  function register(section) {
    var token = section.dataset.csrfToken;
    return post(section.dataset.options, { csrf_token: token })
      .then(function (options) {
        var publicKey = options.publicKey;
        publicKey.challenge = fromBase64url(publicKey.challenge);
        publicKey.user.id = fromBase64url(publicKey.user.id);
        credentialIds(publicKey.excludeCredentials);
        return navigator.credentials.create({ publicKey: publicKey });
      })
      .then(function (credential) {
        var response = credential.response;
        return post(section.dataset.finish, {
          csrf_token: token,
          credential: {
            id: credential.id,
            rawId: toBase64url(credential.rawId),
            type: credential.type,
            extensions: credential.getClientExtensionResults(),
            response: {
              attestationObject: toBase64url(response.attestationObject),
              clientDataJSON: toBase64url(response.clientDataJSON),
              transports: response.getTransports ? response.getTransports() : []
            }
          }
        });
      });
  }

  function signIn(section) {
    var token = section.dataset.csrfToken;
    return post("/console/sign-in/passkey/options", { csrf_token: token })
      .then(function (options) {
        var publicKey = options.publicKey;
        publicKey.challenge = fromBase64url(publicKey.challenge);
        credentialIds(publicKey.allowCredentials);
        return navigator.credentials.get({ publicKey: publicKey });
      })
      .then(function (credential) {
        var response = credential.response;
        return post("/console/sign-in/passkey", {
          csrf_token: token,
          next: section.dataset.next,
          credential: {
            id: credential.id,
            rawId: toBase64url(credential.rawId),
            type: credential.type,
            extensions: credential.getClientExtensionResults(),
            response: {
              authenticatorData: toBase64url(response.authenticatorData),
              clientDataJSON: toBase64url(response.clientDataJSON),
              signature: toBase64url(response.signature),
              userHandle: response.userHandle ? toBase64url(response.userHandle) : null
            }
          }
        });
      });
  }

  var ceremonies = { "register": register, "sign-in": signIn };

  document.querySelectorAll("[data-passkey]").forEach(function (section) {
    var button = section.querySelector("[data-passkey-start]");
    var problem = section.querySelector("[data-passkey-problem]");
    var ceremony = ceremonies[section.dataset.passkey];
    if (!window.PublicKeyCredential || !ceremony) {
      section.hidden = true;
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      problem.hidden = true;
      ceremony(section)
        .then(function (done) {
          window.location.assign(done.location);
        })
        .catch(function (error) {
          var cancelled = error && (error.name === "NotAllowedError" || error.name === "AbortError");
          problem.textContent = cancelled
            ? "The passkey request was cancelled or timed out."
            : error.message;
          problem.hidden = false;
          button.disabled = false;
        });
    });
  });
})();
