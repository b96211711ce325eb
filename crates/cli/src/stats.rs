//! `triad stats --csv FILE --sql "..."`: a SQL query over a CSV file, computed by three local
//! party processes over localhost TLS with malicious security (`triad-procs`, as `triad bench
//! engine`), the same executor the network runs (`triad_stats::exec::execute`). This process
//! acts as the data providers: it reads and checks the CSV (before any party starts), deals fresh
//! random replicated sharings of every column and writes each party's two components to a file
//! only that party reads; the parties never see a plaintext value. See docs/protocols/stats.md §6.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::{Deserialize, Serialize};
use triad_mpc::NetParty;
use triad_procs::{ChildCommand, ChildOptions};
use triad_stats::exec::Answer;
use triad_stats::{Aggregate, BinaryAgg, Column, Decimal, OutputValue, PercentileKind, Query, Schema, UnaryAgg};

#[derive(clap::Args)]
pub struct Args {
    /// The dataset: a header row naming the columns, one row per contribution. The dataset is
    /// named after the file's stem (`FROM balances` reads `balances.csv`).
    #[arg(long)]
    csv: PathBuf,
    /// The query (PostgreSQL's dialect; `EXPLAIN <query>` prints the plan instead).
    #[arg(long)]
    sql: String,
    /// A schema file (JSON: {"dataset", "min_cohort", "columns": [{"name", "min", "max",
    /// "decimals"}]}); without it the schema is inferred from the data.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Override the schema's smallest number of contributing rows per result and group.
    #[arg(long)]
    min_cohort: Option<u64>,
    /// Print exactly one JSON object {"columns": [...], "rows": [[...], ...]}.
    #[arg(long)]
    json: bool,
    /// Also compute the plaintext reference, and show it and the difference beside each value.
    #[arg(long)]
    check: bool,
    /// Give up if the parties have not finished after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

/// The hidden child: one party (`triad_procs` appends these).
#[derive(clap::Args)]
pub struct PartyArgs {
    /// This party's id (0, 1, 2).
    #[arg(long)]
    party: u8,
    /// The directory the parent prepared.
    #[arg(long)]
    dir: PathBuf,
}

/// The schema file, and the schema as the plan carries it to the parties.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    /// Defaults to the CSV file's stem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_cohort: Option<u64>,
    columns: Vec<ColumnFile>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnFile {
    name: String,
    min: Number,
    max: Number,
    decimals: u32,
}

/// A bound: a string (exact: "0.01") or a JSON number.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Number {
    Text(String),
    Json(serde_json::Number),
}

impl Number {
    fn decimal(&self, column: &str, which: &str) -> Result<Decimal> {
        let text = match self {
            Number::Text(s) => s.clone(),
            Number::Json(n) => n.to_string(),
        };
        Decimal::parse(&text).with_context(|| format!("schema: column `{column}`: {which}"))
    }
}

impl SchemaFile {
    fn of(schema: &Schema) -> SchemaFile {
        SchemaFile {
            dataset: Some(schema.dataset.clone()),
            min_cohort: Some(schema.min_cohort),
            columns: schema
                .columns
                .iter()
                .map(|c| ColumnFile {
                    name: c.name.clone(),
                    min: Number::Text(c.min.to_string()),
                    max: Number::Text(c.max.to_string()),
                    decimals: c.decimals,
                })
                .collect(),
        }
    }

