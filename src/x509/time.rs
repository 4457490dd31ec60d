//! Time values as revcheck prints them: RFC 3339 in UTC, to the second.

use std::time::SystemTime;

/// Formats `time` as RFC 3339 UTC, e.g. `2030-12-31T08:30:00Z`.
pub fn format_rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
