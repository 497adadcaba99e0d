//! What the fuzz targets share.
#![forbid(unsafe_code)]

/// The input as a patch of `template`: two bytes of offset (little-endian), then bytes XORed in
/// from there. Shorter inputs (libFuzzer starts from "\n") leave the template as it is, so a
/// target that patches a verifying document reaches the success path too.
pub fn patched(template: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = template.to_vec();
    if let [low, high, patch @ ..] = data {
        let at = usize::from(u16::from_le_bytes([*low, *high])) % out.len().max(1);
        for (byte, flip) in out[at..].iter_mut().zip(patch) {
            *byte ^= flip;
        }
    }
    out
}
