//! WHERE and GROUP BY as secret selection weights: which rows pass, and into which bucket, stays
//! secret. Every comparison of the query (the filter's and the bucket edges') is one batched LTZ
//! or EQZ over exact integers; the boolean structure is then evaluated on arithmetic bits.

use triad_mpc_core::circuits::{eqz, ltz};
use triad_mpc_core::engine::Engine;
use triad_mpc_core::{ArithShare, PartyId};

use super::util::{add_const, arith_bits, cat, constant, mul_const, one_minus, split, split_even};
use super::{Columns, ExecError};
use crate::decimal::Decimal;
use crate::plan::{CmpOp, ColumnId, Expr, Predicate};

/// Values a comparison operand may reach (exclusive): LTZ over Z_2^64 is exact for `|d| < 2^63`.
const LIMIT: i128 = 1 << 62;

/// A numeric expression as `X / q` for a public positive integer `q`: a public constant, or a
/// sharing with a public bound `|X| <= bound`. Comparisons then compare integers exactly.
enum Lin {
    Const { num: i128, q: i128 },
    Secret { x: ArithShare, q: i128, bound: i128 },
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

fn too_wide(what: &str) -> ExecError {
    ExecError::Bounds(format!(
        "{what} can exceed 2^62 for the declared column ranges; narrow the ranges or simplify the expression"
    ))
}

fn checked(v: Option<i128>, what: &str) -> Result<i128, ExecError> {
    match v {
        Some(v) if v.abs() < LIMIT => Ok(v),
        _ => Err(too_wide(what)),
    }
}

fn pow10(e: u32) -> Result<i128, ExecError> {
    10i128.checked_pow(e).ok_or_else(|| too_wide("a decimal scale"))
}

struct Eval<'a, E> {
    e: &'a mut E,
    cols: &'a Columns<'a>,
}

