//! Parsing (sqlparser, PostgreSQL dialect) and checking against a schema into a [`Query`].

use sqlparser::ast::{
    self, BinaryOperator, DuplicateTreatment, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, ObjectName,
    ObjectNamePart, OrderBySort, SelectItem, SetExpr, Spanned, Statement, TableFactor, UnaryOperator, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::decimal::Decimal;
use crate::error::{At, QueryError};
use crate::plan::{
    Aggregate, BinaryAgg, Bucketing, CmpOp, ColumnId, Expr, Output, OutputValue, PercentileKind, Predicate, Query,
    UnaryAgg,
};
use crate::schema::Schema;

/// The functions the subset knows, for error messages.
pub const SUPPORTED_FUNCTIONS: &str = "count, sum, avg, min, max, var_pop, var_samp, variance, stddev_pop, \
stddev_samp, stddev, percentile_cont, percentile_disc, mode, covar_pop, covar_samp, corr, regr_slope, \
regr_intercept, regr_r2, regr_count, median, geometric_mean, harmonic_mean, gini (aggregates) and \
width_bucket(column, ARRAY[edges]) in GROUP BY";

/// The largest number of distinct values a `mode()` column may have.
pub const MODE_DOMAIN_LIMIT: u128 = 4096;

type R<T> = Result<T, QueryError>;

fn at<T: Spanned + std::fmt::Display + ?Sized>(node: &T) -> At {
    let s = node.span();
    At { line: s.start.line, column: s.start.column, sql: node.to_string().trim().to_owned() }
}

/// For nodes without spans: the SQL text only.
fn text<T: std::fmt::Display + ?Sized>(node: &T) -> At {
    At { line: 0, column: 0, sql: node.to_string() }
}

fn ident_at(i: &ast::Ident) -> At {
    At { line: i.span.start.line, column: i.span.start.column, sql: i.to_string() }
}

fn unsupported<T: Spanned + std::fmt::Display + ?Sized>(
    construct: &'static str,
    node: &T,
    instead: &'static str,
) -> QueryError {
    QueryError::Unsupported { construct, at: at(node), instead }
}

/// PostgreSQL folds unquoted identifiers to lower case.
fn ident_name(i: &ast::Ident) -> String {
    if i.quote_style.is_some() { i.value.clone() } else { i.value.to_lowercase() }
}

/// The longest query text accepted: bounds the depth of the parser's tree (whose drop recurses).
pub const MAX_SQL_BYTES: usize = 16 * 1024;

/// The deepest expression nesting accepted (the checker recurses over expressions).
pub const MAX_DEPTH: usize = 64;

/// Parses and checks one `SELECT` against `schema`.
pub fn plan(schema: &Schema, sql: &str) -> R<Query> {
    let q = parse_query(sql)?;
    Checker { schema, alias: None }.query(&q)
}

/// The dataset a query reads, from its `FROM` alone (no schema): what a service routes the
/// query by before it plans it against that dataset's schema with [`plan`]. Errors in the
/// statement's form or its `FROM` are the ones [`plan`] gives; the rest of the query is checked
/// only by [`plan`].
pub fn dataset_of(sql: &str) -> R<String> {
    let q = parse_query(sql)?;
    match q.body.as_ref() {
        SetExpr::Select(s) => Ok(from_table(s)?.0),
        other => Err(unsupported("this query form", other, SELECT_FORM)),
    }
}

/// One statement, a query.
fn parse_query(sql: &str) -> R<Box<ast::Query>> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(QueryError::TooLong { bytes: sql.len(), limit: MAX_SQL_BYTES });
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| QueryError::Parse(e.to_string()))?;
    if statements.len() != 1 {
        return Err(QueryError::StatementCount(statements.len()));
    }
    match statements.remove(0) {
        Statement::Query(q) => Ok(q),
        statement => Err(unsupported("this statement", &statement, "write one SELECT over the dataset")),
    }
}

/// The one table of a `SELECT`'s `FROM`: its name (where it stands) and its alias.
fn from_table(s: &ast::Select) -> R<(String, &ObjectName, Option<&ast::TableAlias>)> {
    let [twj] = s.from.as_slice() else {
        if s.from.is_empty() {
            return Err(unsupported("a SELECT without FROM", s, "name the dataset: FROM <dataset>"));
        }
        return Err(unsupported(
            "several tables in FROM",
            &s.from[1],
            "query one dataset; joins and cross products are not supported",
        ));
    };
    if let Some(j) = twj.joins.first() {
        return Err(unsupported("JOIN", j, "query one dataset; joins are not supported"));
    }
    match &twj.relation {
        TableFactor::Table { name, alias, args, with_hints, version, with_ordinality, partitions, .. } => {
            if args.is_some()
                || !with_hints.is_empty()
                || version.is_some()
                || *with_ordinality
                || !partitions.is_empty()
            {
                return Err(unsupported("a table function or table hints", &twj.relation, "write FROM <dataset>"));
            }
            Ok((object_name(name)?, name, alias.as_ref()))
        }
        TableFactor::Derived { .. } => {
            Err(unsupported("a subquery in FROM", &twj.relation, "query the dataset directly: FROM <dataset>"))
        }
        other => Err(unsupported("this FROM item", other, "write FROM <dataset>")),
    }
}

