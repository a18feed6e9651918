//! `date-time` (INTERNALDATE, APPEND) and `date` (SEARCH).

use crate::error::ValidationError;

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) {
                29
            } else {
                28
            }
        }
    }
}

/// A calendar date (`date` in SEARCH: `1-Feb-1994`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Validates a date (year 0..=9999, real day of month).
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, ValidationError> {
        if year > 9999 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month)
        {
            return Err(ValidationError::new("date", "a real calendar date"));
        }
        Ok(Self { year, month, day })
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }
    /// The month, 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// The day of the month.
    pub fn day(&self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before), for comparisons in SEARCH.
    pub fn days_since_epoch(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

/// A date and time with a zone (`date-time = DQUOTE date-day-fixed "-" date-month "-" date-year
/// SP time SP zone DQUOTE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
    /// Offset east of UTC in minutes.
    offset: i16,
}

impl DateTime {
    /// Validates a date-time; `offset_minutes` is the zone's offset east of UTC (±23:59).
    pub fn new(
        date: Date,
        hour: u8,
        minute: u8,
        second: u8,
        offset_minutes: i16,
    ) -> Result<Self, ValidationError> {
        if hour > 23 || minute > 59 || second > 60 || offset_minutes.abs() > 23 * 60 + 59 {
            return Err(ValidationError::new("date-time", "a real time and zone"));
        }
        Ok(Self {
            date,
            hour,
            minute,
            second,
            offset: offset_minutes,
        })
    }

    /// From seconds since the Unix epoch (UTC) and a zone offset in minutes.
    #[allow(clippy::cast_sign_loss)] // every cast value is range-checked by `Date`/`Self::new`
    pub fn from_unix(secs: i64, offset_minutes: i16) -> Result<Self, ValidationError> {
        let local = secs + i64::from(offset_minutes) * 60;
        let days = local.div_euclid(86_400);
        let rem = local.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        let year =
            u16::try_from(y).map_err(|_| ValidationError::new("date-time", "year 0..9999"))?;
        let date = Date::new(year, m as u8, d as u8)?;
        Self::new(
            date,
            (rem / 3600) as u8,
            (rem / 60 % 60) as u8,
            (rem % 60) as u8,
            offset_minutes,
        )
    }

    /// Seconds since the Unix epoch (UTC).
    pub fn unix(&self) -> i64 {
        self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset) * 60
    }

    /// The local date.
    pub fn date(&self) -> Date {
        self.date
    }
    /// Hour, minute, second (local).
    pub fn time(&self) -> (u8, u8, u8) {
        (self.hour, self.minute, self.second)
    }
    /// Zone offset east of UTC in minutes.
    pub fn offset_minutes(&self) -> i16 {
        self.offset
    }

    /// The wire form without quotes: `17-Jul-1996 02:44:25 -0700`.
    pub fn to_wire(&self) -> String {
        let off = self.offset.unsigned_abs();
        format!(
            "{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            self.date.day,
            MONTHS[usize::from(self.date.month - 1)],
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            if self.offset < 0 { '-' } else { '+' },
            off / 60,
            off % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(Date::new(2024, 2, 29).is_ok());
        assert!(Date::new(2023, 2, 29).is_err());
        assert!(Date::new(1900, 2, 29).is_err());
        assert!(Date::new(2000, 2, 29).is_ok());
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(Date::new(1969, 12, 31).unwrap().days_since_epoch(), -1);
    }

    #[test]
    fn unix_round_trip() {
        let d = DateTime::new(Date::new(1996, 7, 17).unwrap(), 2, 44, 25, -7 * 60).unwrap();
        assert_eq!(d.to_wire(), "17-Jul-1996 02:44:25 -0700");
        let back = DateTime::from_unix(d.unix(), -7 * 60).unwrap();
        assert_eq!(back, d);
        assert_eq!(
            DateTime::from_unix(0, 0).unwrap().to_wire(),
            "01-Jan-1970 00:00:00 +0000"
        );
        assert!(DateTime::new(Date::new(2000, 1, 1).unwrap(), 24, 0, 0, 0).is_err());
    }
}