impl<E: Engine> Eval<'_, E> {
    fn me(&mut self) -> PartyId {
        self.e.session().me()
    }

    fn expr(&mut self, x: &Expr) -> Result<Lin, ExecError> {
        Ok(match x {
            Expr::Column(ColumnId(j)) => {
                let c = self.cols.info(*j)?;
                Lin::Secret { x: self.cols.share(*j)?.clone(), q: pow10(c.decimals)?, bound: c.abs_max }
            }
            Expr::Const(d) => Lin::Const { num: d.units, q: pow10(d.scale)? },
            Expr::Neg(a) => match self.expr(a)? {
                Lin::Const { num, q } => Lin::Const { num: -num, q },
                Lin::Secret { x, q, bound } => Lin::Secret { x: x.neg(), q, bound },
            },
            Expr::Add(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                self.add(a, b)?
            }
            Expr::Sub(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                let b = match b {
                    Lin::Const { num, q } => Lin::Const { num: -num, q },
                    Lin::Secret { x, q, bound } => Lin::Secret { x: x.neg(), q, bound },
                };
                self.add(a, b)?
            }
            Expr::Mul(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                match (a, b) {
                    (Lin::Const { num: n1, q: q1 }, Lin::Const { num: n2, q: q2 }) => Lin::Const {
                        num: checked(n1.checked_mul(n2), "a constant product")?,
                        q: checked(q1.checked_mul(q2), "a constant product")?,
                    },
                    (Lin::Const { num, q: qc }, Lin::Secret { x, q, bound })
                    | (Lin::Secret { x, q, bound }, Lin::Const { num, q: qc }) => Lin::Secret {
                        x: mul_const(&x, num),
                        q: checked(q.checked_mul(qc), "a product's scale")?,
                        bound: checked(bound.checked_mul(num.abs()), "a product")?,
                    },
                    (Lin::Secret { x: x1, q: q1, bound: b1 }, Lin::Secret { x: x2, q: q2, bound: b2 }) => Lin::Secret {
                        bound: checked(b1.checked_mul(b2), "a product of columns")?,
                        q: checked(q1.checked_mul(q2), "a product's scale")?,
                        x: self.e.mul(&x1, &x2)?,
                    },
                }
            }
            // a / (u / 10^s) = a * 10^s / u, with the sign of u moved to the numerator.
            Expr::Div(a, c) => {
                let a = self.expr(a)?;
                let (u, s) = (c.units, pow10(c.scale)?);
                if u == 0 {
                    return Err(ExecError::Input("division by zero in WHERE".into()));
                }
                let sign = u.signum();
                match a {
                    Lin::Const { num, q } => Lin::Const {
                        num: checked(num.checked_mul(s * sign), "a constant quotient")?,
                        q: checked(q.checked_mul(u.abs()), "a constant quotient")?,
                    },
                    Lin::Secret { x, q, bound } => Lin::Secret {
                        x: mul_const(&x, s * sign),
                        q: checked(q.checked_mul(u.abs()), "a quotient's scale")?,
                        bound: checked(bound.checked_mul(s), "a quotient")?,
                    },
                }
            }
        })
    }

    fn add(&mut self, a: Lin, b: Lin) -> Result<Lin, ExecError> {
        let me = self.me();
        let q_of = |l: &Lin| match l {
            Lin::Const { q, .. } | Lin::Secret { q, .. } => *q,
        };
        let (qa, qb) = (q_of(&a), q_of(&b));
        let q = checked((qa / gcd(qa, qb)).checked_mul(qb), "a sum's scale")?;
        let (fa, fb) = (q / qa, q / qb);
        Ok(match (a, b) {
            (Lin::Const { num: n1, .. }, Lin::Const { num: n2, .. }) => Lin::Const {
                num: checked(
                    n1.checked_mul(fa).and_then(|x| n2.checked_mul(fb).and_then(|y| x.checked_add(y))),
                    "a constant sum",
                )?,
                q,
            },
            (Lin::Const { num, .. }, Lin::Secret { x, bound, .. }) => secret_plus_const(me, x, bound, fb, num, fa, q)?,
            (Lin::Secret { x, bound, .. }, Lin::Const { num, .. }) => secret_plus_const(me, x, bound, fa, num, fb, q)?,
            (Lin::Secret { x: x1, bound: b1, .. }, Lin::Secret { x: x2, bound: b2, .. }) => Lin::Secret {
                x: mul_const(&x1, fa).add(&mul_const(&x2, fb))?,
                q,
                bound: checked(
                    b1.checked_mul(fa).and_then(|x| b2.checked_mul(fb).and_then(|y| x.checked_add(y))),
                    "a sum of columns",
                )?,
            },
        })
    }
}

/// `x * fs + num * fc` over the common scale `q`.
fn secret_plus_const(
    me: PartyId,
    x: ArithShare,
    bound: i128,
    fs: i128,
    num: i128,
    fc: i128,
    q: i128,
) -> Result<Lin, ExecError> {
    let c = checked(num.checked_mul(fc), "a sum with a constant")?;
    Ok(Lin::Secret {
        x: add_const(me, &mul_const(&x, fs), c)?,
        q,
        bound: checked(bound.checked_mul(fs).and_then(|b| b.checked_add(c.abs())), "a sum")?,
    })
}

/// A comparison leaf: LTZ or EQZ of an exact integer difference, possibly negated.
#[derive(Clone, Copy)]
enum Test {
    Ltz,
    Eqz,
}

/// A predicate with its comparisons replaced by leaf indices.
enum Tree {
    Leaf { test: Test, idx: usize, negate: bool },
    Const(bool),
    And(Box<Tree>, Box<Tree>),
    Or(Box<Tree>, Box<Tree>),
    Not(Box<Tree>),
}

/// The differences to test, per kind, filled while building the trees.
#[derive(Default)]
struct Leaves {
    ltz: Vec<ArithShare>,
    eqz: Vec<ArithShare>,
}