fn object_name(name: &ObjectName) -> R<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Ok(ident_name(i)),
        _ => Err(unsupported("a qualified or computed name", name, "name the dataset alone: FROM <dataset>")),
    }
}

struct Checker<'a> {
    schema: &'a Schema,
    alias: Option<String>,
}

const SELECT_FORM: &str = "write SELECT <aggregates> FROM <dataset> [WHERE <condition>] \
[GROUP BY width_bucket(<column>, ARRAY[<edges>])]";

impl Checker<'_> {
    fn query(mut self, q: &ast::Query) -> R<Query> {
        if let Some(w) = &q.with {
            return Err(unsupported("WITH (common table expressions)", w, SELECT_FORM));
        }
        if let Some(o) = &q.order_by {
            return Err(unsupported("ORDER BY on the query", o, "results come one row per group, in bucket order"));
        }
        if let Some(l) = &q.limit_clause {
            return Err(unsupported("LIMIT/OFFSET", l, "results are one row per group; drop LIMIT"));
        }
        if let Some(f) = &q.fetch {
            return Err(unsupported("FETCH", f, "results are one row per group; drop FETCH"));
        }
        if !q.locks.is_empty() || q.for_clause.is_some() || q.settings.is_some() || q.format_clause.is_some() {
            return Err(unsupported("a locking, FOR, SETTINGS or FORMAT clause", q, SELECT_FORM));
        }
        if !q.pipe_operators.is_empty() {
            return Err(unsupported("pipe operators", q, SELECT_FORM));
        }
        let select = match q.body.as_ref() {
            SetExpr::Select(s) => s,
            SetExpr::Query(inner) => return Err(unsupported("a parenthesised subquery", inner.as_ref(), SELECT_FORM)),
            SetExpr::SetOperation { .. } => {
                return Err(unsupported("UNION/INTERSECT/EXCEPT", q.body.as_ref(), "run one SELECT per question"));
            }
            other => return Err(unsupported("this query form", other, SELECT_FORM)),
        };
        let s = select.as_ref();
        if let Some(d) = &s.distinct {
            return Err(QueryError::Unsupported {
                construct: "SELECT DISTINCT",
                at: text(d),
                instead: "aggregates already give one row per group",
            });
        }
        if let Some(t) = &s.top {
            return Err(QueryError::Unsupported { construct: "TOP", at: text(t), instead: "drop TOP" });
        }
        if let Some(i) = &s.into {
            return Err(unsupported("SELECT INTO", i, SELECT_FORM));
        }
        if let Some(h) = &s.having {
            return Err(unsupported("HAVING", h, "filter rows with WHERE; groups are all reported"));
        }
        if let Some(qu) = &s.qualify {
            return Err(unsupported("QUALIFY", qu, "filter rows with WHERE"));
        }
        if let Some(p) = &s.prewhere {
            return Err(unsupported("PREWHERE", p, "filter rows with WHERE"));
        }
        if !s.named_window.is_empty() {
            return Err(unsupported("WINDOW clauses", s, "use plain aggregates"));
        }
        if !s.lateral_views.is_empty()
            || !s.connect_by.is_empty()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || s.exclude.is_some()
        {
            return Err(unsupported("this SELECT clause", s, SELECT_FORM));
        }
        for item in &s.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                depth_ok(e, "the select list")?;
            }
        }
        if let Some(w) = &s.selection {
            depth_ok(w, "WHERE")?;
        }
        if let GroupByExpr::Expressions(v, _) = &s.group_by {
            for e in v {
                depth_ok(e, "GROUP BY")?;
            }
        }
        let dataset = self.from(s)?;
        let group_by = self.group_by(&s.group_by)?;
        let filter = s.selection.as_ref().map(|e| self.predicate(e)).transpose()?;
        let (aggregates, outputs) = self.select_list(&s.projection, &s.group_by, group_by.as_ref())?;
        Ok(Query { dataset, aggregates, outputs, filter, group_by })
    }

    fn from(&mut self, s: &ast::Select) -> R<String> {
        let (n, name, alias) = from_table(s)?;
        if n != self.schema.dataset {
            return Err(QueryError::UnknownDataset { name: n, at: at(name), expected: self.schema.dataset.clone() });
        }
        if let Some(a) = alias {
            if !a.columns.is_empty() {
                return Err(unsupported("column aliases on the dataset", a, "alias the dataset only: FROM d AS t"));
            }
            self.alias = Some(ident_name(&a.name));
        }
        Ok(n)
    }

    fn column(&self, e: &ast::Expr) -> R<Option<ColumnId>> {
        let (ident, qualifier) = match e {
            ast::Expr::Identifier(i) => (i, None),
            ast::Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, i] => (i, Some(q)),
                _ => return Err(unsupported("a qualified name", e, "write <column> or <dataset>.<column>")),
            },
            ast::Expr::Nested(inner) => return self.column(inner),
            _ => return Ok(None),
        };
        if let Some(q) = qualifier {
            let qn = ident_name(q);
            if qn != self.schema.dataset && self.alias.as_deref() != Some(qn.as_str()) {
                return Err(QueryError::UnknownDataset {
                    name: qn,
                    at: ident_at(q),
                    expected: self.schema.dataset.clone(),
                });
            }
        }
        let name = ident_name(ident);
        match self.schema.column_index(&name) {
            Some(i) => Ok(Some(ColumnId(i))),
            None => Err(QueryError::UnknownColumn {
                name,
                at: at(e),
                dataset: self.schema.dataset.clone(),
                available: self.schema.column_list(),
            }),
        }
    }

    fn group_by(&self, g: &GroupByExpr) -> R<Option<Bucketing>> {
        match g {
            GroupByExpr::All(_) => Err(QueryError::Unsupported {
                construct: "GROUP BY ALL",
                at: At { line: 0, column: 0, sql: g.to_string() },
                instead: "write GROUP BY width_bucket(<column>, ARRAY[<edges>])",
            }),
            GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return Err(QueryError::Unsupported {
                        construct: "GROUP BY modifiers (ROLLUP, CUBE, TOTALS)",
                        at: At { line: 0, column: 0, sql: g.to_string() },
                        instead: "write GROUP BY width_bucket(<column>, ARRAY[<edges>])",
                    });
                }
                match exprs.as_slice() {
                    [] => Ok(None),
                    [e] => self.bucketing(e).map(Some),
                    [_, second, ..] => Err(unsupported(
                        "grouping by several expressions",
                        second,
                        "group by one width_bucket(<column>, ARRAY[<edges>])",
                    )),
                }
            }
        }
    }

    fn bucketing(&self, e: &ast::Expr) -> R<Bucketing> {
        const FORM: &str =
            "group by width_bucket(<column>, ARRAY[<increasing constants>]) (bucket 0 below the first edge)";
        let f = match e {
            ast::Expr::Nested(inner) => return self.bucketing(inner),
            ast::Expr::Function(f) if function_name(f) == "width_bucket" => f,
            _ if self.column(e)?.is_some() => {
                return Err(unsupported(
                    "grouping by a raw column",
                    e,
                    "bucket it: GROUP BY width_bucket(<column>, ARRAY[<edges>]) — raw values would be revealed",
                ));
            }
            _ => return Err(unsupported("this GROUP BY expression", e, FORM)),
        };
        self.plain_call(f)?;
        let args = self.args(f)?;
        let bad_args = || QueryError::Arguments {
            function: "width_bucket".into(),
            expected: "(<column>, ARRAY[<increasing constants>]); the 4-argument form is not supported, list the edges",
            at: at(e),
        };
        let [operand, edges] = args.as_slice() else { return Err(bad_args()) };
        let (Some(operand), Some(edges)) = (operand, edges) else { return Err(bad_args()) };
        let column = match self.column(operand)? {
            Some(c) => c,
            None => return Err(unsupported("a computed width_bucket operand", *operand, "bucket a column directly")),
        };
        let ast::Expr::Array(arr) = edges else {
            return Err(QueryError::BadEdges { reason: "expected ARRAY[<constants>]", at: at(*edges) });
        };
        if arr.elem.is_empty() {
            return Err(QueryError::BadEdges { reason: "at least one edge is needed", at: at(*edges) });
        }
        let mut out: Vec<Decimal> = Vec::with_capacity(arr.elem.len());
        for el in &arr.elem {
            let d = self
                .constant(el)?
                .ok_or(QueryError::BadEdges { reason: "edges must be numeric constants", at: at(el) })?;
            if out.last().is_some_and(|prev| *prev >= d) {
                return Err(QueryError::BadEdges { reason: "edges must be strictly increasing", at: at(el) });
            }
            out.push(d);
        }
        Ok(Bucketing { column, edges: out })
    }

    /// A numeric literal, possibly signed and parenthesised; `None` if `e` is not one.
    fn constant(&self, e: &ast::Expr) -> R<Option<Decimal>> {
        match e {
            ast::Expr::Value(v) => match &v.value {
                Value::Number(s, _) => Decimal::parse(s)
                    .map(Some)
                    .map_err(|err| QueryError::BadNumber { reason: err.to_string(), at: at(e) }),
                _ => Ok(None),
            },
            ast::Expr::UnaryOp { op: UnaryOperator::Minus, expr } => {
                Ok(self.constant(expr)?.map(|d| Decimal { units: -d.units, scale: d.scale }))
            }
            ast::Expr::UnaryOp { op: UnaryOperator::Plus, expr } | ast::Expr::Nested(expr) => self.constant(expr),
            _ => Ok(None),
        }
    }

    fn is_condition(e: &ast::Expr) -> bool {
        match e {
            ast::Expr::BinaryOp { op, .. } => matches!(
                op,
                BinaryOperator::And
                    | BinaryOperator::Or
                    | BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq
            ),
            ast::Expr::UnaryOp { op: UnaryOperator::Not, .. } | ast::Expr::Between { .. } => true,
            ast::Expr::Value(v) => matches!(v.value, Value::Boolean(_)),
            ast::Expr::Nested(inner) => Self::is_condition(inner),
            _ => false,
        }
    }

    fn predicate(&self, e: &ast::Expr) -> R<Predicate> {
        match e {
            ast::Expr::Nested(inner) => self.predicate(inner),
            ast::Expr::Value(v) if matches!(v.value, Value::Boolean(_)) => {
                Ok(Predicate::Const(v.value == Value::Boolean(true)))
            }
            ast::Expr::UnaryOp { op: UnaryOperator::Not, expr } => Ok(Predicate::Not(Box::new(self.predicate(expr)?))),
            ast::Expr::Between { expr, negated, low, high } => {
                let x = self.expr(expr)?;
                let p = Predicate::And(
                    Box::new(Predicate::Compare(x.clone(), CmpOp::Ge, self.expr(low)?)),
                    Box::new(Predicate::Compare(x, CmpOp::Le, self.expr(high)?)),
                );
                Ok(if *negated { Predicate::Not(Box::new(p)) } else { p })
            }
            ast::Expr::BinaryOp { left, op, right } => {
                let cmp = match op {
                    BinaryOperator::And => {
                        return Ok(Predicate::And(Box::new(self.predicate(left)?), Box::new(self.predicate(right)?)));
                    }
                    BinaryOperator::Or => {
                        return Ok(Predicate::Or(Box::new(self.predicate(left)?), Box::new(self.predicate(right)?)));
                    }
                    BinaryOperator::Eq => CmpOp::Eq,
                    BinaryOperator::NotEq => CmpOp::Ne,
                    BinaryOperator::Lt => CmpOp::Lt,
                    BinaryOperator::LtEq => CmpOp::Le,
                    BinaryOperator::Gt => CmpOp::Gt,
                    BinaryOperator::GtEq => CmpOp::Ge,
                    BinaryOperator::Plus
                    | BinaryOperator::Minus
                    | BinaryOperator::Multiply
                    | BinaryOperator::Divide => {
                        return Err(QueryError::Type {
                            expected: "a condition (a comparison, BETWEEN, AND, OR or NOT)",
                            found: "a number",
                            at: at(e),
                        });
                    }
                    _ => {
                        return Err(unsupported(
                            "this operator",
                            e,
                            "conditions use = <> < <= > >= BETWEEN AND OR NOT over + - * and / by a constant",
                        ));
                    }
                };
                Ok(Predicate::Compare(self.expr(left)?, cmp, self.expr(right)?))
            }
            _ => {
                self.reject_common(e)?;
                if self.column(e)?.is_some() || self.constant(e)?.is_some() || matches!(e, ast::Expr::UnaryOp { .. }) {
                    return Err(QueryError::Type {
                        expected: "a condition (a comparison, BETWEEN, AND, OR or NOT)",
                        found: "a number",
                        at: at(e),
                    });
                }
                Err(unsupported(
                    "this condition",
                    e,
                    "conditions use = <> < <= > >= BETWEEN AND OR NOT over columns and constants",
                ))
            }
        }
    }

    /// Errors for constructs that are wrong anywhere in WHERE.
    fn reject_common(&self, e: &ast::Expr) -> R<()> {
        match e {
            ast::Expr::Subquery(_) | ast::Expr::Exists { .. } => {
                Err(unsupported("a subquery", e, "use a plain condition on this dataset's columns"))
            }
            ast::Expr::Function(f) if f.over.is_some() => {
                Err(unsupported("a window function", e, "use plain aggregates in the select list"))
            }
            ast::Expr::Function(f) if aggregate_name(&function_name(f)) => Err(unsupported(
                "an aggregate in WHERE",
                e,
                "WHERE filters single rows; aggregates belong in the select list (HAVING is not supported)",
            )),
            ast::Expr::Function(f) => Err(QueryError::UnknownFunction { name: function_name(f), at: at(e) }),
            ast::Expr::IsNull(_) | ast::Expr::IsNotNull(_) => {
                Err(unsupported("IS [NOT] NULL", e, "columns have no NULLs; drop the test"))
            }
            ast::Expr::In { .. } => Err(unsupported("IN (...)", e, "write col = a OR col = b")),
            ast::Expr::Like { .. } | ast::Expr::ILike { .. } => {
                Err(unsupported("LIKE", e, "columns are numeric; compare with = <> < <= > >="))
            }
            ast::Expr::Case { .. } => Err(unsupported("CASE", e, "combine conditions with AND, OR and NOT")),
            ast::Expr::Cast { .. } => Err(unsupported("CAST", e, "columns are already numeric; drop the cast")),
            ast::Expr::Value(v) if !matches!(v.value, Value::Number(..) | Value::Boolean(_)) => {
                Err(QueryError::Type { expected: "a number or a condition", found: "a non-numeric literal", at: at(e) })
            }
            _ => Ok(()),
        }
    }

    fn expr(&self, e: &ast::Expr) -> R<Expr> {
        if let Some(d) = self.constant(e)? {
            return Ok(Expr::Const(d));
        }
        if let Some(c) = self.column(e)? {
            return Ok(Expr::Column(c));
        }
        if Self::is_condition(e) {
            return Err(QueryError::Type { expected: "a number", found: "a condition", at: at(e) });
        }
        match e {
            ast::Expr::Nested(inner) => self.expr(inner),
            ast::Expr::UnaryOp { op: UnaryOperator::Minus, expr } => Ok(Expr::Neg(Box::new(self.expr(expr)?))),
            ast::Expr::UnaryOp { op: UnaryOperator::Plus, expr } => self.expr(expr),
            ast::Expr::BinaryOp { left, op, right } => {
                let l = Box::new(self.expr(left)?);
                match op {
                    BinaryOperator::Plus => Ok(Expr::Add(l, Box::new(self.expr(right)?))),
                    BinaryOperator::Minus => Ok(Expr::Sub(l, Box::new(self.expr(right)?))),
                    BinaryOperator::Multiply => Ok(Expr::Mul(l, Box::new(self.expr(right)?))),
                    BinaryOperator::Divide => match self.constant(right)? {
                        Some(d) if d.units == 0 => Err(QueryError::DivisionByZero { at: at(right.as_ref()) }),
                        Some(d) => Ok(Expr::Div(l, d)),
                        None => {
                            self.expr(right)?;
                            Err(QueryError::NonConstantDivisor { at: at(right.as_ref()) })
                        }
                    },
                    BinaryOperator::Modulo => Err(unsupported("%", e, "arithmetic is + - * and / by a constant")),
                    _ => Err(unsupported("this operator", e, "arithmetic is + - * and / by a constant")),
                }
            }
            _ => {
                self.reject_common(e)?;
                Err(unsupported(
                    "this expression",
                    e,
                    "arithmetic is + - * and / by a constant, over columns and numbers",
                ))
            }
        }
    }

    /// Rejects FILTER, OVER, DISTINCT, argument clauses and parameters on a function call.
    fn plain_call(&self, f: &ast::Function) -> R<()> {
        if f.over.is_some() {
            return Err(unsupported(
                "a window function (OVER)",
                f,
                "use plain aggregates; groups come from GROUP BY width_bucket",
            ));
        }
        if let Some(filter) = &f.filter {
            return Err(unsupported("FILTER (WHERE ...)", filter.as_ref(), "filter rows with the query's WHERE"));
        }
        if f.null_treatment.is_some() || f.uses_odbc_syntax || !matches!(f.parameters, FunctionArguments::None) {
            return Err(unsupported("this function call syntax", f, "write name(arguments)"));
        }
        if let FunctionArguments::List(l) = &f.args {
            if l.duplicate_treatment == Some(DuplicateTreatment::Distinct) {
                return Err(unsupported("DISTINCT inside an aggregate", f, "aggregate every row"));
            }
            if !l.clauses.is_empty() {
                return Err(unsupported(
                    "a clause inside the argument list",
                    f,
                    "ordered-set aggregates take WITHIN GROUP (ORDER BY col)",
                ));
            }
        }
        Ok(())
    }

    /// The arguments; `None` for `*`.
    fn args<'f>(&self, f: &'f ast::Function) -> R<Vec<Option<&'f ast::Expr>>> {
        match &f.args {
            FunctionArguments::None => Ok(vec![]),
            FunctionArguments::Subquery(q) => Err(unsupported("a subquery argument", q.as_ref(), "pass a column")),
            FunctionArguments::List(l) => l
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(Some(e)),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok(None),
                    _ => Err(QueryError::Arguments {
                        function: function_name(f),
                        expected: "positional arguments (columns, or * for count)",
                        at: at(f),
                    }),
                })
                .collect(),
        }
    }

    fn select_list(
        &self,
        items: &[SelectItem],
        group_by_ast: &GroupByExpr,
        group_by: Option<&Bucketing>,
    ) -> R<(Vec<Aggregate>, Vec<Output>)> {
        let mut aggregates: Vec<Aggregate> = Vec::new();
        let mut outputs: Vec<Output> = Vec::new();
        for item in items {
            let (e, label) = match item {
                SelectItem::UnnamedExpr(e) => (e, e.to_string()),
                SelectItem::ExprWithAlias { expr, alias } => (expr, ident_name(alias)),
                other => {
                    return Err(unsupported(
                        "`*` or multiple aliases in the select list",
                        other,
                        "list aggregates, e.g. count(*), avg(col)",
                    ));
                }
            };
            let value = self.select_item(e, group_by_ast, group_by, &mut aggregates)?;
            if outputs.iter().any(|o| o.label == label) {
                return Err(QueryError::DuplicateLabel(label));
            }
            outputs.push(Output { label, value });
        }
        if aggregates.is_empty() {
            return Err(QueryError::NoAggregates);
        }
        Ok((aggregates, outputs))
    }

    fn select_item(
        &self,
        e: &ast::Expr,
        group_by_ast: &GroupByExpr,
        group_by: Option<&Bucketing>,
        aggregates: &mut Vec<Aggregate>,
    ) -> R<OutputValue> {
        let f = match e {
            ast::Expr::Nested(inner) => return self.select_item(inner, group_by_ast, group_by, aggregates),
            ast::Expr::Function(f) => f,
            ast::Expr::Subquery(_) => return Err(unsupported("a subquery", e, "list aggregates of this dataset")),
            _ if self.column(e)?.is_some() => {
                return Err(QueryError::NotAggregated { sql: e.to_string(), at: at(e) });
            }
            ast::Expr::BinaryOp { .. } | ast::Expr::UnaryOp { .. } => {
                return Err(unsupported(
                    "arithmetic in the select list",
                    e,
                    "select each aggregate on its own and combine the results",
                ));
            }
            _ => return Err(QueryError::NotAggregated { sql: e.to_string(), at: at(e) }),
        };
        let name = function_name(f);
        if name == "width_bucket" {
            let b = self.bucketing(e)?;
            let gb = match group_by_ast {
                GroupByExpr::Expressions(v, _) => v.first().map(|g| g.to_string()),
                GroupByExpr::All(_) => None,
            };
            return if group_by == Some(&b) {
                Ok(OutputValue::Bucket)
            } else {
                Err(QueryError::BucketMismatch { at: at(e), group_by: gb })
            };
        }
        let agg = self.aggregate(f, &name)?;
        let i = match aggregates.iter().position(|a| *a == agg) {
            Some(i) => i,
            None => {
                aggregates.push(agg);
                aggregates.len() - 1
            }
        };
        Ok(OutputValue::Aggregate(i))
    }

    fn column_arg(&self, f: &ast::Function, a: Option<&ast::Expr>, expected: &'static str) -> R<ColumnId> {
        let bad = || QueryError::Arguments { function: function_name(f), expected, at: at(f) };
        let e = a.ok_or_else(bad)?;
        if let Some(c) = self.column(e)? {
            return Ok(c);
        }
        if Self::is_condition(e) {
            return Err(QueryError::Type { expected: "a column", found: "a condition", at: at(e) });
        }
        if let ast::Expr::Function(g) = e
            && aggregate_name(&function_name(g))
        {
            return Err(unsupported("a nested aggregate", e, "aggregates take a column"));
        }
        Err(unsupported("an expression as an aggregate's argument", e, "pass a column name (filter rows with WHERE)"))
    }

    fn aggregate(&self, f: &ast::Function, name: &str) -> R<Aggregate> {
        self.plain_call(f)?;
        let args = self.args(f)?;
        let ordered_set = matches!(name, "percentile_cont" | "percentile_disc" | "mode");
        if !ordered_set && !f.within_group.is_empty() {
            return Err(unsupported(
                "WITHIN GROUP on this aggregate",
                f,
                "WITHIN GROUP goes with percentile_cont, percentile_disc and mode",
            ));
        }
        const ONE: &str = "one column, e.g. (col)";
        const TWO: &str = "two columns (Y, X), e.g. (y, x)";
        let unary = |op: UnaryAgg| -> R<Aggregate> {
            match args.as_slice() {
                [a] => Ok(Aggregate::Unary(op, self.column_arg(f, *a, ONE)?)),
                _ => Err(QueryError::Arguments { function: name.into(), expected: ONE, at: at(f) }),
            }
        };
        let binary = |op: BinaryAgg| -> R<Aggregate> {
            match args.as_slice() {
                [y, x] => Ok(Aggregate::Binary(op, self.column_arg(f, *y, TWO)?, self.column_arg(f, *x, TWO)?)),
                _ => Err(QueryError::Arguments { function: name.into(), expected: TWO, at: at(f) }),
            }
        };
        let agg = match name {
            "count" => match args.as_slice() {
                [None] => Aggregate::Count,
                [Some(_)] => {
                    self.column_arg(f, args[0], "* or one column")?;
                    Aggregate::Count
                }
                _ => return Err(QueryError::Arguments { function: name.into(), expected: "(*) or (col)", at: at(f) }),
            },
            "sum" => unary(UnaryAgg::Sum)?,
            "avg" => unary(UnaryAgg::Avg)?,
            "min" => unary(UnaryAgg::Min)?,
            "max" => unary(UnaryAgg::Max)?,
            "var_pop" => unary(UnaryAgg::VarPop)?,
            "var_samp" | "variance" => unary(UnaryAgg::VarSamp)?,
            "stddev_pop" => unary(UnaryAgg::StddevPop)?,
            "stddev_samp" | "stddev" => unary(UnaryAgg::StddevSamp)?,
            "geometric_mean" => unary(UnaryAgg::GeometricMean)?,
            "harmonic_mean" => unary(UnaryAgg::HarmonicMean)?,
            "gini" => unary(UnaryAgg::Gini)?,
            "median" => match args.as_slice() {
                [a] => Aggregate::Percentile {
                    kind: PercentileKind::Cont,
                    p: Decimal { units: 5, scale: 1 },
                    column: self.column_arg(f, *a, ONE)?,
                },
                _ => return Err(QueryError::Arguments { function: name.into(), expected: ONE, at: at(f) }),
            },
            "covar_pop" => binary(BinaryAgg::CovarPop)?,
            "covar_samp" => binary(BinaryAgg::CovarSamp)?,
            "corr" => binary(BinaryAgg::Corr)?,
            "regr_slope" => binary(BinaryAgg::RegrSlope)?,
            "regr_intercept" => binary(BinaryAgg::RegrIntercept)?,
            "regr_r2" => binary(BinaryAgg::RegrR2)?,
            "regr_count" => binary(BinaryAgg::RegrCount)?,
            "percentile_cont" | "percentile_disc" | "mode" => {
                let column = self.within_group(f, name)?;
                if name == "mode" {
                    if !args.is_empty() {
                        return Err(QueryError::Arguments {
                            function: name.into(),
                            expected: "no arguments: mode() WITHIN GROUP (ORDER BY col)",
                            at: at(f),
                        });
                    }
                    self.mode_domain(column, f)?;
                    Aggregate::Mode(column)
                } else {
                    const P: &str = "one constant fraction: percentile_cont(0.9) WITHIN GROUP (ORDER BY col)";
                    let [Some(pe)] = args.as_slice() else {
                        return Err(QueryError::Arguments { function: name.into(), expected: P, at: at(f) });
                    };
                    if matches!(pe, ast::Expr::Array(_)) {
                        return Err(unsupported(
                            "an array of fractions",
                            *pe,
                            "write one percentile_cont(p) per fraction",
                        ));
                    }
                    let p = self.constant(pe)?.ok_or_else(|| QueryError::Arguments {
                        function: name.into(),
                        expected: P,
                        at: at(*pe),
                    })?;
                    if p < Decimal::int(0) || p > Decimal::int(1) {
                        return Err(QueryError::PercentileRange { value: p.to_string(), at: at(*pe) });
                    }
                    let kind = if name == "percentile_cont" { PercentileKind::Cont } else { PercentileKind::Disc };
                    Aggregate::Percentile { kind, p, column }
                }
            }
            _ => return Err(QueryError::UnknownFunction { name: name.into(), at: at(f) }),
        };
        self.domain(&agg, f)?;
        Ok(agg)
    }

    fn within_group(&self, f: &ast::Function, name: &str) -> R<ColumnId> {
        let [o] = f.within_group.as_slice() else {
            return Err(QueryError::Arguments {
                function: name.into(),
                expected: "WITHIN GROUP (ORDER BY <one column>)",
                at: at(f),
            });
        };
        if matches!(o.options.sort, Some(OrderBySort::Desc) | Some(OrderBySort::Using(_)))
            || o.options.nulls_first.is_some()
            || o.with_fill.is_some()
        {
            return Err(unsupported(
                "DESC, USING or NULLS in WITHIN GROUP",
                o,
                "order ascending: WITHIN GROUP (ORDER BY col); for a descending percentile use 1 - p",
            ));
        }
        self.column_arg(f, Some(&o.expr), "WITHIN GROUP (ORDER BY <one column>)")
    }

    fn mode_domain(&self, c: ColumnId, f: &ast::Function) -> R<()> {
        let col = &self.schema.columns[c.0];
        let size = match (col.min_units(), col.max_units()) {
            (Some(lo), Some(hi)) => (hi - lo).unsigned_abs() + 1,
            _ => u128::MAX,
        };
        if size > MODE_DOMAIN_LIMIT {
            return Err(QueryError::ModeDomain { column: col.name.clone(), size, limit: MODE_DOMAIN_LIMIT, at: at(f) });
        }
        Ok(())
    }

    fn domain(&self, agg: &Aggregate, f: &ast::Function) -> R<()> {
        let (function, requirement, positive) = match agg {
            Aggregate::Unary(UnaryAgg::GeometricMean, _) => ("geometric_mean", "> 0", true),
            Aggregate::Unary(UnaryAgg::HarmonicMean, _) => ("harmonic_mean", "> 0", true),
            Aggregate::Unary(UnaryAgg::Gini, _) => ("gini", ">= 0", false),
            _ => return Ok(()),
        };
        let c = &self.schema.columns[agg.columns()[0].0];
        let zero = Decimal::int(0);
        if (positive && c.min <= zero) || (!positive && c.min < zero) {
            return Err(QueryError::ColumnDomain {
                function,
                column: c.name.clone(),
                requirement,
                min: c.min.to_string(),
                at: at(f),
            });
        }
        Ok(())
    }
}

