//! Drives Debian's headless Chromium through chromedriver (W3C WebDriver) for browser tests.
//!
//! [`Chromium::launch`] starts `/usr/bin/chromedriver` on a free loopback port (the process is
//! killed when the value is dropped); [`Chromium::session`] opens a headless browser session;
//! a [`Session`] navigates, finds elements by CSS selector, clicks, reads text and properties,
//! and waits for an element with a bounded deadline ([`wait_until`] for any other condition). [`launch_or_skip`] is the guard a test
//! starts with: without chromedriver it skips, saying why, unless `IMMERSE_REQUIRE_CHROMIUM=1`
//! makes that a failure (CI sets it).
#![forbid(unsafe_code)]

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where Debian's `chromium-driver` and `chromium` packages put their programs.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The W3C element reference key (WebDriver s12.1).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    #[error("{0} is missing (apt-get install chromium chromium-driver)")]
    Missing(String),
    #[error("chromedriver did not start: {0}")]
    Startup(String),
    #[error("HTTP to chromedriver: {0}")]
    Http(#[from] reqwest::Error),
    /// A WebDriver error response (WebDriver s6.6): its `error` code and message.
    #[error("webdriver {error}: {message}")]
    Command { error: String, message: String },
    #[error("unexpected webdriver answer: {0}")]
    Protocol(String),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// A running chromedriver, killed on drop.
pub struct Chromium {
    child: Child,
    base: String,
    http: reqwest::Client,
    profile: tempfile::TempDir,
}

/// Starts chromedriver, or says why the calling test skips: `None` with a `SKIPPED` line on
/// stderr when chromedriver or chromium is missing, a panic instead when
/// `IMMERSE_REQUIRE_CHROMIUM=1`. Any other start-up failure panics.
pub async fn launch_or_skip(test: &str) -> Option<Chromium> {
    match Chromium::launch().await {
        Ok(chromium) => Some(chromium),
        Err(WebDriverError::Missing(why)) => {
            if std::env::var("IMMERSE_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
                panic!("IMMERSE_REQUIRE_CHROMIUM=1 but {why} is missing");
            }
            // Straight to stderr: the harness captures eprintln! of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "*** SKIPPED: {test}: {why} is missing (apt-get install chromium chromium-driver) ***"
            );
            None
        }
        Err(error) => panic!("{test}: {error}"),
    }
}