impl<E: Engine> Eval<'_, E> {
    fn tree(&mut self, p: &Predicate, leaves: &mut Leaves) -> Result<Tree, ExecError> {
        Ok(match p {
            Predicate::Const(b) => Tree::Const(*b),
            Predicate::Not(a) => Tree::Not(Box::new(self.tree(a, leaves)?)),
            Predicate::And(a, b) => Tree::And(Box::new(self.tree(a, leaves)?), Box::new(self.tree(b, leaves)?)),
            Predicate::Or(a, b) => Tree::Or(Box::new(self.tree(a, leaves)?), Box::new(self.tree(b, leaves)?)),
            Predicate::Compare(l, op, r) => {
                let (l, r) = (self.expr(l)?, self.expr(r)?);
                // l op r  <=>  d op 0 for d = l - r over the common scale (q > 0).
                let neg_r = match r {
                    Lin::Const { num, q } => Lin::Const { num: -num, q },
                    Lin::Secret { x, q, bound } => Lin::Secret { x: x.neg(), q, bound },
                };
                match self.add(l, neg_r)? {
                    Lin::Const { num, .. } => Tree::Const(match op {
                        CmpOp::Eq => num == 0,
                        CmpOp::Ne => num != 0,
                        CmpOp::Lt => num < 0,
                        CmpOp::Le => num <= 0,
                        CmpOp::Gt => num > 0,
                        CmpOp::Ge => num >= 0,
                    }),
                    Lin::Secret { x: d, .. } => {
                        // d < 0: ltz(d); d > 0: ltz(-d); d <= 0: not ltz(-d); d >= 0: not ltz(d).
                        let (test, diff, negate) = match op {
                            CmpOp::Lt => (Test::Ltz, d, false),
                            CmpOp::Ge => (Test::Ltz, d, true),
                            CmpOp::Gt => (Test::Ltz, d.neg(), false),
                            CmpOp::Le => (Test::Ltz, d.neg(), true),
                            CmpOp::Eq => (Test::Eqz, d, false),
                            CmpOp::Ne => (Test::Eqz, d, true),
                        };
                        let list = match test {
                            Test::Ltz => &mut leaves.ltz,
                            Test::Eqz => &mut leaves.eqz,
                        };
                        list.push(diff);
                        Tree::Leaf { test, idx: list.len() - 1, negate }
                    }
                }
            }
        })
    }

    /// Arithmetic 0/1 of a tree over `n` rows, given the leaves' bits.
    fn combine(&mut self, t: &Tree, ltz: &[ArithShare], eqz: &[ArithShare], n: usize) -> Result<ArithShare, ExecError> {
        let me = self.me();
        Ok(match t {
            Tree::Const(b) => constant(me, i128::from(*b), n),
            Tree::Leaf { test, idx, negate } => {
                let bits = match test {
                    Test::Ltz => ltz.get(*idx),
                    Test::Eqz => eqz.get(*idx),
                }
                .ok_or_else(|| ExecError::Input("internal: missing comparison".into()))?;
                if *negate { one_minus(me, bits)? } else { bits.clone() }
            }
            Tree::Not(a) => one_minus(me, &self.combine(a, ltz, eqz, n)?)?,
            Tree::And(a, b) => {
                let (a, b) = (self.combine(a, ltz, eqz, n)?, self.combine(b, ltz, eqz, n)?);
                self.e.mul(&a, &b)?
            }
            // a OR b = a + b - ab
            Tree::Or(a, b) => {
                let (a, b) = (self.combine(a, ltz, eqz, n)?, self.combine(b, ltz, eqz, n)?);
                let ab = self.e.mul(&a, &b)?;
                a.add(&b)?.sub(&ab)?
            }
        })
    }
}

