use super::*;

fn fmt(i: u32, d: u32) -> DecimalFormat {
    DecimalFormat::new(i, d, 16).expect("valid format")
}

#[test]
fn scales_by_ten_to_the_max_decimals() {
    let f = fmt(6, 4);
    assert_eq!(f.parse(b"12.345"), Ok(123_450));
    assert_eq!(f.parse(b"12"), Ok(120_000));
    assert_eq!(f.parse(b"0.0001"), Ok(1));
    assert_eq!(f.parse(b"007.5"), Ok(75_000));
    assert_eq!(f.parse(b"999999.9999"), Ok(9_999_999_999));
    assert_eq!(fmt(3, 0).parse(b"123"), Ok(123));
}

#[test]
fn max_len_counts_the_point_only_with_decimals() {
    assert_eq!(fmt(6, 4).max_len(), 11);
    assert_eq!(fmt(6, 0).max_len(), 6);
}

#[test]
fn formats_beyond_eighteen_digits_are_refused() {
    assert_eq!(DecimalFormat::new(10, 9, 0), Err(FormatError::TooManyDigits { total: 19 }));
    assert_eq!(DecimalFormat::new(0, 4, 0), Err(FormatError::NoIntegerDigits));
    assert!(DecimalFormat::new(12, 6, 0).is_ok());
}
