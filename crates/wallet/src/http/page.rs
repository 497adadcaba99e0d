//! The consent page's HTML, rendered on the server with every value escaped. No inline script
//! or style: the Content-Security-Policy forbids both.
use std::fmt::Write as _;

use serde_json::Value;

use super::ConsentPage;
use crate::{CredentialMatch, PendingRequest};

/// Escapes text for an HTML element or a quoted attribute.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A claim value as the holder reads it: strings bare, the rest as JSON.
fn show_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/assets/consent.css\">\
         <script src=\"/assets/consent.js\" defer></script></head><body><main>",
        escape(title)
    )
}

const TAIL: &str = "</main></body></html>\n";

/// The credentials held, the pending requests, and a form to open a new one.
pub(super) fn render_index(page: &ConsentPage, error: Option<&str>) -> String {
    let wallet = page.presenter.wallet();
    let mut html = head("IMMERSE Wallet");
    html.push_str("<h1>IMMERSE Wallet</h1>");
    if let Some(error) = error {
        let _ = write!(
            html,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    html.push_str("<section id=\"credentials\"><h2>Credentials held</h2>");
    let held = wallet.credentials().valid_at(wallet.now());
    if held.is_empty() {
        html.push_str("<p class=\"empty\">No credential yet.</p>");
    } else {
        html.push_str("<ul>");
        for credential in &held {
            let _ = write!(
                html,
                "<li class=\"credential\"><span class=\"vct\">{}</span> from \
                 <span class=\"issuer\">{}</span>{}</li>",
                escape(&credential.vct),
                escape(&credential.issuer),
                credential
                    .expires_at
                    .map(|exp| format!(", expires at <time>{exp}</time> (unix)"))
                    .unwrap_or_default()
            );
        }
        html.push_str("</ul>");
    }
    html.push_str("</section><section id=\"requests\"><h2>Requests</h2>");
    let pending = page.presenter.pending();
    if pending.is_empty() {
        html.push_str("<p class=\"empty\">No request is waiting.</p>");
    }
    for request in &pending {
        render_request(&mut html, request, &page.csrf);
    }
    let _ = write!(
        html,
        "</section><section id=\"open\"><h2>Open a request</h2>\
         <form method=\"post\" action=\"/requests\">\
         <label>Request link <input type=\"text\" name=\"uri\" required \
         placeholder=\"openid4vp://...\"></label>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\">Open</button></form></section>",
        escape(&page.csrf)
    );
    html.push_str(TAIL);
    html
}

fn render_request(html: &mut String, request: &PendingRequest, csrf: &str) {
    let id = escape(&request.id);
    let _ = write!(
        html,
        "<form class=\"request\" id=\"request-{id}\" method=\"post\" \
         action=\"/requests/{id}/approve\">\
         <h3><span class=\"verifier-name\">{}</span> asks for your data</h3>\
         <p class=\"verifier-id\">Registered as {}</p>",
        escape(&request.verifier_name),
        escape(&request.verifier_id),
    );
    if !request.purposes.is_empty() {
        html.push_str("<p class=\"purpose\">Purpose: ");
        let purposes: Vec<String> = request.purposes.iter().map(|p| escape(p)).collect();
        html.push_str(&purposes.join("; "));
        html.push_str("</p>");
    }
    if !request.warnings.is_empty() {
        html.push_str("<ul class=\"warnings\">");
        for warning in &request.warnings {
            let _ = write!(html, "<li class=\"warning\">{}</li>", escape(warning));
        }
        html.push_str("</ul>");
    }
    for matched in &request.credentials {
        render_credential(html, matched);
    }
    let _ = write!(
        html,
        "<p class=\"summary\" aria-live=\"polite\"></p>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\" class=\"approve\">Share</button> \
         <button type=\"submit\" class=\"deny\" formaction=\"/requests/{id}/deny\" \
         formnovalidate>Decline</button></form>",
        escape(csrf)
    );
}

fn render_credential(html: &mut String, matched: &CredentialMatch) {
    let _ = write!(
        html,
        "<fieldset class=\"credential-query\"><legend>{} from {}</legend><ul class=\"claims\">",
        escape(&matched.vct),
        escape(&matched.issuer)
    );
    for claim in &matched.claims {
        let name = escape(&format!("claim:{}", claim.key));
        // Required claims are shown checked and cannot be unchecked; the server adds them
        // whatever the form says.
        let (state, badge) = if claim.required {
            ("checked disabled", "<span class=\"badge\">required</span>")
        } else {
            ("checked", "<span class=\"badge optional\">optional</span>")
        };
        // What goes is what the disclosures carry: when the issuer made only the enclosing
        // object disclosable, the holder is told that all of it is sent.
        let enclosing = if claim.disclosed_path == claim.path {
            String::new()
        } else {
            format!(
                " <span class=\"sends\">(sends all of {})</span>",
                escape(&claim.disclosed_path)
            )
        };
        let _ = write!(
            html,
            "<li class=\"claim{}\"><label><input type=\"checkbox\" name=\"{name}\" value=\"on\" {state}> \
             <span class=\"path\">{}</span>{enclosing}: <span class=\"value\">{}</span> {badge}</label>{}</li>",
            if claim.correlating {
                " correlating"
            } else {
                ""
            },
            escape(&claim.path),
            escape(&show_value(&claim.value)),
            if claim.purpose.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"why\">{}</span>", escape(&claim.purpose))
            }
        );
    }
    html.push_str("</ul></fieldset>");
}

