//! Dataset schemas: named numeric columns with a declared range and precision.

use crate::decimal::{Decimal, MAX_SCALE};

/// The default smallest number of contributing rows per result and per group.
pub const DEFAULT_MIN_COHORT: u64 = 10;

/// One numeric column: values are decimals with at most `decimals` digits after the point, in `[min, max]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// A lowercase SQL identifier (`[a-z_][a-z0-9_]*`), unique in its dataset.
    pub name: String,
    /// Declared smallest value (inclusive).
    pub min: Decimal,
    /// Declared largest value (inclusive).
    pub max: Decimal,
    /// Digits after the point (the precision of every value, of `min` and of `max`).
    pub decimals: u32,
}

/// A dataset: one row per contribution, one value per column (no NULLs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// The name queries use in `FROM` (a lowercase SQL identifier).
    pub dataset: String,
    /// The columns, in row order.
    pub columns: Vec<Column>,
    /// The smallest number of contributing rows per result and per group (at least 1).
    pub min_cohort: u64,
}

/// A schema that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A dataset or column name that is not a lowercase SQL identifier.
    #[error(
        "{what} name `{name}` is not a lowercase SQL identifier: use letters a-z, digits and `_`, not starting with a digit"
    )]
    BadName {
        /// "dataset" or "column".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// No columns.
    #[error("dataset `{0}` has no columns: declare at least one")]
    NoColumns(String),
    /// Two columns with one name.
    #[error("column `{0}` is declared twice")]
    DuplicateColumn(String),
    /// `min > max`.
    #[error("column `{column}`: min {min} is greater than max {max}")]
    EmptyRange {
        /// The column.
        column: String,
        /// Declared min.
        min: Decimal,
        /// Declared max.
        max: Decimal,
    },
    /// Too many digits after the point.
    #[error("column `{column}`: {decimals} decimals declared; at most {MAX_SCALE} are supported")]
    TooPrecise {
        /// The column.
        column: String,
        /// Declared decimals.
        decimals: u32,
    },
    /// A bound with more digits after the point than the column's precision.
    #[error("column `{column}`: {which} {value} has more than the column's {decimals} decimals")]
    BoundPrecision {
        /// The column.
        column: String,
        /// "min" or "max".
        which: &'static str,
        /// The bound.
        value: Decimal,
        /// Declared decimals.
        decimals: u32,
    },
    /// A bound too large for 64-bit scaled integers.
    #[error(
        "column `{column}`: {which} {value} times 10^{decimals} does not fit in 63 bits; narrow the range or the precision"
    )]
    BoundTooLarge {
        /// The column.
        column: String,
        /// "min" or "max".
        which: &'static str,
        /// The bound.
        value: Decimal,
        /// Declared decimals.
        decimals: u32,
    },
    /// `min_cohort` of zero.
    #[error("min_cohort must be at least 1 (the default is {DEFAULT_MIN_COHORT})")]
    ZeroCohort,
}

/// Whether `s` is a lowercase SQL identifier.
pub fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_lowercase())
        && b.all(|c| c == b'_' || c.is_ascii_lowercase() || c.is_ascii_digit())
}

impl Column {
    /// A column; checked by [`Schema::new`].
    pub fn new(name: impl Into<String>, min: Decimal, max: Decimal, decimals: u32) -> Self {
        Self { name: name.into(), min, max, decimals }
    }

    /// `min` in units of `10^-decimals` (valid after [`Schema::validate`]).
    pub fn min_units(&self) -> Option<i128> {
        self.min.units_at(self.decimals)
    }

    /// `max` in units of `10^-decimals` (valid after [`Schema::validate`]).
    pub fn max_units(&self) -> Option<i128> {
        self.max.units_at(self.decimals)
    }

    fn validate(&self) -> Result<(), SchemaError> {
        if !is_identifier(&self.name) {
            return Err(SchemaError::BadName { what: "column", name: self.name.clone() });
        }
        if self.decimals > MAX_SCALE {
            return Err(SchemaError::TooPrecise { column: self.name.clone(), decimals: self.decimals });
        }
        for (which, value) in [("min", self.min), ("max", self.max)] {
            let units = value.units_at(self.decimals).ok_or_else(|| SchemaError::BoundPrecision {
                column: self.name.clone(),
                which,
                value,
                decimals: self.decimals,
            })?;
            if units.unsigned_abs() >= 1u128 << 63 {
                return Err(SchemaError::BoundTooLarge {
                    column: self.name.clone(),
                    which,
                    value,
                    decimals: self.decimals,
                });
            }
        }
        if self.min > self.max {
            return Err(SchemaError::EmptyRange { column: self.name.clone(), min: self.min, max: self.max });
        }
        Ok(())
    }
}

impl Schema {
    /// A checked schema with the default `min_cohort`.
    pub fn new(dataset: impl Into<String>, columns: Vec<Column>) -> Result<Self, SchemaError> {
        let s = Self { dataset: dataset.into(), columns, min_cohort: DEFAULT_MIN_COHORT };
        s.validate()?;
        Ok(s)
    }

    /// The same schema with another `min_cohort`, checked.
    pub fn with_min_cohort(mut self, min_cohort: u64) -> Result<Self, SchemaError> {
        self.min_cohort = min_cohort;
        self.validate()?;
        Ok(self)
    }

    /// Checks names, ranges, precisions and `min_cohort`.
    pub fn validate(&self) -> Result<(), SchemaError> {
        if !is_identifier(&self.dataset) {
            return Err(SchemaError::BadName { what: "dataset", name: self.dataset.clone() });
        }
        if self.columns.is_empty() {
            return Err(SchemaError::NoColumns(self.dataset.clone()));
        }
        for (i, c) in self.columns.iter().enumerate() {
            c.validate()?;
            if self.columns[..i].iter().any(|d| d.name == c.name) {
                return Err(SchemaError::DuplicateColumn(c.name.clone()));
            }
        }
        if self.min_cohort == 0 {
            return Err(SchemaError::ZeroCohort);
        }
        Ok(())
    }

    /// The index of a column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column names, comma separated (for error messages).
    pub fn column_list(&self) -> String {
        self.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}