    fn schema(&self, default_dataset: &str) -> Result<Schema> {
        let columns = self
            .columns
            .iter()
            .map(|c| {
                Ok(Column::new(
                    c.name.clone(),
                    c.min.decimal(&c.name, "min")?,
                    c.max.decimal(&c.name, "max")?,
                    c.decimals,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let dataset = self.dataset.clone().unwrap_or_else(|| default_dataset.to_owned());
        let s = Schema::new(dataset, columns).context("schema")?;
        match self.min_cohort {
            Some(m) => s.with_min_cohort(m).context("schema"),
            None => Ok(s),
        }
    }
}

/// What the parent tells every child (no secret: the shares are in per-party files).
#[derive(Serialize, Deserialize)]
struct Plan {
    schema: SchemaFile,
    sql: String,
    rows: usize,
    inputs: PathBuf,
}

/// A party's outcome: the opened answer, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Outcome {
    Answer { columns: Vec<String>, rows: Vec<Vec<Option<f64>>> },
    Failed(String),
}

/// The dataset's name: the file's stem, folded to lower case.
pub(crate) fn dataset_name(csv: &Path) -> Result<String> {
    let stem = csv.file_stem().and_then(|s| s.to_str()).with_context(|| format!("{}: no file name", csv.display()))?;
    let name = stem.to_lowercase();
    ensure!(
        triad_stats::schema::is_identifier(&name),
        "the dataset is named after the file's stem `{stem}`, which is not a SQL identifier; rename the file \
         (letters a-z, digits and `_`, e.g. `{}.csv`) or name the dataset in a schema file",
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>()
    );
    Ok(name)
}

/// Reads and checks the CSV: every rejection names the line, the field and the column.
fn load(args: &Args) -> Result<triad_stats::csv::Loaded> {
    let text = std::fs::read_to_string(&args.csv).with_context(|| format!("reading {}", args.csv.display()))?;
    let file = args.csv.display();
    let mut loaded = match &args.schema {
        Some(path) => {
            let json = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let dto: SchemaFile =
                serde_json::from_str(&json).with_context(|| format!("{}: not a schema file", path.display()))?;
            let default = match &dto.dataset {
                Some(_) => String::new(),
                None => dataset_name(&args.csv)?,
            };
            let schema = dto.schema(&default).with_context(|| format!("{}", path.display()))?;
            triad_stats::csv::load(&text, schema).with_context(|| format!("{file}"))?
        }
        None => triad_stats::csv::infer(&text, &dataset_name(&args.csv)?).with_context(|| format!("{file}"))?,
    };
    if let Some(m) = args.min_cohort {
        loaded.schema = loaded.schema.clone().with_min_cohort(m).context("--min-cohort")?;
    }
    Ok(loaded)
}

/// `EXPLAIN <query>` → `Some(<query>)`.
fn strip_explain(sql: &str) -> Option<&str> {
    let t = sql.trim_start();
    let (word, rest) = t.split_at(t.find(char::is_whitespace)?);
    word.eq_ignore_ascii_case("explain").then_some(rest)
}

pub fn run(args: Args) -> Result<()> {
    let loaded = load(&args)?;
    let schema = &loaded.schema;
    if let Some(sql) = strip_explain(&args.sql) {
        let query = triad_stats::plan(schema, sql)?;
        print!("{}", explain(schema, &query, loaded.rows.len())?);
        return Ok(());
    }
    let query = triad_stats::plan(schema, &args.sql)?;
    let reference = if args.check {
        let data = triad_stats::Dataset::from_decimals(schema.clone(), &loaded.rows)?;
        Some(Answer::of_reference(&triad_stats::evaluate(&query, &data)?))
    } else {
        None
    };
    let answer = compute(&loaded, &args.sql, args.timeout_secs)?;
    if args.json {
        println!("{}", json(&answer, reference.as_ref()));
    } else {
        print!("{}", triad_stats::format::table(&answer, reference.as_ref()));
    }
    Ok(())
}

/// Deals the columns, runs the three parties, and returns their answer (all three must agree).
fn compute(loaded: &triad_stats::csv::Loaded, sql: &str, timeout_secs: u64) -> Result<Answer> {
    let schema = &loaded.schema;
    let inputs = triad_procs::deal::Inputs::new("stats")?;
    let columns: Vec<Vec<u64>> = (0..schema.columns.len()).map(|c| loaded.column_units(c)).collect();
    inputs.deal("columns", &columns)?;
    let plan = Plan {
        schema: SchemaFile::of(schema),
        sql: sql.to_owned(),
        rows: loaded.rows.len(),
        inputs: inputs.dir().to_path_buf(),
    };
    let outcomes: [Vec<Outcome>; 3] =
        triad_procs::parent("stats", &ChildCommand::current_exe(&["stats-party"])?, &plan, timeout_secs)?;
    drop(inputs);
    agree(outcomes)
}

/// The parties' common answer; an error if any failed or two differ.
fn agree(outcomes: [Vec<Outcome>; 3]) -> Result<Answer> {
    let [a, b, c] = outcomes.map(|mut v| v.pop());
    let (Some(a), Some(b), Some(c)) = (a, b, c) else { bail!("a party returned no outcome") };
    for (i, o) in [&a, &b, &c].into_iter().enumerate() {
        if let Outcome::Failed(m) = o {
            bail!("the query failed (P{i}): {m}");
        }
    }
    ensure!(a == b && b == c, "the three parties opened different answers; none is returned");
    match a {
        Outcome::Answer { columns, rows } => Ok(Answer { columns, rows }),
        Outcome::Failed(m) => Err(anyhow!(m)),
    }
}

/// The hidden subcommand: one party's process.
pub fn party(args: PartyArgs) -> Result<()> {
    triad_procs::child(args.party, args.dir, ChildOptions::default(), party_work)
}

fn party_work(p: &mut NetParty, plan: Plan) -> Result<Vec<Outcome>> {
    let schema = plan.schema.schema("")?;
    let query = triad_stats::plan(&schema, &plan.sql)?;
    let columns = triad_procs::deal::read(&plan.inputs, "columns", p.me().index(), schema.columns.len(), plan.rows)?;
    Ok(vec![match triad_stats::exec::execute(p, &schema, &query, &columns) {
        Ok(a) => Outcome::Answer { columns: a.columns, rows: a.rows },
        Err(e) => Outcome::Failed(e.to_string()),
    }])
}

/// The `--json` object: `columns` and `rows`; with the reference also `reference` and
/// `difference`, arrays parallel to `rows`.
pub(crate) fn json(answer: &Answer, reference: Option<&Answer>) -> serde_json::Value {
    let mut o = serde_json::json!({ "columns": answer.columns, "rows": answer.rows });
    if let Some(r) = reference {
        let diff: Vec<Vec<Option<f64>>> = answer
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(|(j, &v)| {
                        triad_stats::format::difference(v, r.rows.get(i).and_then(|rr| rr.get(j)).copied().flatten())
                    })
                    .collect()
            })
            .collect();
        o["reference"] = serde_json::json!(r.rows);
        o["difference"] = serde_json::json!(diff);
    }
    o
}

/// The plan, until the executor's own EXPLAIN (`triad_stats::exec::explain`, with costs) lands:
/// what is computed, over which rows, grouped how, and what the policy opens.
fn explain(schema: &Schema, q: &Query, rows: usize) -> Result<String> {
    let col = |c: triad_stats::ColumnId| schema.columns.get(c.0).map_or("?", |c| c.name.as_str()).to_owned();
    let mut out = format!(
        "dataset {} ({} rows, columns: {}; min_cohort {})\n",
        schema.dataset,
        rows,
        schema.column_list(),
        schema.min_cohort
    );
    out.push_str("aggregates:\n");
    for (i, a) in q.aggregates.iter().enumerate() {
        let d = match a {
            Aggregate::Count => "count(*)".to_owned(),
            Aggregate::Unary(op, c) => format!("{}({})", unary_name(*op), col(*c)),
            Aggregate::Binary(op, y, x) => format!("{}({}, {})", binary_name(*op), col(*y), col(*x)),
            Aggregate::Percentile { kind, p, column } => format!(
                "percentile_{}({p}) of {}",
                match kind {
                    PercentileKind::Cont => "cont",
                    PercentileKind::Disc => "disc",
                },
                col(*column)
            ),
            Aggregate::Mode(c) => format!("mode() of {}", col(*c)),
        };
        out.push_str(&format!("  #{i} {d}\n"));
    }
    out.push_str("outputs:\n");
    for o in &q.outputs {
        let v = match o.value {
            OutputValue::Bucket => "the bucket number".to_owned(),
            OutputValue::Aggregate(i) => format!("aggregate #{i}"),
        };
        out.push_str(&format!("  {} = {v}\n", o.label));
    }
    out.push_str(&match &q.filter {
        Some(p) => format!("filter: {} (evaluated obliviously: which rows pass stays secret)\n", predicate(schema, p)),
        None => "filter: none\n".to_owned(),
    });
    out.push_str(&match &q.group_by {
        Some(b) => format!(
            "group by: width_bucket({}, ARRAY[{}]): {} buckets\n",
            col(b.column),
            b.edges.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            b.buckets()
        ),
        None => "group by: none (one group)\n".to_owned(),
    });
    let sorted: Vec<String> = q.sorted_columns().into_iter().map(col).collect();
    if !sorted.is_empty() {
        out.push_str(&format!("sorted once each: {}\n", sorted.join(", ")));
    }
    // Costs, what is revealed and the error bounds: a dry run of the executor on placeholder data.
    out.push_str(&triad_stats::exec::explain(schema, q, rows)?.to_string());
    Ok(out)
}

/// A checked filter, as SQL (fully parenthesised).
fn predicate(schema: &Schema, p: &triad_stats::Predicate) -> String {
    use triad_stats::{CmpOp, Predicate};
    match p {
        Predicate::Const(b) => b.to_string().to_uppercase(),
        Predicate::Not(a) => format!("NOT ({})", predicate(schema, a)),
        Predicate::And(a, b) => format!("({}) AND ({})", predicate(schema, a), predicate(schema, b)),
        Predicate::Or(a, b) => format!("({}) OR ({})", predicate(schema, a), predicate(schema, b)),
        Predicate::Compare(a, op, b) => {
            let op = match op {
                CmpOp::Eq => "=",
                CmpOp::Ne => "<>",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
            };
            format!("{} {op} {}", expr(schema, a), expr(schema, b))
        }
    }
}

fn expr(schema: &Schema, e: &triad_stats::Expr) -> String {
    use triad_stats::Expr;
    match e {
        Expr::Column(c) => schema.columns.get(c.0).map_or("?", |c| c.name.as_str()).to_owned(),
        Expr::Const(d) => d.to_string(),
        Expr::Add(a, b) => format!("({} + {})", expr(schema, a), expr(schema, b)),
        Expr::Sub(a, b) => format!("({} - {})", expr(schema, a), expr(schema, b)),
        Expr::Mul(a, b) => format!("({} * {})", expr(schema, a), expr(schema, b)),
        Expr::Neg(a) => format!("-({})", expr(schema, a)),
        Expr::Div(a, c) => format!("({} / {c})", expr(schema, a)),
    }
}

fn unary_name(op: UnaryAgg) -> &'static str {
    match op {
        UnaryAgg::Sum => "sum",
        UnaryAgg::Avg => "avg",
        UnaryAgg::Min => "min",
        UnaryAgg::Max => "max",
        UnaryAgg::VarPop => "var_pop",
        UnaryAgg::VarSamp => "var_samp",
        UnaryAgg::StddevPop => "stddev_pop",
        UnaryAgg::StddevSamp => "stddev_samp",
        UnaryAgg::GeometricMean => "geometric_mean",
        UnaryAgg::HarmonicMean => "harmonic_mean",
        UnaryAgg::Gini => "gini",
    }
}