impl Chromium {
    /// Starts [`CHROMEDRIVER`] on a free loopback port and waits until it is ready.
    pub async fn launch() -> Result<Self, WebDriverError> {
        for program in [CHROMEDRIVER, CHROMIUM] {
            if !Path::new(program).exists() {
                return Err(WebDriverError::Missing(program.to_owned()));
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|err| WebDriverError::Startup(err.to_string()))?
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| WebDriverError::Startup(err.to_string()))?;
        let profile =
            tempfile::tempdir().map_err(|err| WebDriverError::Startup(err.to_string()))?;
        let mut chromium = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            profile,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = chromium.child.try_wait() {
                return Err(WebDriverError::Startup(format!("exited with {status}")));
            }
            let ready = chromium
                .http
                .get(format!("{}/status", chromium.base))
                .send()
                .await
                .ok()
                .map(|response| response.json::<Value>());
            if let Some(body) = ready
                && body
                    .await
                    .ok()
                    .and_then(|body| body["value"]["ready"].as_bool())
                    == Some(true)
            {
                return Ok(chromium);
            }
            if started.elapsed() > STARTUP_DEADLINE {
                return Err(WebDriverError::Startup(format!(
                    "not ready after {STARTUP_DEADLINE:?}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// A new headless browser session (WebDriver s8.1).
    pub async fn session(&self) -> Result<Session, WebDriverError> {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    // Root in a container has no user namespace for the sandbox.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    format!("--user-data-dir={}", self.profile.path().join(unique()).display()),
                ]
            }
        }}});
        let value = command(
            &self.http,
            reqwest::Method::POST,
            &format!("{}/session", self.base),
            Some(capabilities),
        )
        .await?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError::Protocol(format!("no sessionId in {value}")))?;
        Ok(Session {
            http: self.http.clone(),
            url: format!("{}/session/{id}", self.base),
        })
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // chromedriver takes its browsers down with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A distinct name per session in this process.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("profile-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One WebDriver command: the `value` of a success, the error of a failure (WebDriver s6.6).
async fn command(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(WebDriverError::Command {
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

/// A browser session; closed with [`Session::close`] (or when chromedriver is dropped).
pub struct Session {
    http: reqwest::Client,
    url: String,
}

/// An element of the current page (WebDriver s12).
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

impl Session {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        command(&self.http, method, &format!("{}{path}", self.url), body).await
    }

    /// Navigates to `url` and waits for the page load (WebDriver s10.1).
    pub async fn navigate(&self, url: &str) -> Result<(), WebDriverError> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(drop)
    }

    pub async fn current_url(&self) -> Result<String, WebDriverError> {
        let value = self.call(reqwest::Method::GET, "/url", None).await?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| WebDriverError::Protocol(format!("url: {value}")))
    }

    /// The first element matching the CSS `selector` (WebDriver s12.3.2).
    pub async fn find(&self, selector: &str) -> Result<Element, WebDriverError> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": selector})),
            )
            .await?;
        element(&value)
    }

    /// Every element matching `selector`, in document order.
    pub async fn find_all(&self, selector: &str) -> Result<Vec<Element>, WebDriverError> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": selector})),
            )
            .await?;
        value
            .as_array()
            .ok_or_else(|| WebDriverError::Protocol(format!("elements: {value}")))?
            .iter()
            .map(element)
            .collect()
    }

    /// Clicks `element` as a user would (WebDriver s12.5.1).
    pub async fn click(&self, element: &Element) -> Result<(), WebDriverError> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.id),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// The rendered text of `element` (WebDriver s12.4.5).
    pub async fn text(&self, element: &Element) -> Result<String, WebDriverError> {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/text", element.id),
                None,
            )
            .await?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| WebDriverError::Protocol(format!("text: {value}")))
    }

    /// A DOM property of `element`, such as `checked` or `disabled` (WebDriver s12.4.3).
    pub async fn property(&self, element: &Element, name: &str) -> Result<Value, WebDriverError> {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{}/property/{name}", element.id),
            None,
        )
        .await
    }

    /// Types `text` into `element` (WebDriver s12.5.3).
    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<(), WebDriverError> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.id),
            Some(json!({"text": text})),
        )
        .await
        .map(drop)
    }

    /// The whole page's text.
    pub async fn page_text(&self) -> Result<String, WebDriverError> {
        let body = self.find("body").await?;
        self.text(&body).await
    }

    /// Waits until an element matches `selector`.
    pub async fn wait_for(
        &self,
        selector: &str,
        deadline: Duration,
    ) -> Result<Element, WebDriverError> {
        wait_until(selector, deadline, || async {
            self.find(selector).await.ok()
        })
        .await
    }

    /// A PNG of the viewport (WebDriver s17.1), written to `path`: for a failing test to leave
    /// behind.
    pub async fn screenshot(&self, path: &Path) -> Result<PathBuf, WebDriverError> {
        use base64::Engine;
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = value
            .as_str()
            .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .ok_or_else(|| WebDriverError::Protocol("screenshot is not base64".into()))?;
        std::fs::write(path, png).map_err(|err| WebDriverError::Protocol(err.to_string()))?;
        Ok(path.to_owned())
    }

    /// Ends the session and closes its browser (WebDriver s8.2).
    pub async fn close(self) -> Result<(), WebDriverError> {
        self.call(reqwest::Method::DELETE, "", None).await.map(drop)
    }
}

/// Polls `condition` until it yields `Some`, or fails after `deadline` naming `what`: for a
/// page that changes after an action (a navigation, a script).
pub async fn wait_until<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut condition: F,
) -> Result<T, WebDriverError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = condition().await {
            return Ok(value);
        }
        if started.elapsed() > deadline {
            return Err(WebDriverError::Timeout(deadline, what.to_owned()));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn element(value: &Value) -> Result<Element, WebDriverError> {
    value[ELEMENT_KEY]
        .as_str()
        .map(|id| Element { id: id.to_owned() })
        .ok_or_else(|| WebDriverError::Protocol(format!("not an element: {value}")))
}
