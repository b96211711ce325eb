//! Exact decimals: an integer number of units at a power-of-ten scale.

use std::cmp::Ordering;
use std::fmt;

/// Largest number of digits after the point (declared precisions, constants and edges).
pub const MAX_SCALE: u32 = 18;

/// `units / 10^scale`, exactly. Equality, order and hashing are by value: `1.50 == 1.5`.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    /// The value times `10^scale`.
    pub units: i128,
    /// Digits after the point.
    pub scale: u32,
}

/// A string that is not a decimal number within range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a decimal number (digits with an optional sign and point, at most {MAX_SCALE} digits after the point, at most 30 before)"
)]
pub struct DecimalError {
    /// The offending text.
    pub text: String,
}

fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

impl Decimal {
    /// An integer.
    pub const fn int(v: i128) -> Self {
        Self { units: v, scale: 0 }
    }

    /// Parses `[+-]digits[.digits]` (also `.5`, `5.`, and an exponent such as `1e-3`).
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let err = || DecimalError { text: text.to_owned() };
        let t = text.trim();
        let (mantissa, exp) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| err())?),
            None => (t, 0),
        };
        let (neg, body) = match mantissa.as_bytes().first() {
            Some(b'-') => (true, &mantissa[1..]),
            Some(b'+') => (false, &mantissa[1..]),
            _ => (false, mantissa),
        };
        let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err());
        }
        if !int_part.bytes().chain(frac_part.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let digits: String = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 36 {
            return Err(err());
        }
        let mut units: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| err())? };
        let mut scale = frac_part.len() as i64 - i64::from(exp);
        if scale < 0 {
            units =
                units.checked_mul(pow10(u32::try_from(-scale).map_err(|_| err())?).ok_or_else(err)?).ok_or_else(err)?;
            scale = 0;
        }
        let mut d = Self { units: if neg { -units } else { units }, scale: u32::try_from(scale).map_err(|_| err())? };
        d = d.normalized();
        if d.scale > MAX_SCALE
            || d.units.unsigned_abs() / pow10(d.scale).ok_or_else(err)?.unsigned_abs() >= 10u128.pow(30)
        {
            return Err(err());
        }
        Ok(d)
    }

    /// Drops trailing zeros after the point.
    pub fn normalized(mut self) -> Self {
        while self.scale > 0 && self.units % 10 == 0 {
            self.units /= 10;
            self.scale -= 1;
        }
        self
    }

    /// The units at a larger scale, or `None` if the scale is smaller than needed or on overflow.
    pub fn units_at(self, scale: u32) -> Option<i128> {
        let n = self.normalized();
        if scale < n.scale {
            return None;
        }
        n.units.checked_mul(pow10(scale - n.scale)?)
    }

    /// The nearest `f64`.
    pub fn to_f64(self) -> f64 {
        // Both parts fit an f64 exactly for the ranges we accept, up to one rounding each.
        self.units as f64 / 10f64.powi(self.scale as i32)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl std::hash::Hash for Decimal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let n = self.normalized();
        (n.units, n.scale).hash(state);
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let s = self.scale.max(other.scale);
        match (self.units_at(s), other.units_at(s)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Only when rescaling overflows i128 (a value with ~20 integer digits against one with
            // ~18 decimals): fall back to f64, which orders such different magnitudes correctly.
            _ => self.to_f64().total_cmp(&other.to_f64()),
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.units);
        }
        let sign = if self.units < 0 { "-" } else { "" };
        let digits = format!("{:0>width$}", self.units.unsigned_abs(), width = self.scale as usize + 1);
        let (i, fr) = digits.split_at(digits.len() - self.scale as usize);
        write!(f, "{sign}{i}.{fr}")
    }
}
