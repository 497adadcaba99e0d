//! SEV-SNP attestation reports from inside a confidential VM, through the Linux `sev-guest`
//! driver (`/dev/sev-guest`, `SNP_GET_REPORT`, include/uapi/linux/sev-guest.h).
//!
//! This is the one crate of IMMERSE that talks to the kernel with `unsafe`: one `ioctl` on
//! buffers this crate owns, whose layouts mirror the kernel's UAPI structures. Everything the
//! firmware answers is parsed in safe code ([`parse_response`]).
#![deny(unsafe_code)]

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The driver's device node.
pub const DEVICE: &str = "/dev/sev-guest";
/// An attestation report (SEV-SNP ABI Table 23).
pub const REPORT_LEN: usize = 1184;
/// MSG_REPORT_RSP (ABI Table 25): STATUS, REPORT_SIZE, 24 reserved bytes, then the report.
const REPORT_OFFSET: usize = 0x20;
/// `struct snp_report_resp` holds 4000 bytes.
const RESPONSE_LEN: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum SevGuestError {
    #[error("{path}: {source} (is this an SEV-SNP guest with the sev-guest driver loaded?)")]
    DeviceUnavailable {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "SNP_GET_REPORT failed: {source} (firmware error {fw_error:#x}, VMM error {vmm_error:#x})"
    )]
    Ioctl {
        source: std::io::Error,
        fw_error: u32,
        vmm_error: u32,
    },
    #[error("VMPL {0} is out of range (0 to 3)")]
    InvalidVmpl(u32),
    #[error("the firmware refused the request with status {0:#x}")]
    FirmwareStatus(u32),
    #[error("the firmware answered a report of {0} bytes, not {REPORT_LEN}")]
    ReportSize(u32),
}

/// `struct snp_report_req`.
#[repr(C)]
struct ReportRequest {
    user_data: [u8; 64],
    vmpl: u32,
    reserved: [u8; 28],
}

/// `struct snp_guest_request_ioctl`; `exitinfo2` is the union of `fw_error` and `vmm_error`.
#[repr(C)]
struct GuestRequest {
    msg_version: u8,
    req_data: u64,
    resp_data: u64,
    fw_error: u32,
    vmm_error: u32,
}

/// `_IOWR('S', 0x0, struct snp_guest_request_ioctl)`.
const SNP_GET_REPORT: libc::c_ulong = (3 << 30)
    | ((std::mem::size_of::<GuestRequest>() as libc::c_ulong) << 16)
    | ((b'S' as libc::c_ulong) << 8);

/// Asks the firmware, through `device` (normally [`DEVICE`]), for a report carrying
/// `report_data` at privilege level `vmpl`, and returns its 1184 bytes.
pub fn get_report(
    device: &Path,
    report_data: &[u8; 64],
    vmpl: u32,
) -> Result<Vec<u8>, SevGuestError> {
    if vmpl > 3 {
        return Err(SevGuestError::InvalidVmpl(vmpl));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map_err(|source| SevGuestError::DeviceUnavailable {
            path: device.display().to_string(),
            source,
        })?;
    let request = ReportRequest {
        user_data: *report_data,
        vmpl,
        reserved: [0; 28],
    };
    let mut response = vec![0u8; RESPONSE_LEN];
    let mut guest_request = GuestRequest {
        msg_version: 1,
        req_data: &request as *const ReportRequest as u64,
        resp_data: response.as_mut_ptr() as u64,
        fw_error: 0,
        vmm_error: 0,
    };
    // SAFETY: the descriptor is open for the call's duration; `guest_request` has the kernel's
    // layout and points at `request` (read by the kernel) and at `response`, RESPONSE_LEN
    // writable bytes, which is the size of `struct snp_report_resp` the kernel writes at most.
    // All three outlive the call.
    #[allow(unsafe_code)]
    let status = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            SNP_GET_REPORT as _,
            &mut guest_request as *mut GuestRequest,
        )
    };
    if status < 0 {
        return Err(SevGuestError::Ioctl {
            source: std::io::Error::last_os_error(),
            fw_error: guest_request.fw_error,
            vmm_error: guest_request.vmm_error,
        });
    }
    parse_response(&response)
}

/// The report out of a MSG_REPORT_RSP, after checking its status and size.
pub fn parse_response(response: &[u8]) -> Result<Vec<u8>, SevGuestError> {
    let word = |at: usize| {
        response
            .get(at..at + 4)
            .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let status = word(0).ok_or(SevGuestError::ReportSize(0))?;
    if status != 0 {
        return Err(SevGuestError::FirmwareStatus(status));
    }
    let size = word(4).ok_or(SevGuestError::ReportSize(0))?;
    if size as usize != REPORT_LEN {
        return Err(SevGuestError::ReportSize(size));
    }
    response
        .get(REPORT_OFFSET..REPORT_OFFSET + REPORT_LEN)
        .map(<[u8]>::to_vec)
        .ok_or(SevGuestError::ReportSize(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u32, size: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; RESPONSE_LEN];
        bytes[..4].copy_from_slice(&status.to_le_bytes());
        bytes[4..8].copy_from_slice(&size.to_le_bytes());
        bytes[REPORT_OFFSET] = 0x05; // report version, so the copy is visibly from 0x20
        bytes
    }

    #[test]
    fn the_ioctl_number_is_the_kernels() {
        // _IOWR('S', 0, struct snp_guest_request_ioctl) on x86_64, as the kernel computes it.
        assert_eq!(std::mem::size_of::<GuestRequest>(), 32);
        assert_eq!(std::mem::size_of::<ReportRequest>(), 96);
        assert_eq!(SNP_GET_REPORT, 0xC020_5300);
    }

    #[test]
    fn a_good_response_yields_the_report() {
        let report = parse_response(&response(0, REPORT_LEN as u32)).unwrap();
        assert_eq!(report.len(), REPORT_LEN);
        assert_eq!(report[0], 0x05);
    }

    #[test]
    fn firmware_errors_and_odd_sizes_are_refused() {
        assert!(matches!(
            parse_response(&response(0x16, REPORT_LEN as u32)),
            Err(SevGuestError::FirmwareStatus(0x16))
        ));
        assert!(matches!(
            parse_response(&response(0, 1000)),
            Err(SevGuestError::ReportSize(1000))
        ));
        assert!(matches!(
            parse_response(&[0u8; 6]),
            Err(SevGuestError::ReportSize(0))
        ));
    }

    #[test]
    fn a_machine_without_the_device_says_so() {
        let err = get_report(Path::new("/nonexistent/sev-guest"), &[0; 64], 0).unwrap_err();
        assert!(
            matches!(err, SevGuestError::DeviceUnavailable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("sev-guest driver"));
    }

    #[test]
    fn a_device_that_is_not_the_driver_fails_the_ioctl() {
        // /dev/null accepts the open but not the request: ENOTTY, reported as an ioctl error.
        let err = get_report(Path::new("/dev/null"), &[0; 64], 0).unwrap_err();
        assert!(matches!(err, SevGuestError::Ioctl { .. }), "{err}");
    }

    #[test]
    fn vmpl_above_three_is_refused_before_the_device_is_opened() {
        let err = get_report(Path::new("/nonexistent"), &[0; 64], 4).unwrap_err();
        assert!(matches!(err, SevGuestError::InvalidVmpl(4)));
    }
}
