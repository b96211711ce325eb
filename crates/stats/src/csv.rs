//! Datasets from CSV text: a header row naming the columns, one row per contribution, one decimal
//! per field. The schema is either given (each of its columns must be in the header; other header
//! columns are ignored) or inferred from the data ([`infer`]). Every rejection names the 1-based
//! line, the 1-based field and the column, and says what to fix.
//!
//! The dialect: fields separated by `,`; a field may be wrapped in double quotes (`""` inside is a
//! quote; a quoted field cannot span lines); spaces around a field are ignored; `\n` or `\r\n`
//! line ends; a UTF-8 byte-order mark is skipped; blank lines are skipped. Header names fold to
//! lower case (as PostgreSQL folds unquoted identifiers) and must then be lowercase SQL
//! identifiers. Values are decimals as [`Decimal::parse`] reads them (`-12.5`, `.5`, `1e3`); no
//! empty fields (a dataset has no NULLs).

use std::fmt;

use crate::decimal::{Decimal, MAX_SCALE};
use crate::schema::{Column, Schema, SchemaError, is_identifier};

/// Where a rejected field is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// 1-based line of the file.
    pub line: usize,
    /// 1-based field in that line.
    pub field: usize,
    /// The column's name (empty where the header itself is bad).
    pub column: String,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}, field {}", self.line, self.field)
        } else {
            write!(f, "line {}, field {} (column `{}`)", self.line, self.field, self.column)
        }
    }
}

/// CSV text that cannot be read as a dataset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// No header row.
    #[error("the file is empty: write a header row naming the columns, then one row per contribution")]
    Empty,
    /// A header with no data rows.
    #[error("the file has a header but no data rows: add one row per contribution")]
    NoRows,
    /// A header name that is not usable.
    #[error(
        "{at}: header name `{name}` is not a SQL identifier; use letters a-z, digits and `_`, not starting with a digit"
    )]
    BadHeader {
        /// Where.
        at: Cell,
        /// The name as written.
        name: String,
    },
    /// A header name used twice.
    #[error("{at}: column `{name}` appears twice in the header; rename one of them")]
    DuplicateHeader {
        /// Where (the second one).
        at: Cell,
        /// The name.
        name: String,
    },
    /// A schema column absent from the header.
    #[error("line 1: the header has no column `{name}`, which the schema declares; the header has: {header}")]
    MissingColumn {
        /// The schema's column.
        name: String,
        /// The header's names, comma separated.
        header: String,
    },
    /// A row whose field count differs from the header's.
    #[error("line {line}: {found} fields, but the header has {expected}; every row needs one value per column")]
    FieldCount {
        /// 1-based line.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields in this line.
        found: usize,
    },
    /// A quoted field without its closing quote, or text after a closing quote.
    #[error("{at}: bad quoting; close the quoted field on the same line and put nothing but `,` after it")]
    Quote {
        /// Where.
        at: Cell,
    },
    /// An empty field.
    #[error("{at}: empty value; every row needs a number in every column (a dataset has no NULLs)")]
    EmptyValue {
        /// Where.
        at: Cell,
    },
    /// A field that is not a decimal number.
    #[error(
        "{at}: `{text}` is not a number; write a decimal with an optional sign and point (e.g. -12.5), at most {MAX_SCALE} digits after the point"
    )]
    NotANumber {
        /// Where.
        at: Cell,
        /// The field.
        text: String,
    },
    /// A value outside the schema's declared range.
    #[error(
        "{at}: {value} is outside the declared range [{min}, {max}]; fix the value or widen the range in the schema"
    )]
    OutOfRange {
        /// Where.
        at: Cell,
        /// The value.
        value: String,
        /// Declared min.
        min: String,
        /// Declared max.
        max: String,
    },
    /// A value with more digits after the point than the schema declares.
    #[error(
        "{at}: {value} has more than the declared {decimals} digits after the point; round the value or raise `decimals` in the schema"
    )]
    TooPrecise {
        /// Where.
        at: Cell,
        /// The value.
        value: String,
        /// Declared decimals.
        decimals: u32,
    },
    /// A value too large for the MPC's 64-bit integers at the column's precision.
    #[error(
        "{at}: {value} times 10^{decimals} (the column's precision) does not fit in 63 bits; use fewer digits after the point or smaller values"
    )]
    TooLarge {
        /// Where.
        at: Cell,
        /// The value.
        value: String,
        /// The column's decimals.
        decimals: u32,
    },
    /// The inferred (or given) schema is not valid.
    #[error("schema: {0}")]
    Schema(#[from] SchemaError),
}

