//! Arbitrary bytes as what the admission webhook reads from outside: an AdmissionReview (its
//! object is whatever a user submitted), the pod spec inside it, manifests for `immerse
//! admission check`, a `.dockerconfigjson` pull secret, and image name patterns. An error or a
//! value, never a panic.
#![no_main]
use immerse_policy::DockerConfig;
use immerse_policy::glob::ImageGlob;
use immerse_policy::http::parse_review;
use immerse_policy::workload::workload_of;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_review(data)
        && let Some(object) = &request.object
        && let Ok(value) = serde_json::to_value(object)
    {
        let _ = workload_of(&request.kind.kind, &value);
    }
    let _ = DockerConfig::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = immerse_policy::check::parse_manifests(text);
        if let Some((pattern, name)) = text.split_once('\n')
            && let Ok(glob) = ImageGlob::new(pattern)
        {
            let _ = glob.matches(name);
        }
    }
});