fn binary_name(op: BinaryAgg) -> &'static str {
    match op {
        BinaryAgg::CovarPop => "covar_pop",
        BinaryAgg::CovarSamp => "covar_samp",
        BinaryAgg::Corr => "corr",
        BinaryAgg::RegrSlope => "regr_slope",
        BinaryAgg::RegrIntercept => "regr_intercept",
        BinaryAgg::RegrR2 => "regr_r2",
        BinaryAgg::RegrCount => "regr_count",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_prefix() {
        assert_eq!(strip_explain("  explain SELECT 1"), Some(" SELECT 1"));
        assert_eq!(strip_explain("EXPLAIN\nSELECT 1"), Some("\nSELECT 1"));
        assert_eq!(strip_explain("SELECT explain"), None);
        assert_eq!(strip_explain("EXPLAINSELECT"), None);
    }

    #[test]
    fn agreement() {
        let ok = Outcome::Answer { columns: vec!["c".into()], rows: vec![vec![Some(1.0)]] };
        let other = Outcome::Answer { columns: vec!["c".into()], rows: vec![vec![Some(2.0)]] };
        assert!(agree([vec![ok.clone()], vec![ok.clone()], vec![ok.clone()]]).is_ok());
        let e = agree([vec![ok.clone()], vec![other], vec![ok.clone()]]).expect_err("differ");
        assert!(e.to_string().contains("different answers"), "{e}");
        let e = agree([vec![ok.clone()], vec![Outcome::Failed("boom".into())], vec![ok]]).expect_err("failed");
        assert_eq!(e.to_string(), "the query failed (P1): boom");
    }

    #[test]
    fn json_with_reference() {
        let a = Answer { columns: vec!["s".into(), "m".into()], rows: vec![vec![Some(3.0), None]] };
        let r = Answer { columns: a.columns.clone(), rows: vec![vec![Some(2.5), None]] };
        assert_eq!(
            json(&a, Some(&r)).to_string(),
            r#"{"columns":["s","m"],"difference":[[0.5,null]],"reference":[[2.5,null]],"rows":[[3.0,null]]}"#
        );
        assert_eq!(json(&a, None).to_string(), r#"{"columns":["s","m"],"rows":[[3.0,null]]}"#);
    }

    #[test]
    fn schema_file_round_trip() {
        let text = r#"{"min_cohort": 3, "columns": [{"name": "x", "min": "-1.5", "max": 100, "decimals": 1}]}"#;
        let dto: SchemaFile = serde_json::from_str(text).expect("parses");
        let s = dto.schema("bal").expect("valid");
        assert_eq!((s.dataset.as_str(), s.min_cohort, s.columns[0].max.to_string()), ("bal", 3, "100".to_owned()));
        assert_eq!(SchemaFile::of(&s).schema("other").expect("valid"), s);
        let bad = r#"{"columns": [{"name": "x", "min": "a", "max": 1, "decimals": 0}]}"#;
        let e = serde_json::from_str::<SchemaFile>(bad).expect("parses").schema("t").expect_err("bad min");
        assert!(format!("{e:#}").contains("column `x`: min"), "{e:#}");
    }
}