/// A dataset read from CSV: its schema and its rows, in the schema's column order.
#[derive(Clone, PartialEq)]
pub struct Loaded {
    /// The schema (given, or inferred).
    pub schema: Schema,
    /// One row per contribution, one value per schema column.
    pub rows: Vec<Vec<Decimal>>,
}

// The rows are the contributors' private values: never in Debug output.
impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded").field("schema", &self.schema).field("rows", &self.rows.len()).finish()
    }
}

impl Loaded {
    /// Column `c`'s values as the MPC holds them: `value · 10^decimals` as a signed 64-bit integer,
    /// in two's complement (`u64`), one element per row.
    pub fn column_units(&self, c: usize) -> Vec<u64> {
        let decimals = self.schema.columns.get(c).map_or(0, |col| col.decimals);
        // Every value was checked to fit 63 bits at the column's precision.
        self.rows.iter().map(|r| r.get(c).and_then(|v| v.units_at(decimals)).map_or(0, |u| u as i64 as u64)).collect()
    }
}

/// One non-blank line split into fields.
struct Record<'a> {
    line: usize,
    fields: Vec<std::borrow::Cow<'a, str>>,
}

/// Splits one line into fields (quotes as in RFC 4180, but within the line).
fn split_line(line: &str, number: usize) -> Result<Vec<std::borrow::Cow<'_, str>>, CsvError> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let field = fields.len() + 1;
        let quote_error = || CsvError::Quote { at: Cell { line: number, field, column: String::new() } };
        let trimmed = rest.trim_start();
        if let Some(body) = trimmed.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = body.char_indices();
            let after = loop {
                match chars.next() {
                    None => return Err(quote_error()),
                    Some((i, '"')) => {
                        if body[i + 1..].starts_with('"') {
                            value.push('"');
                            chars.next();
                        } else {
                            break &body[i + 1..];
                        }
                    }
                    Some((_, c)) => value.push(c),
                }
            };
            fields.push(std::borrow::Cow::Owned(value));
            let after = after.trim_start();
            match after.strip_prefix(',') {
                Some(r) => rest = r,
                None if after.is_empty() => return Ok(fields),
                None => return Err(quote_error()),
            }
        } else {
            let (field_text, next) = match rest.find(',') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if field_text.contains('"') {
                return Err(quote_error());
            }
            fields.push(std::borrow::Cow::Borrowed(field_text.trim()));
            match next {
                Some(r) => rest = r,
                None => return Ok(fields),
            }
        }
    }
}

fn records(text: &str) -> impl Iterator<Item = Result<Record<'_>, CsvError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n').enumerate().filter_map(|(i, l)| {
        let l = l.strip_suffix('\r').unwrap_or(l);
        if l.trim().is_empty() {
            return None;
        }
        Some(split_line(l, i + 1).map(|fields| Record { line: i + 1, fields }))
    })
}

/// The header: names folded to lower case, checked.
fn header(rec: &Record<'_>) -> Result<Vec<String>, CsvError> {
    let mut names: Vec<String> = Vec::with_capacity(rec.fields.len());
    for (i, f) in rec.fields.iter().enumerate() {
        let at = Cell { line: rec.line, field: i + 1, column: String::new() };
        let name = f.to_lowercase();
        if !is_identifier(&name) {
            return Err(CsvError::BadHeader { at, name: f.to_string() });
        }
        if names.contains(&name) {
            return Err(CsvError::DuplicateHeader { at, name });
        }
        names.push(name);
    }
    Ok(names)
}