/// Refuses expressions nested deeper than [`MAX_DEPTH`], without recursing.
fn depth_ok(root: &ast::Expr, place: &'static str) -> R<()> {
    let mut stack: Vec<(&ast::Expr, usize)> = vec![(root, 1)];
    while let Some((e, d)) = stack.pop() {
        if d > MAX_DEPTH {
            return Err(QueryError::TooDeep { place, limit: MAX_DEPTH });
        }
        match e {
            ast::Expr::BinaryOp { left, right, .. } => {
                stack.push((left, d + 1));
                stack.push((right, d + 1));
            }
            ast::Expr::UnaryOp { expr, .. }
            | ast::Expr::Nested(expr)
            | ast::Expr::IsNull(expr)
            | ast::Expr::IsNotNull(expr)
            | ast::Expr::Cast { expr, .. } => stack.push((expr, d + 1)),
            ast::Expr::Between { expr, low, high, .. } => {
                stack.extend([(expr.as_ref(), d + 1), (low.as_ref(), d + 1), (high.as_ref(), d + 1)]);
            }
            ast::Expr::Array(a) => stack.extend(a.elem.iter().map(|x| (x, d + 1))),
            ast::Expr::Function(f) => {
                if let FunctionArguments::List(l) = &f.args {
                    for a in &l.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                            stack.push((x, d + 1));
                        }
                    }
                }
                stack.extend(f.within_group.iter().map(|o| (&o.expr, d + 1)));
                if let Some(x) = &f.filter {
                    stack.push((x, d + 1));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn function_name(f: &ast::Function) -> String {
    match f.name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => ident_name(i),
        _ => f.name.to_string(),
    }
}

fn aggregate_name(name: &str) -> bool {
    matches!(
        name,
        "count"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "var_pop"
            | "var_samp"
            | "variance"
            | "stddev_pop"
            | "stddev_samp"
            | "stddev"
            | "percentile_cont"
            | "percentile_disc"
            | "mode"
            | "covar_pop"
            | "covar_samp"
            | "corr"
            | "regr_slope"
            | "regr_intercept"
            | "regr_r2"
            | "regr_count"
            | "median"
            | "geometric_mean"
            | "harmonic_mean"
            | "gini"
    )
}
