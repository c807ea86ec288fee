//! Dates as cookies and session records carry them, without a date crate:
//! `Thu, 01 Jan 1970 00:00:00 GMT` (what JavaScript's `toUTCString` writes, used in
//! `expires=`) and the ISO 8601 form `JSON.stringify(new Date())` writes into a
//! session's `cookie.expires`.

/// Unix milliseconds of 0001-01-01 and 9999-12-31T23:59:59.999Z: the range we format.
pub const MIN_MS: i64 = -62_135_596_800_000;
pub const MAX_MS: i64 = 253_402_300_799_999;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 → (year, month 1-12, day 1-31). Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month 1-12, day 1-31) → days since 1970-01-01. Hinnant's days_from_civil.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats unix milliseconds as an IMF-fixdate, clamped to years 1..=9999.
pub fn format_http_date(ms: i64) -> String {
    let ms = ms.clamp(MIN_MS, MAX_MS);
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Formats unix milliseconds as `JSON.stringify(new Date(ms))` does: `1970-01-01T00:00:00.000Z`.
pub fn format_iso8601(ms: i64) -> String {
    let ms = ms.clamp(MIN_MS, MAX_MS);
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        y, m, d, sod / 3600, (sod % 3600) / 60, sod % 60, ms.rem_euclid(1000)
    )
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]` followed by `Z` or `±HH:MM` into unix milliseconds.
/// Anything else is `None`: a session whose `cookie.expires` is unreadable falls back to maxAge.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])? as u32, digits(&b[8..10])? as u32);
    let (h, mi, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&mo) || d == 0 || d > 31 || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let frac = &rest[1..1 + n];
        let first3: Vec<u8> = frac.iter().copied().chain(std::iter::repeat(b'0')).take(3).collect();
        millis = digits(&first3)?;
        rest = &rest[1 + n..];
    }
    let offset_min = match rest {
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), hh1, hh2, b':', mm1, mm2] => {
            let v = digits(&[*hh1, *hh2])? * 60 + digits(&[*mm1, *mm2])?;
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // new Date(1795198123456).toUTCString()
        assert_eq!(format_http_date(1_795_198_123_456), "Fri, 20 Nov 2026 18:08:43 GMT");
        assert_eq!(format_http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(format_http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(format_http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn iso_round_trip() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_iso8601("2026-11-20T18:08:43.456Z"), Some(1_795_198_123_456));
        assert_eq!(parse_iso8601("2026-11-20T19:08:43.456+01:00"), Some(1_795_198_123_456));
        assert_eq!(parse_iso8601("2026-11-20T18:08:43Z"), Some(1_795_198_123_000));
        assert_eq!(format_iso8601(1_795_198_123_456), "2026-11-20T18:08:43.456Z");
        for ms in [0, 1, -1, 951_782_400_000, 1_795_198_123_456, MAX_MS] {
            assert_eq!(parse_iso8601(&format_iso8601(ms)), Some(ms));
        }
        for bad in ["", "2026-11-20", "2026-13-20T15:28:43Z", "2026-11-20T15:28:43", "x026-11-20T15:28:43Z", "2026-11-20T15:28:43.Z"] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