/// Parses one field as a decimal.
fn value(text: &str, at: impl FnOnce() -> Cell) -> Result<Decimal, CsvError> {
    if text.is_empty() {
        return Err(CsvError::EmptyValue { at: at() });
    }
    Decimal::parse(text).map_err(|_| CsvError::NotANumber { at: at(), text: text.to_owned() })
}

/// Reads `text` against a given schema: every schema column must be in the header (extra header
/// columns are ignored: [`Loaded`] holds the schema's columns only), every value within the
/// column's range and precision.
pub fn load(text: &str, schema: Schema) -> Result<Loaded, CsvError> {
    schema.validate()?;
    let mut recs = records(text);
    let head = recs.next().ok_or(CsvError::Empty)??;
    let names = header(&head)?;
    let mut positions = Vec::with_capacity(schema.columns.len());
    for c in &schema.columns {
        let pos = names
            .iter()
            .position(|n| *n == c.name)
            .ok_or_else(|| CsvError::MissingColumn { name: c.name.clone(), header: names.join(", ") })?;
        positions.push(pos);
    }
    let bounds: Vec<(i128, i128)> =
        schema.columns.iter().map(|c| (c.min_units().unwrap_or(0), c.max_units().unwrap_or(0))).collect();
    let mut rows = Vec::new();
    for rec in recs {
        let rec = rec?;
        check_count(&rec, names.len())?;
        let mut row = Vec::with_capacity(positions.len());
        for ((col, &pos), &(lo, hi)) in schema.columns.iter().zip(&positions).zip(&bounds) {
            let at = || Cell { line: rec.line, field: pos + 1, column: col.name.clone() };
            let text = rec.fields.get(pos).map_or("", |f| f.as_ref());
            let v = value(text, at)?;
            let units = v.units_at(col.decimals).ok_or_else(|| CsvError::TooPrecise {
                at: at(),
                value: text.to_owned(),
                decimals: col.decimals,
            })?;
            if units < lo || units > hi {
                return Err(CsvError::OutOfRange {
                    at: at(),
                    value: text.to_owned(),
                    min: col.min.to_string(),
                    max: col.max.to_string(),
                });
            }
            row.push(v);
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(CsvError::NoRows);
    }
    Ok(Loaded { schema, rows })
}

fn check_count(rec: &Record<'_>, expected: usize) -> Result<(), CsvError> {
    if rec.fields.len() != expected {
        return Err(CsvError::FieldCount { line: rec.line, expected, found: rec.fields.len() });
    }
    Ok(())
}

/// Reads `text` and infers its schema (dataset `dataset`, the default `min_cohort`): every header
/// column becomes a schema column, in header order, with
///
/// * `decimals`: the most digits after the point of any of its values, trailing zeros not counted
///   (`2.50` needs 1): the least precision that holds every value exactly;
/// * `min` and `max`: the data's smallest and largest values **rounded outward to one significant
///   digit** ([`round_outward`]: 8731.25 becomes 9000, 0.034 becomes 0.04, −12 becomes −20; 0 stays
///   0, and a positive min stays positive so `geometric_mean` remains possible). A schema is
///   public, so exact bounds would publish the data's minimum and maximum; the rounded ones reveal
///   only their order of magnitude. (For a real dataset declare the schema, independent of the
///   data, with a schema file.)
pub fn infer(text: &str, dataset: &str) -> Result<Loaded, CsvError> {
    let mut recs = records(text);
    let head = recs.next().ok_or(CsvError::Empty)??;
    let names = header(&head)?;
    let mut rows: Vec<Vec<Decimal>> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for rec in recs {
        let rec = rec?;
        check_count(&rec, names.len())?;
        let row = rec
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| value(f, || Cell { line: rec.line, field: i + 1, column: names[i].clone() }))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(row);
        lines.push(rec.line);
    }
    if rows.is_empty() {
        return Err(CsvError::NoRows);
    }
    let mut columns = Vec::with_capacity(names.len());
    for (c, name) in names.iter().enumerate() {
        let decimals = rows.iter().map(|r| r[c].normalized().scale).max().unwrap_or(0);
        // The first value that does not fit 63 bits at this precision, if any.
        for (r, row) in rows.iter().enumerate() {
            if row[c].units_at(decimals).is_none_or(|u| u.unsigned_abs() >= 1u128 << 63) {
                return Err(CsvError::TooLarge {
                    at: Cell { line: lines[r], field: c + 1, column: name.clone() },
                    value: row[c].to_string(),
                    decimals,
                });
            }
        }
        let lo = rows.iter().map(|r| r[c]).min().unwrap_or(Decimal::int(0));
        let hi = rows.iter().map(|r| r[c]).max().unwrap_or(Decimal::int(0));
        let fits = |d: Decimal| d.units_at(decimals).is_some_and(|u| u.unsigned_abs() < 1u128 << 63);
        let min = Some(round_outward(lo, false)).filter(|d| fits(*d)).unwrap_or(lo);
        let max = Some(round_outward(hi, true)).filter(|d| fits(*d)).unwrap_or(hi);
        columns.push(Column::new(name.clone(), min, max, decimals));
    }
    let schema = Schema::new(dataset, columns)?;
    Ok(Loaded { schema, rows })
}

