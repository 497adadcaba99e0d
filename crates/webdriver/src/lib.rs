//! Drives Debian's headless Chromium through chromedriver (W3C WebDriver) for browser tests.
#![forbid(unsafe_code)]
