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

/// An IMF-fixdate such as `Thu, 01 Jan 1970 00:00:00 GMT`, formatted on the stack: cookies
/// that share an expiry (a session cookie and its signature) format it once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpDate([u8; 29]);

/// Writes `n` (below 100) as two digits.
fn put2(dst: &mut [u8], n: u32) {
    dst[0] = b'0' + (n / 10) as u8;
    dst[1] = b'0' + (n % 10) as u8;
}

impl HttpDate {
    /// Unix milliseconds, clamped to years 1..=9999 (so the year always has 4 digits).
    pub fn new(ms: i64) -> HttpDate {
        let ms = ms.clamp(MIN_MS, MAX_MS);
        let secs = ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        let mut b = *b"Thu, 01 Jan 1970 00:00:00 GMT";
        b[0..3].copy_from_slice(DAYS[days.rem_euclid(7) as usize].as_bytes());
        put2(&mut b[5..7], d);
        b[8..11].copy_from_slice(MONTHS[(m - 1) as usize].as_bytes());
        let y = y as u32;
        put2(&mut b[12..14], y / 100);
        put2(&mut b[14..16], y % 100);
        put2(&mut b[17..19], sod / 3600);
        put2(&mut b[20..22], sod % 3600 / 60);
        put2(&mut b[23..25], sod % 60);
        HttpDate(b)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an HTTP date is ASCII")
    }
}

/// Appends unix milliseconds as an IMF-fixdate, clamped to years 1..=9999.
pub fn push_http_date(out: &mut String, ms: i64) {
    out.push_str(HttpDate::new(ms).as_str());
}

/// Formats unix milliseconds as an IMF-fixdate, clamped to years 1..=9999.
pub fn format_http_date(ms: i64) -> String {
    HttpDate::new(ms).as_str().to_owned()
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
        assert_eq!(format_http_date(i64::MIN), "Mon, 01 Jan 0001 00:00:00 GMT");
        let mut out = String::from("expires=");
        push_http_date(&mut out, 0);
        assert_eq!(out, "expires=Thu, 01 Jan 1970 00:00:00 GMT");
    }

    /// The `format!` this module used before the date writer, kept as the reference.
    fn format_http_date_reference(ms: i64) -> String {
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

    #[test]
    fn date_writer_matches_format_at_the_edges_and_across_the_range() {
        let mut edges = vec![i64::MIN, i64::MIN + 1, i64::MAX, 0, 1, -1, 999, 1000, -999, -1000, -1001, 86_399_999, -86_400_000, -86_400_001];
        for edge in [MIN_MS, MAX_MS, 951_782_400_000, -2_208_988_800_000, 946_684_800_000, 253_402_214_400_000] {
            edges.extend([edge - 1001, edge - 1000, edge - 1, edge, edge + 1, edge + 999, edge + 1000]);
        }
        // ~80k steps through years 1..=9999, with a stride aligned to no calendar unit so
        // weekday, month, day, hour, minute and second all vary.
        let stride = 3_155_692_597_i64 + 86_400_000 * 7 + 3_600_000 * 5 + 60_000 * 7 + 13_001;
        edges.extend((0..).map(|i| MIN_MS - 5_000 + i * stride).take_while(|&ms| ms <= MAX_MS + 5_000));
        assert!(edges.len() > 60_000);
        for ms in edges {
            assert_eq!(format_http_date(ms), format_http_date_reference(ms), "{ms}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        #[test]
        fn date_writer_matches_format(ms in proptest::prop_oneof![
            proptest::prelude::any::<i64>(),
            (MIN_MS - 100_000)..=(MAX_MS + 100_000),
            -100_000_000_000i64..=100_000_000_000,
        ]) {
            let mut out = String::from("x");
            push_http_date(&mut out, ms);
            proptest::prop_assert_eq!(&out[1..], format_http_date_reference(ms));
            proptest::prop_assert_eq!(format_http_date(ms), format_http_date_reference(ms));
        }
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