/// Evaluates several predicates over all rows with one batched LTZ and one batched EQZ; returns
/// each as arithmetic 0/1 of length `n`.
pub(crate) fn predicates<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    preds: &[Predicate],
) -> Result<Vec<ArithShare>, ExecError> {
    let n = cols.n;
    let mut ev = Eval { e, cols };
    let mut leaves = Leaves::default();
    let trees = preds.iter().map(|p| ev.tree(p, &mut leaves)).collect::<Result<Vec<_>, _>>()?;
    let ltz_bits = batch(ev.e, &leaves.ltz, Test::Ltz)?;
    let eqz_bits = batch(ev.e, &leaves.eqz, Test::Eqz)?;
    trees.iter().map(|t| ev.combine(t, &ltz_bits, &eqz_bits, n)).collect()
}

fn batch<E: Engine>(e: &mut E, diffs: &[ArithShare], test: Test) -> Result<Vec<ArithShare>, ExecError> {
    if diffs.is_empty() {
        return Ok(Vec::new());
    }
    let all = cat(&diffs.iter().collect::<Vec<_>>())?;
    let b = match test {
        Test::Ltz => ltz(e, &all)?,
        Test::Eqz => eqz(e, &all)?,
    };
    let bits = arith_bits(e, &b)?;
    split(&bits, &diffs.iter().map(ArithShare::len).collect::<Vec<_>>())
}

/// Who is in which group: per group a 0/1 weight per row (`None`: every row, one group).
pub(crate) struct Selection {
    /// Number of groups.
    pub(crate) groups: usize,
    /// Per group, 1 for the rows in it; `None` when there is no WHERE and no GROUP BY.
    pub(crate) weights: Option<Vec<ArithShare>>,
    /// Rows per group (secret, one element per group), or public when `weights` is `None`.
    pub(crate) counts: ArithShare,
}

/// The selection of a query: the filter's bits and the buckets' one-hot bits, multiplied.
pub(crate) fn selection<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    filter: Option<&Predicate>,
    group_by: Option<&crate::plan::Bucketing>,
) -> Result<Selection, ExecError> {
    let me = e.session().me();
    let n = cols.n;
    if filter.is_none() && group_by.is_none() {
        return Ok(Selection { groups: 1, weights: None, counts: constant(me, n as i128, 1) });
    }
    let mut preds: Vec<Predicate> = filter.into_iter().cloned().collect();
    if let Some(b) = group_by {
        preds.extend(
            b.edges
                .iter()
                .map(|edge: &Decimal| Predicate::Compare(Expr::Column(b.column), CmpOp::Ge, Expr::Const(*edge))),
        );
    }
    let mut bits = predicates(e, cols, &preds)?.into_iter();
    let pass = if filter.is_some() { bits.next() } else { None };
    let at_or_above: Vec<ArithShare> = bits.collect();
    // One-hot buckets from "x >= edge_j": bucket 0 below the first edge, b between edges b-1
    // and b (0-based edges), the last at or above the last edge.
    let mut onehot = Vec::with_capacity(at_or_above.len() + 1);
    if at_or_above.is_empty() {
        onehot.push(constant(me, 1, n));
    } else {
        onehot.push(one_minus(me, &at_or_above[0])?);
        for w in at_or_above.windows(2) {
            onehot.push(w[0].sub(&w[1])?);
        }
        if let Some(last) = at_or_above.last() {
            onehot.push(last.clone());
        }
    }
    let groups = onehot.len();
    let weights = match pass {
        None => onehot,
        Some(s) if groups == 1 => vec![s],
        Some(s) => {
            let all = cat(&onehot.iter().collect::<Vec<_>>())?;
            let tiled = super::util::tile(&s, groups)?;
            split_even(&e.mul(&all, &tiled)?, groups)?
        }
    };
    let counts = cat(&weights.iter().map(ArithShare::sum).collect::<Vec<_>>().iter().collect::<Vec<_>>())?;
    Ok(Selection { groups, weights: Some(weights), counts })
}
