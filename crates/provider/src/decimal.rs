//! The value grammar and its fixed-point encoding (normative text in
//! `proto/triad/provider/v1/bundle.proto`).
//!
//! A value is an unsigned ASCII decimal `DIGIT{1,I} ( "." DIGIT{1,D} )?`
//! with `I = max_integer_digits` and `D = max_decimals`; it encodes as the
//! exact integer `N = value * 10^D`. The MPC commitment check parses the
//! committed bytes with the same grammar and weights.

use triad_proto::events::v1::ValueFormat;

/// Largest `max_integer_digits + max_decimals`: `N < 10^18 < 2^63`, so `N`
/// is non-negative in two's complement with room for sums.
pub const MAX_TOTAL_DIGITS: u32 = 18;

/// A dataset's value format, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalFormat {
    max_integer_digits: u32,
    max_decimals: u32,
    fraction_bits: u32,
}

/// Why a dataset's value format cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// No digit allowed before the point.
    #[error("the value format allows no integer digit (max_integer_digits must be at least 1)")]
    NoIntegerDigits,
    /// The scaled integer could exceed 2^63.
    #[error(
        "the value format allows {total} digits (max_integer_digits + max_decimals); at most {MAX_TOTAL_DIGITS} fit in the 64-bit ring"
    )]
    TooManyDigits {
        /// `max_integer_digits + max_decimals`.
        total: u64,
    },
}

/// Why a value is not a well-formed decimal of its dataset's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// No byte at all.
    #[error("the value is empty; expected a decimal such as 12.345")]
    Empty,
    /// A byte other than an ASCII digit or '.'.
    #[error(
        "byte {pos} of the value is {} (0x{byte:02x}); only ASCII digits and one '.' are allowed (no sign, exponent, spaces or separators), e.g. 12.345",
        show_byte(*.byte)
    )]
    UnexpectedByte {
        /// Position in the value.
        pos: usize,
        /// The byte.
        byte: u8,
    },
    /// More than one '.'.
    #[error("the value has a second '.' at byte {pos}; a decimal has at most one point")]
    SecondPoint {
        /// Position of the second '.'.
        pos: usize,
    },
    /// Nothing before the point (".5").
    #[error("the value has no digit before the '.'; write 0.5, not .5")]
    NoIntegerDigits,
    /// Nothing after the point ("5.").
    #[error("the value ends with '.'; write 5 or 5.0, not 5.")]
    NoFractionDigits,
    /// Too many digits before the point.
    #[error("the value has {found} digits before the point; the dataset allows at most {max}")]
    TooManyIntegerDigits {
        /// Digits found.
        found: usize,
        /// The format's `max_integer_digits`.
        max: u32,
    },
    /// Too many digits after the point.
    #[error("the value has {found} digits after the point; the dataset allows at most {max}")]
    TooManyDecimals {
        /// Digits found.
        found: usize,
        /// The format's `max_decimals`.
        max: u32,
    },
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() { format!("'{}'", b as char) } else { "a non-printable byte".to_owned() }
}

impl DecimalFormat {
    /// A format with at most `max_integer_digits` digits before the point
    /// and `max_decimals` after; `fraction_bits` is carried along for the
    /// computation's binary fixed point.
    pub fn new(max_integer_digits: u32, max_decimals: u32, fraction_bits: u32) -> Result<Self, FormatError> {
        if max_integer_digits == 0 {
            return Err(FormatError::NoIntegerDigits);
        }
        let total = u64::from(max_integer_digits) + u64::from(max_decimals);
        if total > u64::from(MAX_TOTAL_DIGITS) {
            return Err(FormatError::TooManyDigits { total });
        }
        Ok(Self { max_integer_digits, max_decimals, fraction_bits })
    }

    /// From a dataset's `ValueFormat`.
    pub fn from_proto(f: &ValueFormat) -> Result<Self, FormatError> {
        Self::new(f.max_integer_digits, f.max_decimals, f.fraction_bits)
    }

    /// As a dataset's `ValueFormat`.
    pub fn to_proto(&self) -> ValueFormat {
        ValueFormat {
            fraction_bits: self.fraction_bits,
            max_decimals: self.max_decimals,
            max_integer_digits: self.max_integer_digits,
        }
    }

    /// Largest number of digits before the point.
    pub fn max_integer_digits(&self) -> u32 {
        self.max_integer_digits
    }

    /// Largest number of digits after the point; the scale is `10^max_decimals`.
    pub fn max_decimals(&self) -> u32 {
        self.max_decimals
    }

    /// Binary fraction bits of the computation (not used by the encoding).
    pub fn fraction_bits(&self) -> u32 {
        self.fraction_bits
    }

    /// Longest well-formed value in bytes: the padded length of the boolean
    /// sharing of the value bytes.
    pub fn max_len(&self) -> usize {
        let point = usize::from(self.max_decimals > 0);
        self.max_integer_digits as usize + point + self.max_decimals as usize
    }

    /// Parses `bytes` as a decimal of this format and returns the exact
    /// fixed-point integer `value * 10^max_decimals`.
    pub fn parse(&self, bytes: &[u8]) -> Result<u64, DecimalError> {
        if bytes.is_empty() {
            return Err(DecimalError::Empty);
        }
        let mut point = None;
        for (pos, &byte) in bytes.iter().enumerate() {
            match byte {
                b'0'..=b'9' => {}
                b'.' if point.is_none() => point = Some(pos),
                b'.' => return Err(DecimalError::SecondPoint { pos }),
                _ => return Err(DecimalError::UnexpectedByte { pos, byte }),
            }
        }
        let (int, frac) = match point {
            Some(p) => (&bytes[..p], &bytes[p + 1..]),
            None => (bytes, &bytes[bytes.len()..]),
        };
        if int.is_empty() {
            return Err(DecimalError::NoIntegerDigits);
        }
        if point.is_some() && frac.is_empty() {
            return Err(DecimalError::NoFractionDigits);
        }
        if int.len() > self.max_integer_digits as usize {
            return Err(DecimalError::TooManyIntegerDigits { found: int.len(), max: self.max_integer_digits });
        }
        if frac.len() > self.max_decimals as usize {
            return Err(DecimalError::TooManyDecimals { found: frac.len(), max: self.max_decimals });
        }
        // At most 18 digits in all: no overflow below 10^18.
        let mut n: u64 = 0;
        for &d in int.iter().chain(frac) {
            n = n * 10 + u64::from(d - b'0');
        }
        for _ in frac.len()..self.max_decimals as usize {
            n *= 10;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
