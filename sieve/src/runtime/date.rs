//! Dates for the `date` extension (RFC 5260): parsing RFC 5322 date-times (by
//! `mail-parser`) and extracting date parts in a zone.

/// A point in time and the zone it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Date {
    /// Unix seconds (UTC).
    pub ts: i64,
    /// Minutes east of UTC of the original text.
    pub zone: i32,
}

pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let d = mail_parser::DateTime::parse_rfc822(s.trim())?;
    if !d.is_valid() {
        return None;
    }
    let zone =
        (i32::from(d.tz_hour) * 60 + i32::from(d.tz_minute)) * if d.tz_before_gmt { -1 } else { 1 };
    Some(Date {
        ts: d.to_timestamp(),
        zone,
    })
}

pub(crate) fn from_timestamp(ts: i64, zone: i32) -> Date {
    Date { ts, zone }
}

/// (year, month, day) from days since 1970-01-01 (proleptic Gregorian).
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

/// The named part of `d` seen in the zone `zone` (minutes east of UTC). `None` for an
/// unknown part name.
pub(crate) fn date_part(d: &Date, zone: i32, part: &str) -> Option<String> {
    let local = d.ts + i64::from(zone) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, dd) = civil_from_days(days);
    let (hh, mi, ss) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let sign = if zone < 0 { '-' } else { '+' };
    let (zh, zm) = (zone.abs() / 60, zone.abs() % 60);
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = (days + 4).rem_euclid(7) as usize;
    Some(match part.to_ascii_lowercase().as_str() {
        "year" => format!("{y:04}"),
        "month" => format!("{m:02}"),
        "day" => format!("{dd:02}"),
        "date" => format!("{y:04}-{m:02}-{dd:02}"),
        // Modified Julian Day: days since 1858-11-17.
        "julian" => (days + 40_587).to_string(),
        "hour" => format!("{hh:02}"),
        "minute" => format!("{mi:02}"),
        "second" => format!("{ss:02}"),
        "time" => format!("{hh:02}:{mi:02}:{ss:02}"),
        "iso8601" => format!("{y:04}-{m:02}-{dd:02}T{hh:02}:{mi:02}:{ss:02}{sign}{zh:02}:{zm:02}"),
        "std11" => format!(
            "{}, {dd:02} {} {y:04} {hh:02}:{mi:02}:{ss:02} {sign}{zh:02}{zm:02}",
            WD[weekday],
            MON[(m - 1) as usize]
        ),
        "zone" => format!("{sign}{zh:02}{zm:02}"),
        "weekday" => weekday.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let d = parse_date("Tue, 1 Apr 1997 09:06:31 -0800 (PST)").unwrap();
        assert_eq!(d.zone, -480);
        assert_eq!(date_part(&d, d.zone, "date").unwrap(), "1997-04-01");
        assert_eq!(date_part(&d, d.zone, "time").unwrap(), "09:06:31");
        assert_eq!(date_part(&d, 0, "hour").unwrap(), "17");
        assert_eq!(date_part(&d, d.zone, "weekday").unwrap(), "2");
        assert_eq!(date_part(&d, d.zone, "zone").unwrap(), "-0800");
        assert_eq!(
            date_part(&d, d.zone, "iso8601").unwrap(),
            "1997-04-01T09:06:31-08:00"
        );
        assert_eq!(
            date_part(&d, d.zone, "std11").unwrap(),
            "Tue, 01 Apr 1997 09:06:31 -0800"
        );
        assert_eq!(date_part(&d, d.zone, "julian").unwrap(), "50539");
        assert_eq!(date_part(&d, 0, "frop"), None);
        assert!(parse_date("not a date").is_none());
        // 2000-02-29 exists; days since epoch round trip.
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