/// After approving: what was done, and the verifier's way back if it gave one.
pub(super) fn render_done(verifier_name: &str, redirect_uri: Option<&str>) -> String {
    let mut html = head("Shared");
    let _ = write!(
        html,
        "<h1>Shared</h1><p class=\"done\">Your data was sent to \
         <span class=\"verifier-name\">{}</span>.</p>",
        escape(verifier_name)
    );
    if let Some(redirect) = redirect_uri {
        let _ = write!(
            html,
            "<p><a class=\"continue\" href=\"{}\" rel=\"noreferrer\">Continue to the verifier</a></p>",
            escape(redirect)
        );
    }
    html.push_str("<p><a href=\"/\">Back to the wallet</a></p>");
    html.push_str(TAIL);
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape("<script>alert(\"x\")</script>&'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        let done = render_done("<b>RP</b>", Some("https://rp.test/?a=1&b=\"2\""));
        assert!(done.contains("&lt;b&gt;RP&lt;/b&gt;"));
        assert!(done.contains("href=\"https://rp.test/?a=1&amp;b=&quot;2&quot;\""));
        assert!(!done.contains("<b>"));
    }

    #[test]
    fn a_claim_is_shown_with_what_its_disclosure_sends() {
        let claim = |path: &str, disclosed_path: &str, value: Value| crate::RequestedClaim {
            key: format!("pid/{path}"),
            path: path.into(),
            required: true,
            purpose: String::new(),
            correlating: false,
            value,
            disclosed_path: disclosed_path.into(),
            segments: Vec::new(),
        };
        let matched = CredentialMatch {
            query_id: "pid".into(),
            credential_id: "c1".into(),
            issuer: "https://issuer.test".into(),
            vct: "urn:pid".into(),
            claims: vec![
                claim("address.locality", "address.locality", "Berlin".into()),
                claim(
                    "place_of_birth.locality",
                    "place_of_birth",
                    serde_json::json!({"locality": "Hamburg", "country": "DE"}),
                ),
            ],
            claim_sets: Vec::new(),
        };
        let mut html = String::new();
        render_credential(&mut html, &matched);
        assert!(html.contains(
            "<span class=\"path\">address.locality</span>: <span class=\"value\">Berlin</span>"
        ));
        // Only the whole object was disclosable: the holder reads that all of it goes.
        assert!(html.contains(
            "<span class=\"path\">place_of_birth.locality</span> <span class=\"sends\">(sends all of place_of_birth)</span>"
        ), "{html}");
        assert!(html.contains("Hamburg") && html.contains("DE"), "{html}");
    }
}