/// `v` rounded to one significant digit, up (`up`) or down: 8731.25 → 9000 up, 8000 down;
/// −12 → −20 down, −10 up; 0.034 → 0.04 up, 0.03 down. Exact; the result has no more digits after
/// the point than `v` (so it fits the column's precision) and has `v`'s sign.
pub fn round_outward(v: Decimal, up: bool) -> Decimal {
    let v = v.normalized();
    if v.units == 0 {
        return v;
    }
    let digits = v.units.unsigned_abs().ilog10();
    let Some(step) = 10i128.checked_pow(digits) else { return v };
    let q = v.units.div_euclid(step);
    let units = if up && v.units.rem_euclid(step) != 0 { q + 1 } else { q };
    match units.checked_mul(step) {
        Some(u) => Decimal { units: u, scale: v.scale }.normalized(),
        None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).expect("a decimal")
    }

    #[test]
    fn rounding_outward_keeps_one_significant_digit() {
        for (v, down, up) in [
            ("8731.25", "8000", "9000"),
            ("-12", "-20", "-10"),
            ("0.034", "0.03", "0.04"),
            ("0", "0", "0"),
            ("5", "5", "5"),
            ("0.0004", "0.0004", "0.0004"),
            ("100.5", "100", "200"),
            ("-0.5", "-0.5", "-0.5"),
            ("3.7", "3", "4"),
        ] {
            assert_eq!(round_outward(d(v), false), d(down), "{v} down");
            assert_eq!(round_outward(d(v), true), d(up), "{v} up");
        }
    }

    #[test]
    fn quoting_and_whitespace() {
        let f = split_line(r#" 1 , "2.5" ,"a""b",  "#, 3).expect("splits");
        assert_eq!(f, vec!["1", "2.5", "a\"b", ""]);
        assert!(matches!(split_line(r#""1,2"#, 3), Err(CsvError::Quote { at }) if at.line == 3 && at.field == 1));
        assert!(matches!(split_line(r#"1,"2"x"#, 4), Err(CsvError::Quote { at }) if at.field == 2));
        assert!(matches!(split_line(r#"1,2"3"#, 4), Err(CsvError::Quote { at }) if at.field == 2));
    }
}
