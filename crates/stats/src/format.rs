//! Answers as text: an aligned table, one row per group, `NULL` for SQL's NULL; optionally the
//! plaintext reference and the difference beside each value.

use crate::exec::Answer;

/// A value for people: integers without a point, others with up to 6 digits after the point
/// (trailing zeros dropped), very small or very large magnitudes in scientific notation.
pub fn number(v: Option<f64>) -> String {
    let Some(v) = v else { return "NULL".to_owned() };
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let a = v.abs();
    if v == v.trunc() && a < 1e15 {
        return format!("{v:.0}");
    }
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        return format!("{v:.6e}");
    }
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `got − reference`, NULL when either is NULL.
pub fn difference(got: Option<f64>, reference: Option<f64>) -> Option<f64> {
    Some(got? - reference?)
}

/// The answer as an aligned table. With `reference` (the same shape, e.g.
/// [`Answer::of_reference`]) each output column `c` is followed by `c (reference)` and
/// `c (difference)`; a reference row or value that is missing shows as `-`.
pub fn table(answer: &Answer, reference: Option<&Answer>) -> String {
    let mut head: Vec<String> = Vec::new();
    for c in &answer.columns {
        head.push(c.clone());
        if reference.is_some() {
            head.push(format!("{c} (reference)"));
            head.push(format!("{c} (difference)"));
        }
    }
    let mut body: Vec<Vec<String>> = Vec::with_capacity(answer.rows.len());
    for (r, row) in answer.rows.iter().enumerate() {
        let mut cells = Vec::with_capacity(head.len());
        for (c, &v) in row.iter().enumerate() {
            cells.push(number(v));
            if let Some(reference) = reference {
                match reference.rows.get(r).and_then(|rr| rr.get(c)) {
                    Some(&rv) => {
                        cells.push(number(rv));
                        cells.push(number(difference(v, rv)));
                    }
                    None => cells.extend(["-".to_owned(), "-".to_owned()]),
                }
            }
        }
        body.push(cells);
    }
    let width = head.len().max(body.iter().map(Vec::len).max().unwrap_or(0));
    let widths: Vec<usize> = (0..width)
        .map(|i| {
            let h = head.get(i).map_or(0, |s| s.chars().count());
            body.iter().filter_map(|r| r.get(i)).map(|s| s.chars().count()).max().unwrap_or(0).max(h)
        })
        .collect();
    let line = |cells: &[String], right: bool| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(s, &w)| if right { format!("{s:>w$}") } else { format!("{s:<w$}") })
            .collect();
        parts.join(" | ").trim_end().to_owned()
    };
    let mut out = line(&head, false);
    out.push('\n');
    out.push_str(&widths.iter().map(|&w| "-".repeat(w)).collect::<Vec<_>>().join("-+-"));
    out.push('\n');
    for r in &body {
        out.push_str(&line(r, true));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(None), "NULL");
        assert_eq!(number(Some(42.0)), "42");
        assert_eq!(number(Some(-3.0)), "-3");
        assert_eq!(number(Some(0.1 + 0.2)), "0.3");
        assert_eq!(number(Some(2.5)), "2.5");
        assert_eq!(number(Some(-1e-9)), "-1.000000e-9");
        assert_eq!(number(Some(-0.0000001)), "-1.000000e-7");
        assert_eq!(number(Some(-0.0)), "0");
    }

    #[test]
    fn a_table_with_its_reference() {
        let a = Answer { columns: vec!["n".into(), "avg(x)".into()], rows: vec![vec![Some(12.0), Some(2.5)]] };
        let r = Answer { columns: a.columns.clone(), rows: vec![vec![Some(12.0), Some(2.25)]] };
        let t = table(&a, Some(&r));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("n  | n (reference) | n (difference) | avg(x)"), "{t}");
        assert_eq!(lines[2], "12 |            12 |              0 |    2.5 |               2.25 |                0.25");
        let plain = table(&Answer { columns: vec!["m".into()], rows: vec![vec![None]] }, None);
        assert_eq!(plain, "m\n----\nNULL\n");
    }
}
