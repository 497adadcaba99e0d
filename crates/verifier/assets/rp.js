// The relying party's page: creates a request from the page session's template, shows it as a
// QR code and a link, polls its result and shows the verified claims. Authentication is the
// page-session cookie (same origin); nothing here ever sees the relying party's API token.
"use strict";

const statusLine = document.getElementById("status");
const newRequestButton = document.getElementById("new-request");
const requestSection = document.getElementById("request");
const qrImage = document.getElementById("qr");
const walletLink = document.getElementById("link");
const resultSection = document.getElementById("result");
const claimsList = document.getElementById("claims");

const POLL_MILLISECONDS = 1000;
let poller = null;

async function call(method, path) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method === "POST") {
    options.headers["Content-Type"] = "application/json";
    options.body = "{}";
  }
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    throw new Error("this page needs the entry link from your relying party");
  }
  if (!response.ok) {
    throw new Error(body.error_description || body.error || "HTTP " + response.status);
  }
  return body;
}

function stopPolling() {
  if (poller !== null) {
    clearInterval(poller);
    poller = null;
  }
}

// Claims as "path: value" rows, built with textContent only (claims are untrusted text).
function showClaims(credentials) {
  claimsList.replaceChildren();
  const add = (path, value) => {
    if (value !== null && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) {
        add(path === "" ? key : path + "." + key, inner);
      }
      return;
    }
    const term = document.createElement("dt");
    term.textContent = path;
    const description = document.createElement("dd");
    description.textContent = String(value);
    claimsList.append(term, description);
  };
  for (const [credentialId, presentations] of Object.entries(credentials || {})) {
    presentations.forEach((claims, index) => {
      const prefix = presentations.length > 1 ? credentialId + "[" + index + "]" : credentialId;
      add(prefix, claims);
    });
  }
  resultSection.hidden = false;
}

async function poll(request) {
  if (Date.now() / 1000 > request.expires_at) {
    stopPolling();
    requestSection.hidden = true;
    statusLine.textContent = "The request expired. Make a new one.";
    return;
  }
  try {
    const result = await call("GET", "api/requests/" + encodeURIComponent(request.id));
    if (result.status === "pending") {
      // A refused answer leaves the request open: it may have come from anyone who saw the
      // QR code, and the holder's wallet can still answer.
      if (result.error) {
        statusLine.textContent = "An answer was refused (" + result.error + "); waiting for the wallet.";
      }
      return;
    }
    stopPolling();
    requestSection.hidden = true;
    if (result.status === "verified") {
      statusLine.textContent = "Verified.";
      showClaims(result.credentials);
    } else {
      statusLine.textContent = "Refused: " + (result.error || "unknown reason");
    }
  } catch (error) {
    stopPolling();
    statusLine.textContent = "Could not read the result: " + error.message;
  }
}

async function newRequest() {
  stopPolling();
  resultSection.hidden = true;
  claimsList.replaceChildren();
  try {
    const request = await call("POST", "api/requests");
    qrImage.src = request.qr_svg_data_url;
    walletLink.href = request.authorization_request;
    requestSection.hidden = false;
    statusLine.textContent = "Waiting for the wallet…";
    poller = setInterval(() => poll(request), POLL_MILLISECONDS);
  } catch (error) {
    requestSection.hidden = true;
    statusLine.textContent = "Could not create a request: " + error.message;
  }
}

newRequestButton.addEventListener("click", newRequest);
newRequestButton.disabled = false;
newRequest();
